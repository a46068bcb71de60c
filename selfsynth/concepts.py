"""Label-level concepts Z, stored as the authors' {class id: {"name", "visual_features"}} JSON."""
from __future__ import annotations

from typing import Sequence


class ConceptsError(ValueError):
    pass


def concepts_from_world(labels: list[dict]) -> dict:
    return {str(lab["id"]): {"name": lab["name"], "visual_features": list(lab["concepts"].values())}
            for lab in labels}


def validate_concepts(concepts: dict, class_names: Sequence[str], source: str) -> dict:
    """Every class needs a name and at least one concept; a gap stops here, named."""
    for i, name in enumerate(class_names):
        entry = concepts.get(str(i))
        if entry is None:
            raise ConceptsError(f"{source}: class {i} ({name!r}) has no entry")
        feats = entry.get("visual_features")
        if not isinstance(feats, list) or not [f for f in feats if isinstance(f, str) and f.strip()]:
            raise ConceptsError(f"{source}: class {i} ({name!r}) has no visual_features")
    return concepts
