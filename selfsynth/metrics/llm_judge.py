"""EE and CS judged by an LLM (the paper used GPT-4o) through an OpenAI-compatible endpoint.

The prompts are data (prompts/judge.yaml): the paper did not publish its own, so ours must be
visible and versioned with the results. A reply that cannot be read counts as unparsed: it is
reported and left out of the means rather than guessed, and a judge that answers nothing
usable gives None, not 0.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from ..lmm.llm_client import CachedChat

JUDGE_PROMPTS = Path("prompts") / "judge.yaml"  # relative to the project root, where DVC tracks it
_FIELDS = {"system": (), "ee": ("{answer}",), "cs": ("{answer}", "{concepts}")}
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_SCORE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?!\.?\d)")


def load_judge_prompts(path: str | Path = JUDGE_PROMPTS) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: judge prompts missing")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with keys {sorted(_FIELDS)}")
    for key, needed in _FIELDS.items():
        text = data.get(key)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}: {key}: missing or not text")
        for ph in needed:
            if ph not in text:
                raise ValueError(f"{path}: {key}: lacks the {ph} placeholder")
    return data


def parse_yes_no(reply: str) -> bool | None:
    m = _YES_NO.search(reply)
    return None if m is None else m.group(1).lower() == "yes"


def parse_score(reply: str) -> float | None:
    """The first number in the reply ('7', 'Score: 7/10', '8.5'), if it lies in 0..10."""
    m = _SCORE.search(reply)
    if m is None:
        return None
    x = float(m.group(1))
    return x if 0 <= x <= 10 else None


def judge_explanations(answers: Sequence[str], labels: Sequence[int | str], concepts_per_label: Mapping[str, dict],
                       *, base_url: str, model: str, api_key_env: str, cache_path: str | Path | None,
                       prompts_path: str | Path = JUDGE_PROMPTS, workers: int = 4) -> dict:
    """labels[i] is the true class id of answers[i]; concepts_per_label is the concepts file
    ({id: {name, visual_features}}). Returns EE (share judged 'yes'), CS (mean score / 10, the
    paper's 0-1 scale), n, unparsed counts, and per-answer verdicts with the raw replies."""
    if len(answers) != len(labels):
        raise ValueError(f"judge: {len(answers)} answers but {len(labels)} labels")
    prompts = load_judge_prompts(prompts_path)
    missing = sorted({str(lab) for lab in labels} - {str(k) for k in concepts_per_label})
    if missing:
        raise ValueError(f"judge: no concepts for label(s) {missing[:10]}")
    system = {"role": "system", "content": prompts["system"].strip()}
    conversations = []
    for answer, lab in zip(answers, labels):
        entry = concepts_per_label[str(lab)]
        fill = dict(label=entry["name"], answer=answer.strip(),
                    concepts="\n".join(f"- {c}" for c in entry["visual_features"]))
        conversations.append([system, {"role": "user", "content": prompts["ee"].format(**fill)}])
        conversations.append([system, {"role": "user", "content": prompts["cs"].format(**fill)}])
    chat = CachedChat(base_url=base_url, model=model, api_key_env=api_key_env, cache_path=cache_path)
    replies = chat.ask_many(conversations, workers=workers)
    per_answer = []
    for i in range(len(answers)):
        ee_reply, cs_reply = replies[2 * i], replies[2 * i + 1]
        per_answer.append({"EE": parse_yes_no(ee_reply), "CS": parse_score(cs_reply),
                           "ee_reply": ee_reply, "cs_reply": cs_reply})
    ee = [p["EE"] for p in per_answer if p["EE"] is not None]
    cs = [p["CS"] for p in per_answer if p["CS"] is not None]
    return {"EE": sum(ee) / len(ee) if ee else None, "CS": sum(cs) / len(cs) / 10 if cs else None,
            "n": len(answers), "unparsed": {"EE": len(answers) - len(ee), "CS": len(answers) - len(cs)},
            "judge": {"model": model, "base_url": base_url, "requests": chat.calls},
            "per_answer": per_answer}
