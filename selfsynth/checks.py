"""Checks of a stage's inputs that run before its first output is touched; each error names the
key or file to fix. Why: bad input found late (a sweep encoder after 171 s of selection, a
manifest row without label_name as a bare KeyError) costs the work before it and says nothing useful."""
from __future__ import annotations

from pathlib import Path

from .core.io import read_json
from .core.params import Params, ParamsError
from .dataset.prepared import PreparedDataset
from .method.concepts import validate_concepts


def check_encoders(params: Params, source: str = "params.yaml") -> None:
    """Every encoder select will use exists now (a directory is checked, not loaded)."""
    from .metrics.encoders import EncoderError, make_encoder

    named = [("select.encoder", params.select.encoder),
             *((f"select.sweep.encoders.{i}", e) for i, e in enumerate(params.select.sweep.encoders))]
    for key, name in named:
        try:
            make_encoder(name)
        except EncoderError as e:
            raise ParamsError(f"{source}: {key}: {e}") from None


def check_prompts(params: Params) -> None:
    path = Path("prompts") / f"{params.dataset.name}.yaml"
    if not path.is_file():
        raise ParamsError(f"params.yaml: dataset.name: {params.dataset.name!r} has no prompt file ({path})")


def read_concepts(dataset: PreparedDataset, path: str | Path = "data/concepts.json") -> dict:
    """The label-level concepts, every class present with at least one concept."""
    return validate_concepts(read_json(path), dataset.class_names, str(path))
