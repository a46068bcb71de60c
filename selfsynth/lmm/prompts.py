"""Per-dataset prompts and question pools, kept as data files in prompts/<dataset>.yaml."""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROMPTS_DIR = Path("prompts")  # relative to the project root, where DVC tracks it


class PromptSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    object: str  # what the images show, in the template answers: "The {object} in this image is a ..."
    # the word for a class ("so the {category} is ..."): breed, variant, diagnosis. The one field with
    # a default, so the aviary's prompt file, and every DVC stage that depends on it, stays as it was.
    category: str = "species"
    describe: list[str] = Field(min_length=1)
    identify: str
    simple: list[str] = Field(min_length=1)
    explain: list[str] = Field(min_length=1)
    cot: list[str] = Field(min_length=1)


def load_prompts(dataset: str, directory: Path = PROMPTS_DIR) -> PromptSet:
    path = directory / f"{dataset}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no prompt file for dataset {dataset!r}")
    try:
        return PromptSet.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as e:
        keys = ", ".join(".".join(map(str, err["loc"])) + f" ({err['msg']})" for err in e.errors())
        raise ValueError(f"{path}: {keys}") from None
