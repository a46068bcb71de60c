"""Which class an answer names: strict (earliest name, longest wins) and the paper's lenient check."""
from __future__ import annotations

import re
from typing import Iterator, Sequence


def normalize(text: str) -> str:
    """Lower case, hyphens and punctuation as spaces: the paper's label-string normalisation."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


class NameMatcher:
    """Class names found as whole word sequences of the normalised answer. Names are looked up by
    their first word, so an answer costs its length, not its length times the class count (CUB's
    200 names made the per-name scan the rejection stage's second cost)."""

    def __init__(self, names: Sequence[str]):
        self.names = [normalize(n) for n in names]
        if len(set(self.names)) != len(self.names):
            raise ValueError("class names collide after normalisation")
        if "" in self.names:
            raise ValueError(f"class name {names[self.names.index('')]!r} has no letter or digit")
        self._by_first: dict[str, list[tuple[list[str], int]]] = {}
        for i in sorted(range(len(self.names)), key=lambda i: -len(self.names[i])):  # longest first
            words = self.names[i].split()
            self._by_first.setdefault(words[0], []).append((words, i))

    def named(self, answer: str) -> Iterator[int]:
        """Every class the answer names, by position; at one position the longest name first."""
        words = normalize(answer).split()
        for at, word in enumerate(words):
            for name, i in self._by_first.get(word, ()):
                if words[at:at + len(name)] == name:
                    yield i

    def predict(self, answer: str) -> int | None:
        """Index of the class named first in the answer; on a tie, the longest name."""
        return next(self.named(answer), None)

    def lenient(self, answer: str, label: int) -> bool:
        """The paper's accuracy: the label string occurs anywhere (several names may be given)."""
        return label in self.named(answer)
