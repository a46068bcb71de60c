"""Can the testbed see what the paper's claims need? The world's Bayes ceiling and linear probes of
the frozen base tower, computed from the world's truth.

The tower is frozen and shared by every method, so what it cannot see no supervision can teach:
if a linear probe on the tower reads species no better than the methods do, the methods' accuracy
measures the tower, not the method.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ..dataset.images import load_rgb
from ..world.attributes import FAMILIES

HIDDEN = "hidden"
MAX_FEATURES = 8192


def consistent_species(labels: list[dict], shown: dict[str, str]) -> list[int]:
    """Species whose attributes agree with every shown part (family -> value)."""
    return [lab["id"] for lab in labels if all(lab["attributes"][f] == v for f, v in shown.items())]


def best_matching(labels: list[dict], shown: dict[str, str]) -> list[int]:
    """The species that agree with the most shown parts (all consistent ones when any are)."""
    agree = [sum(lab["attributes"][f] == v for f, v in shown.items()) for lab in labels]
    top = max(agree)
    return [lab["id"] for lab, a in zip(labels, agree) if a == top]


def bayes_ceiling(labels: list[dict], rows: list[dict]) -> float:
    """Accuracy of a perfect perceiver that guesses uniformly among the species its image allows:
    the best any method can score from what the images show (1.0 when nothing is hidden)."""
    by_id = {lab["id"]: lab for lab in labels}
    scores = []
    for r in rows:
        truth = by_id[int(r["label"])]["attributes"]
        allowed = consistent_species(labels, {f: truth[f] for f in r["visible"]})
        scores.append(1.0 / len(allowed))
    return float(np.mean(scores)) if scores else float("nan")


@torch.no_grad()
def tower_features(tower, image_processor, paths: list, batch_size: int = 128) -> np.ndarray:
    """Every token the tower hands the projector, flattened: what the decoder is shown of an image.
    A large tower (llava-1.5's 577 x 1024) gives its first token and the mean of the rest instead,
    so that the probes stay a few thousand features wide."""
    out = []
    param = next(tower.parameters())
    for i in range(0, len(paths), batch_size):
        images = [load_rgb(p) for p in paths[i:i + batch_size]]
        pixels = image_processor(images=images, return_tensors="pt")["pixel_values"].to(param.device, param.dtype)
        hidden = tower(pixel_values=pixels).last_hidden_state
        if hidden.shape[1] * hidden.shape[2] > MAX_FEATURES:
            hidden = torch.cat([hidden[:, :1], hidden[:, 1:].mean(1, keepdim=True)], dim=1)
        out.append(hidden.flatten(1).float().cpu().numpy())
    return np.concatenate(out)


def _probe(x_train, y_train, seed: int):
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(C=0.1, max_iter=500, random_state=seed).fit(scaler.transform(x_train), y_train)
    return lambda x: clf.predict(scaler.transform(x))


def part_targets(rows: list[dict], family: str) -> np.ndarray:
    return np.array([r["attributes"][family] if family in r["visible"] else HIDDEN for r in rows])


def with_attributes(labels: list[dict], rows: list[dict]) -> list[dict]:
    """Class-image rows with their species' attributes (the manifest records only which parts show)."""
    return [{**r, "attributes": labels[int(r["label"])]["attributes"]} for r in rows]


def attribute_probes(x_generic_train, generic_train, x_generic_test, generic_test, seed: int):
    """Per family, a linear probe trained on the generic corpus (never a species label); returns the
    accuracy on the held-out rows' visible parts and the fitted predictors. The stage holds out the
    study's class images (1,120 on the default world, ~780 visible per part), which the tower never
    trained on: the corpus's 200 test images gave ~130 per part, a standard error of 0.03 at 0.9, and
    the check takes the minimum over 8 families, which such noise biases low."""
    accuracy, predictors = {}, {}
    for fam in FAMILIES:
        predict = _probe(x_generic_train, part_targets(generic_train, fam.key), seed)
        truth = part_targets(generic_test, fam.key)
        visible = truth != HIDDEN
        accuracy[fam.key] = float((predict(x_generic_test)[visible] == truth[visible]).mean()) if visible.any() else float("nan")
        predictors[fam.key] = predict
    return accuracy, predictors


def attributes_to_species(labels: list[dict], predictors: dict, x_test, test_rows: list[dict]) -> float:
    """Identification with no species training at all: the probed parts, matched to the field guide
    (uniform among the best-matching species)."""
    predicted = {f: p(x_test) for f, p in predictors.items()}
    scores = []
    for i, r in enumerate(test_rows):
        shown = {f: v[i] for f, v in predicted.items() if v[i] != HIDDEN}
        best = best_matching(labels, shown)
        scores.append((int(r["label"]) in best) / len(best))
    return float(np.mean(scores)) if scores else float("nan")


def species_probe(x_train, train_rows, x_test, test_rows, seed: int) -> float:
    """A linear species probe trained on the training images: what a decoder could read at best
    from the frozen tower if it were trained on labels alone."""
    predict = _probe(x_train, np.array([int(r["label"]) for r in train_rows]), seed)
    return float((predict(x_test) == np.array([int(r["label"]) for r in test_rows])).mean())
