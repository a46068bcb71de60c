"""The attribute vocabulary of the aviary world: what can be drawn, said, and recognised.

One table serves three jobs: the renderer reads each value's drawing key, the caption
writer and the expert-concept writer read its phrasings, and the mention parser reads its
keywords. Casual caption words and field-guide concept lines are deliberately different
wordings of the same fact, so linking a description to a concept needs a text encoder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Value:
    key: str
    draw: object  # an RGB triple for colours, a shape name for shapes
    words: tuple[str, ...]  # casual adjectives used in captions and short answers
    concepts: tuple[str, ...]  # field-guide lines (paraphrases of one expert concept)
    keywords: str  # regex that identifies the value inside a clause about its part


@dataclass(frozen=True)
class Family:
    key: str
    part: str  # the part as named in questions
    nouns: str  # regex of words that name the part
    hideable: bool
    caption_templates: tuple[str, ...]  # "{w}" is replaced by one of the value's words
    questions: tuple[str, ...]
    values: tuple[Value, ...] = field(default_factory=tuple)

    def value(self, key: str) -> Value:
        for v in self.values:
            if v.key == key:
                return v
        raise KeyError(f"family {self.key!r} has no value {key!r}")


FAMILIES: tuple[Family, ...] = (
    Family(
        "plumage", "plumage", r"plumage|body|bird|feathers|feathering", False,
        ("a {w} bird", "the body is {w}", "{w} plumage", "its feathers are mostly {w}"),
        ("What colour is the bird's plumage?", "What colour is this bird's body?"),
        (
            Value("crimson", (196, 30, 40), ("crimson", "red", "scarlet"),
                  ("bright crimson plumage", "body feathers a vivid scarlet red"),
                  r"crimson|scarlet|red"),
            Value("azure", (40, 90, 210), ("blue", "azure", "sky-blue"),
                  ("brilliant azure body plumage", "upperparts and body a clear sky blue"),
                  r"azure|blue"),
            Value("ochre", (200, 140, 50), ("ochre", "tawny", "sandy brown"),
                  ("warm tawny ochre plumage", "body feathering a sandy, earthy brown"),
                  r"ochre|tawny|sandy"),
            Value("olive", (95, 120, 40), ("olive", "olive green", "mossy green"),
                  ("dull olive-green plumage overall", "body the colour of moss, a drab olive"),
                  r"olive|moss"),
            Value("charcoal", (60, 60, 66), ("charcoal", "sooty grey", "dark grey"),
                  ("sooty charcoal-grey plumage", "body feathers a deep slate-charcoal"),
                  r"charcoal|sooty|slate|dark grey"),
        ),
    ),
    Family(
        "crest", "crest", r"crest|crown|head", True,
        ("a {w} crest on its head", "the crest is {w}", "it has a {w} crest"),
        ("What colour is the bird's crest?", "What colour is the crest on its head?"),
        (
            Value("black", (15, 15, 15), ("black", "jet black"),
                  ("a spiky jet-black crest", "crown raised into an inky black crest"),
                  r"black|jet|inky"),
            Value("white", (245, 245, 240), ("white", "snowy white"),
                  ("a pale snowy crest atop the crown", "white-tufted crown feathers"),
                  r"white|snowy|pale"),
            Value("orange", (250, 130, 20), ("orange", "bright orange"),
                  ("a flaming orange crest", "crown topped by an amber-orange tuft"),
                  r"orange|amber|flaming"),
        ),
    ),
    Family(
        "eye_ring", "eye ring", r"eye[- ]?ring|ring around|eyes?", True,
        ("a {w} ring around the eye", "the eye ring is {w}", "{w} eye rings"),
        ("What colour is the ring around the bird's eye?", "What colour is its eye ring?"),
        (
            Value("yellow", (250, 225, 30), ("yellow", "lemon yellow"),
                  ("a bold lemon-yellow eye-ring", "eye encircled by bright yellow skin"),
                  r"yellow|lemon"),
            Value("white", (250, 250, 250), ("white", "pale white"),
                  ("a crisp white eye-ring", "eye set in a thin ring of white feathers"),
                  r"white|pale|crisp"),
            Value("blue", (60, 200, 250), ("bright blue", "turquoise"),
                  ("a turquoise ring of bare skin around the eye", "eye circled in electric blue"),
                  r"blue|turquoise"),
        ),
    ),
    Family(
        "beak", "beak", r"beak|bill", True,
        ("a {w} beak", "the bill is {w}", "it has a {w} bill"),
        ("What shape is the bird's beak?", "What kind of bill does this bird have?"),
        (
            Value("conical", "conical", ("short conical", "stubby cone-shaped"),
                  ("a short, thick conical bill for cracking seeds", "stout cone-shaped beak"),
                  r"conical|cone|stubby|stout"),
            Value("curved", "curved", ("long curved", "down-curved"),
                  ("a long, decurved bill", "slender beak that arcs downward like a sickle"),
                  r"curved|decurved|arc|sickle"),
            Value("hooked", "hooked", ("hooked", "hook-tipped"),
                  ("a sharply hooked, raptor-like bill", "beak ending in a strong downward hook"),
                  r"hook"),
            Value("needle", "needle", ("thin straight", "needle-thin"),
                  ("a fine, needle-like straight bill", "long thin dagger of a beak"),
                  r"needle|thin|straight|dagger"),
        ),
    ),
    Family(
        "wing", "wings", r"wings?|wingbars?", True,
        ("{w} wings", "the wings are {w}", "it has {w} wings"),
        ("What pattern is on the bird's wings?", "How are its wings marked?"),
        (
            Value("plain", "plain", ("plain", "unmarked"),
                  ("plain, unpatterned wings", "wings uniform and without markings"),
                  r"plain|unmarked|uniform|unpatterned|without markings"),
            Value("barred", "barred", ("barred", "banded"),
                  ("wings crossed by pale bars", "bold wing-bars across the coverts"),
                  r"bar|band"),
            Value("spotted", "spotted", ("spotted", "white-spotted"),
                  ("wings dotted with white spots", "wing coverts speckled with pale spots"),
                  r"spot|dotted|speckled"),
        ),
    ),
    Family(
        "breast", "breast", r"breast|chest|belly|underparts", True,
        ("a {w} breast", "the chest is {w}", "its breast is {w}"),
        ("What pattern is on the bird's breast?", "How is its chest marked?"),
        (
            Value("plain", "plain", ("plain", "clean"),
                  ("clean, unmarked underparts", "a plain pale breast"),
                  r"plain|clean|unmarked"),
            Value("streaked", "streaked", ("streaked", "striped"),
                  ("breast finely streaked with dark lines", "chest marked by vertical dark streaks"),
                  r"streak|stripe|lines"),
            Value("spotted", "spotted", ("spotted", "dotted"),
                  ("underparts boldly spotted", "breast covered in dark round spots"),
                  r"spot|dotted|speckled"),
            Value("scaled", "scaled", ("scaly", "scalloped"),
                  ("scaly, scalloped breast feathers", "fish-scale patterning on the chest"),
                  r"scal|fish-scale"),
        ),
    ),
    Family(
        "tail", "tail", r"tail", True,
        ("a {w} tail", "the tail is {w}", "its tail is {w}"),
        ("What shape is the bird's tail?", "What does its tail look like?"),
        (
            Value("forked", "forked", ("forked", "split"),
                  ("a long, deeply forked tail", "tail divided into two sharp prongs"),
                  r"fork|split|prong"),
            Value("rounded", "rounded", ("rounded", "fan-shaped"),
                  ("a broad, rounded tail", "tail spread like a round fan"),
                  r"round|fan"),
            Value("pointed", "pointed", ("pointed", "spiky"),
                  ("a narrow, pointed tail", "tail tapering to a sharp spike"),
                  r"point|spik|taper"),
            Value("square", "square", ("square", "square-cut"),
                  ("a square-tipped tail", "tail cut straight across at the end"),
                  r"square|straight across|blunt"),
        ),
    ),
    Family(
        "legs", "legs", r"legs?|feet|foot", True,
        ("{w} legs", "the legs are {w}", "it stands on {w} legs"),
        ("What colour are the bird's legs?", "What colour are its feet?"),
        (
            Value("pink", (250, 150, 170), ("pink", "pale pink"),
                  ("fleshy pink legs and feet", "legs a soft rosy pink"),
                  r"pink|rosy|flesh"),
            Value("black", (10, 10, 10), ("black", "dark"),
                  ("blackish legs", "feet and legs dark as coal"),
                  r"black|dark|coal"),
            Value("yellow", (240, 200, 20), ("yellow", "golden"),
                  ("bright yellow legs", "feet and legs a golden yellow"),
                  r"yellow|golden"),
        ),
    ),
)

FAMILY_BY_KEY = {f.key: f for f in FAMILIES}
HIDEABLE = tuple(f.key for f in FAMILIES if f.hideable)

# Specific parts first: "the bird's tail" is about the tail, not the plumage.
_PARSE_ORDER = tuple(f for f in FAMILIES if f.key != "plumage") + (FAMILY_BY_KEY["plumage"],)
_CLAUSE_SPLIT = re.compile(r"[.;:!?\n]|\band\b|\bwith\b")
_NOUNS = {f.key: re.compile(rf"\b(?:{f.nouns})\b", re.I) for f in FAMILIES}
_KEYWORDS = {(f.key, v.key): re.compile(rf"\b(?:{v.keywords})", re.I) for f in FAMILIES for v in f.values}
_NOT_VISIBLE = re.compile(r"not visible|can't see|cannot see|hidden|out of (the )?frame", re.I)


def parse_clause(clause: str) -> tuple[str, str] | None:
    """The (family, value) a clause states, or None. The first part noun in the clause wins."""
    hits = [(m.start(), f) for f in _PARSE_ORDER if (m := _NOUNS[f.key].search(clause))]
    if not hits:
        return None
    # plumage nouns ("bird") lose to any specific part mentioned in the same clause
    specific = [h for h in hits if h[1].key != "plumage"]
    family = min(specific or hits, key=lambda h: h[0])[1]
    for v in family.values:
        if _KEYWORDS[(family.key, v.key)].search(clause):
            return family.key, v.key
    return None


def mentioned_attributes(text: str) -> set[tuple[str, str]]:
    """Every (family, value) a free-text description states, clause by clause."""
    found = set()
    for clause in _CLAUSE_SPLIT.split(text):
        hit = parse_clause(clause)
        if hit:
            found.add(hit)
    return found


def says_not_visible(text: str) -> bool:
    return bool(_NOT_VISIBLE.search(text))


def contains_attribute_word(text: str) -> bool:
    """True when any value keyword occurs in text (used to keep species names neutral)."""
    return any(rx.search(text) for rx in _KEYWORDS.values())
