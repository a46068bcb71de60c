"""Is an explanation well formed? Measured offline against the world's grammar, beside EE / CS.

EE and CS reward any parsable feature, so a garbled answer ("crimson plumage crest crest the the")
can still score. Two per-answer checks say whether the text itself is sound:
  well_formed     every clause (sentence or ;-part) names a class or states a (part, value) (or says
                  a part is not visible): the world's grammar knows every valid clause, so anything
                  else is noise. Clauses are not split at "and" / "with" / commas as the mention
                  parser does: concept lines contain them ("fleshy pink legs and feet").
                  Only on the aviary (a real dataset has no grammar): None there.
  repeated_ngram  some word n-gram (default 3) occurs twice: the degenerate looping of an
                  under-trained model. Works on any dataset.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from ..world.attributes import FAMILIES, parse_clause, says_not_visible
from .identification import NameMatcher, normalize

# statement boundaries; not the colon ("First, the features: a, b and c" is one statement)
_CLAUSE_SPLIT = re.compile(r"[.;!?\n]")
_PART_NOUNS = re.compile("|".join(rf"\b(?:{f.nouns})\b" for f in FAMILIES), re.I)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def answer_clauses(answer: str) -> list[str]:
    return [c.strip() for c in _CLAUSE_SPLIT.split(answer) if re.search(r"\w", c)]


def clause_parses(clause: str, matcher: NameMatcher) -> bool:
    """A clause is grammatical in the world when it names a class, states a (part, value), or says
    that a named part is not visible."""
    if matcher.predict(clause) is not None or parse_clause(clause) is not None:
        return True
    return says_not_visible(clause) and bool(_PART_NOUNS.search(clause))


def is_well_formed(answer: str, matcher: NameMatcher) -> bool:
    """Every clause parses; an empty answer is not well formed."""
    cs = answer_clauses(answer)
    return bool(cs) and all(clause_parses(c, matcher) for c in cs)


def has_repeated_ngram(answer: str, n: int = 3) -> bool:
    words = _WORD.findall(normalize(answer))
    grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return any(k > 1 for k in grams.values())


def wellformed_flags(answers: Sequence[str], class_names: Sequence[str] | None, n: int = 3) -> list[dict]:
    """Per answer: {'well_formed': bool | None, 'repeated_ngram': bool}; class_names None = no grammar."""
    matcher = NameMatcher(class_names) if class_names is not None else None
    return [{"well_formed": is_well_formed(a, matcher) if matcher is not None else None,
             "repeated_ngram": has_repeated_ngram(a, n)} for a in answers]

