"""params.yaml through one typed schema: a wrong key stops the stage with its dotted name."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetParams(Strict):
    name: Literal["aviary"] = "aviary"


class WorldSize(Strict):
    n_genera: int = Field(ge=1)
    species_per_genus: int = Field(ge=1)
    train_per_class: int = Field(ge=1)
    test_per_class: int = Field(ge=1)
    generic_train: int = Field(ge=1)
    generic_test: int = Field(ge=1)


WORLD_SIZES = {
    "micro": WorldSize(n_genera=2, species_per_genus=2, train_per_class=4, test_per_class=3,
                       generic_train=96, generic_test=24),
    "default": WorldSize(n_genera=4, species_per_genus=4, train_per_class=30, test_per_class=10,
                         generic_train=4000, generic_test=200),
}


class WorldParams(Strict):
    size: Literal["micro", "default"] = "default"
    image_size: int = Field(64, ge=32, le=336)
    hide_prob: float = Field(0.3, ge=0.0, lt=1.0)
    noise: float = Field(0.03, ge=0.0, le=0.5)

    @property
    def counts(self) -> WorldSize:
        return WORLD_SIZES[self.size]


class VisionParams(Strict):
    hidden_size: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    patch_size: int = Field(8, ge=2)


class TextParams(Strict):
    hidden_size: int = Field(128, ge=8)
    intermediate_size: int = Field(384, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    vocab_size: int = Field(1200, ge=300)


class TrainParams(Strict):
    epochs: float = Field(3, gt=0)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)


class BaseParams(Strict):
    model_dir: str = ""  # a local HF LLaVA directory; empty: pretrain the tiny world model
    vision: VisionParams = VisionParams()
    text: TextParams = TextParams()
    train: TrainParams = TrainParams()


class GenerationParams(Strict):
    batch_size: int = Field(32, ge=1)
    max_new_tokens: int = Field(64, ge=1)


class EvalBaseParams(Strict):
    max_images: int = Field(400, ge=1)
    generation: GenerationParams = GenerationParams()


class TrackingParams(Strict):
    uri: str = "sqlite:///mlflow.db"  # MLFLOW_TRACKING_URI overrides
    experiment: str = ""  # empty: the dataset name


class Params(Strict):
    seed: int = 0
    dataset: DatasetParams = DatasetParams()
    world: WorldParams = WorldParams()
    base: BaseParams = BaseParams()
    eval_base: EvalBaseParams = EvalBaseParams()
    tracking: TrackingParams = TrackingParams()


class ParamsError(ValueError):
    pass


def parse_params(raw: dict, source: str = "params.yaml") -> Params:
    try:
        return Params.model_validate(raw or {})
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]) or "<root>"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{source}: {key}: {msg}")
        raise ParamsError("\n".join(lines)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of keys")
    return parse_params(raw, str(path))
