"""Which class an answer names: strict (earliest name, longest wins) and the paper's lenient check."""
from __future__ import annotations

import re
from typing import Sequence


def normalize(text: str) -> str:
    """Lower case, hyphens and punctuation as spaces: the paper's label-string normalisation."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


class NameMatcher:
    def __init__(self, names: Sequence[str]):
        self.names = [normalize(n) for n in names]
        if len(set(self.names)) != len(self.names):
            raise ValueError("class names collide after normalisation")
        self._patterns = [re.compile(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])") for n in self.names]

    def predict(self, answer: str) -> int | None:
        """Index of the class named first in the answer; on a tie, the longest name."""
        text = normalize(answer)
        best = None
        for i, rx in enumerate(self._patterns):
            m = rx.search(text)
            if m and (best is None or (m.start(), -len(self.names[i])) < (best[0], -len(self.names[best[1]]))):
                best = (m.start(), i)
        return None if best is None else best[1]

    def lenient(self, answer: str, label: int) -> bool:
        """The paper's accuracy: the label string occurs anywhere (several names may be given)."""
        return bool(self._patterns[label].search(normalize(answer)))

