"""Step 0, label-level concepts Z per class (docs/method.md, step 0), from the source that
params.concepts.source names: the aviary's field guide, a JSON file, CUB's attribute annotations,
or an OpenAI-compatible LLM.

Every source returns the authors' format {"<class index>": {"name", "visual_features"}}, keyed by
the position of the class in `class_names` (the pipeline's label ids), and passes
validate_concepts, so a class left without concepts stops here, by name.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from ..core.errors import InputError
from ..core.io import read_json
from ..core.params import Params
from ..lmm.llm_client import CachedChat

# The authors' step-0 prompt (sycny/SelfSynthX, src/step0_gen_concepts.py), with " {domain}"
# added after the name to disambiguate ("Cardinal bird", "A380 aircraft"); domain="" gives
# their user prompt word for word.
CONCEPT_SYSTEM = ("You are an AI specialized in providing accurate and detailed descriptions of visual "
                  "features for various objects.")
CONCEPT_PROMPT = ("List distinctive visual features of the {name} {domain} comprehensively, in a "
                  "bullet-point format without any additional text.")

# CUB: an attribute belongs to a class when at least half of the class's images show it (the
# class-level majority vote of Koh et al.'s concept bottleneck models on the same annotations);
# the strongest `max_per_class` are kept, about as many as an LLM lists per class.
CUB_THRESHOLD = 50.0
CUB_MAX_PER_CLASS = 15


class ConceptsError(ValueError, InputError):
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


def normalize_name(name: str) -> str:
    """'001.Black_footed_Albatross' and 'black-footed albatross' compare equal."""
    name = re.sub(r"^\s*\d+\.", "", str(name))
    return " ".join(re.sub(r"[_\-]+", " ", name).lower().split())


def _clean_features(feats, where: str) -> list[str]:
    if not isinstance(feats, list) or not all(isinstance(f, str) for f in feats):
        raise ConceptsError(f"{where}: visual_features must be a list of strings, got {type(feats).__name__}")
    out = [f.strip() for f in feats if f.strip()]
    if not out:
        raise ConceptsError(f"{where}: visual_features is empty")
    return out


# ---------------------------------------------------------------- JSON file (the authors' format)

def concepts_from_json(path: str | Path, class_names: Sequence[str]) -> dict:
    """Read {id: {name, visual_features}}; an entry is taken by id when its name agrees (or it has
    none), else by name. Why not id alone: the authors number classes from 1 in set order, so
    their ids do not line up with ours, and a silent id match would swap concepts between classes."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise ConceptsError(f"{path}: expected a JSON object {{id: {{name, visual_features}}}}, "
                            f"got {type(data).__name__}")
    by_name: dict[str, list[str]] = {}
    for key, entry in data.items():
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            by_name.setdefault(normalize_name(entry["name"]), []).append(key)
    out = {}
    for i, cname in enumerate(class_names):
        where = f"{path}: class {i} ({cname!r})"
        want = normalize_name(cname)
        by_id = data.get(str(i))
        if isinstance(by_id, dict) and (by_id.get("name") is None or normalize_name(by_id["name"]) == want):
            key = str(i)
        elif want in by_name:
            if len(by_name[want]) > 1:
                raise ConceptsError(f"{where}: several entries carry this name (ids {by_name[want]})")
            key = by_name[want][0]
        elif by_id is not None and not isinstance(by_id, dict):
            raise ConceptsError(f"{where}: entry {str(i)!r} is not an object with visual_features")
        elif by_id is not None:
            raise ConceptsError(f"{where}: entry {str(i)!r} is named {by_id.get('name')!r} and no entry "
                                f"is named {cname!r}")
        else:
            raise ConceptsError(f"{where}: no entry with this id or name")
        out[str(i)] = {"name": cname,
                       "visual_features": _clean_features(data[key].get("visual_features"), f"{where}, entry {key!r}")}
    return validate_concepts(out, class_names, str(path))


# ---------------------------------------------------------------- CUB-200-2011 attribute annotations

_PARTS = {"wing": "wings", "eye": "eyes", "leg": "legs", "upper_tail": "upper tail", "under_tail": "undertail"}
_HEAD_PATTERNS = {"malar": "malar stripe", "crested": "crested head", "masked": "masked face",
                  "unique_pattern": "uniquely patterned head", "eyebrow": "eyebrow stripe", "eyering": "eye ring",
                  "eyeline": "eye line", "capped": "capped head"}
_BILL_SHAPES = {"curved_(up_or_down)": "curved bill", "hooked": "hooked bill", "needle": "needle-like bill",
                "hooked_seabird": "hooked seabird bill", "spatulate": "spatulate bill",
                "all-purpose": "all-purpose bill", "specialized": "specialized bill"}
_BILL_LENGTHS = {"about_the_same_as_head": "bill about as long as the head",
                 "longer_than_head": "bill longer than the head", "shorter_than_head": "bill shorter than the head"}


def _words(s: str) -> str:
    return " ".join(s.replace("_", " ").split())


def _part(group: str, suffix: str) -> str:
    part = group[: -len(suffix)]
    return _PARTS.get(part, _words(part))


def _size(v: str) -> str:
    m = re.match(r"^(.*?)\s*\((.*)\)$", v)
    return f"{m.group(1)} body size ({m.group(2)})" if m else f"{v} body size"


# group -> phrase from (raw value, value in words); anything else: "<group words>: <value>"
_RULES = {
    "primary_color": lambda raw, v: f"mostly {v} plumage",
    "head_pattern": lambda raw, v: _HEAD_PATTERNS.get(raw, f"{v} head"),
    "bill_shape": lambda raw, v: _BILL_SHAPES.get(raw, f"{v}-shaped bill"),
    "bill_length": lambda raw, v: _BILL_LENGTHS.get(raw, f"bill length: {v}"),
    "tail_shape": lambda raw, v: v if "tail" in v else f"{v} tail",
    "wing_shape": lambda raw, v: v.replace("-", " ") if "wing" in v else f"{v} wings",
    "size": lambda raw, v: _size(v),
    "shape": lambda raw, v: f"{v} body shape",
}


def attribute_phrase(attribute: str) -> str:
    """'has_bill_shape::dagger' -> 'dagger-shaped bill', 'has_wing_color::blue' -> 'blue wings'."""
    group, sep, raw = attribute.partition("::")
    if not sep:
        return _words(attribute)
    group = group.removeprefix("has_")
    v = _words(raw)
    if group in _RULES:
        return _RULES[group](raw, v)
    if group.endswith("_color"):
        return f"{v} {_part(group, '_color')}"
    if group.endswith("_pattern"):
        return f"{'solid-colored' if raw == 'solid' else v} {_part(group, '_pattern')}"
    return f"{_words(group)}: {v}"


def _read_numbered(path: Path) -> list[str]:
    """'<1-based id> <text>' lines, ids consecutive: the text in id order."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(out) + 1:
            raise ConceptsError(f"{path}:{n}: expected '<id> <name>' with id {len(out) + 1}, got {line.strip()!r}")
        out.append(parts[1].strip())
    if not out:
        raise ConceptsError(f"{path}: empty")
    return out


def _attribute_file(root: Path) -> Path:
    # the CUB archive puts attributes.txt beside CUB_200_2011/; copies often move it inside
    for p in (root / "attributes.txt", root / "attributes" / "attributes.txt", root.parent / "attributes.txt"):
        if p.is_file():
            return p
    raise ConceptsError(f"{root}: no attributes.txt (looked in {root}, {root / 'attributes'} and {root.parent})")


def _class_rows(root: Path, class_names: Sequence[str], n_rows: int, matrix: Path) -> list[int]:
    """Row of the continuous matrix for each class: classes.txt order, matched by name."""
    classes = root / "classes.txt"
    if not classes.is_file():
        if n_rows != len(class_names):
            raise ConceptsError(f"{matrix}: {n_rows} rows for {len(class_names)} classes, and no {classes} "
                                "to match them by name")
        return list(range(n_rows))
    names = _read_numbered(classes)
    if len(names) != n_rows:
        raise ConceptsError(f"{matrix}: {n_rows} rows but {classes} lists {len(names)} classes")
    index = {normalize_name(n): r for r, n in enumerate(names)}
    rows = []
    for i, cname in enumerate(class_names):
        if normalize_name(cname) not in index:
            raise ConceptsError(f"{classes}: class {i} ({cname!r}) is not listed")
        rows.append(index[normalize_name(cname)])
    return rows


def concepts_from_cub_attributes(cub_root: str | Path, class_names: Sequence[str], threshold: float = CUB_THRESHOLD,
                                 max_per_class: int = CUB_MAX_PER_CLASS) -> dict:
    """Per class, the attributes shown in >= threshold percent of its images, strongest first, as
    readable phrases. A class with none stops with its highest percentage, so the fix is obvious."""
    root = Path(cub_root)
    names = _read_numbered(_attribute_file(root))
    matrix = root / "attributes" / "class_attribute_labels_continuous.txt"
    if not matrix.is_file():
        raise ConceptsError(f"{matrix}: missing (CUB-200-2011 class attribute percentages)")
    table = []
    for n, line in enumerate(matrix.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = [float(x) for x in line.split()]
        except ValueError:
            raise ConceptsError(f"{matrix}:{n}: not a row of numbers") from None
        if len(row) != len(names):
            raise ConceptsError(f"{matrix}:{n}: {len(row)} columns, but there are {len(names)} attributes")
        table.append(row)
    phrases = [attribute_phrase(a) for a in names]
    out = {}
    for i, (cname, r) in enumerate(zip(class_names, _class_rows(root, class_names, len(table), matrix))):
        ranked = sorted((-pct, j) for j, pct in enumerate(table[r]) if pct >= threshold)
        feats = list(dict.fromkeys(phrases[j] for _, j in ranked))[:max_per_class]
        if not feats:
            raise ConceptsError(f"{matrix}: class {i} ({cname!r}) has no attribute in >= {threshold}% of its "
                                f"images (highest {max(table[r]):.1f}%); lower the threshold")
        out[str(i)] = {"name": cname, "visual_features": feats}
    return validate_concepts(out, class_names, str(matrix))


# ---------------------------------------------------------------- an OpenAI-compatible LLM

_BULLET = re.compile(r"^\s*(?:[-*•‣▪●]|\d+[.)])\s+(.*\S)\s*$")


def parse_bullets(reply: str) -> list[str]:
    """Bullet lines ('- ', '* ', '• ', '1. ', '1) ') as features: markdown bold dropped, trailing
    periods stripped, bare section headers ('**Head:**') skipped, duplicates removed."""
    feats = []
    for line in reply.splitlines():
        m = _BULLET.match(line)
        if not m:
            continue
        text = m.group(1).replace("**", "").replace("__", "").strip().rstrip(".").strip()
        if text and not text.endswith(":"):
            feats.append(text)
    return list(dict.fromkeys(feats))


def concept_messages(name: str, domain: str, prompt_template: str | None = None) -> list[dict]:
    prompt = (prompt_template or CONCEPT_PROMPT).format(name=name, domain=domain)
    prompt = re.sub(r" {2,}", " ", prompt).replace(" ,", ",")
    return [{"role": "system", "content": CONCEPT_SYSTEM}, {"role": "user", "content": prompt}]


def concepts_from_llm(class_names: Sequence[str], *, base_url: str, model: str, api_key_env: str, domain: str,
                      cache_path: str | Path | None, prompt_template: str | None = None,
                      temperature: float = 0.0, workers: int = 4) -> dict:
    """One call per class with the authors' concept prompt (prompt_template may use {name} and
    {domain}); replies cached in cache_path, so a rerun makes no calls. Nothing is returned unless
    every class parsed; a reply without bullets is dropped from the cache so a rerun asks again."""
    chat = CachedChat(base_url=base_url, model=model, api_key_env=api_key_env, cache_path=cache_path,
                      temperature=temperature)
    conversations = [concept_messages(n, domain, prompt_template) for n in class_names]
    replies = chat.ask_many(conversations, workers=workers)
    out = {}
    for i, (cname, msgs, reply) in enumerate(zip(class_names, conversations, replies)):
        feats = parse_bullets(reply)
        if not feats:
            chat.forget(msgs)
            raise ConceptsError(f"LLM {model!r} at {base_url}: class {i} ({cname!r}): no bullet points in the "
                                f"reply, which starts {reply[:200]!r}")
        out[str(i)] = {"name": cname, "visual_features": feats}
    return validate_concepts(out, class_names, f"LLM {model!r} at {base_url}")


def load_concepts(params: Params, labels: list[dict], llm_cache: Path) -> tuple[dict, str]:
    """The concepts and a name for their source (used in error messages); LLM replies are cached
    in `llm_cache`, so a rerun makes no calls."""
    c = params.concepts
    names = [lab["name"] for lab in labels]
    if c.source == "world":
        return concepts_from_world(labels), "world field guide"
    if c.source == "json":
        return concepts_from_json(c.path, names), c.path
    if c.source == "cub_attributes":
        return (concepts_from_cub_attributes(params.dataset.root, names, c.threshold, c.max_per_class),
                f"CUB attributes at {params.dataset.root}")
    if c.source == "llm":
        return (concepts_from_llm(names, base_url=c.llm.base_url, model=c.llm.model, api_key_env=c.llm.api_key_env,
                                  domain=c.llm.domain, cache_path=llm_cache),
                f"LLM {c.llm.model!r} at {c.llm.base_url}")
    raise ValueError(f"params.yaml: concepts.source: unknown source {c.source!r}")
