"""Evaluate an LMM on the prepared dataset in two steps: the model answers, then scorers, chosen
once by what the dataset offers, add their fields to each answer's row (world truth: the parsed
attributes; a real dataset's concept lists: an embedding judge; an LLM judge on request). Every
aggregate is computed from those rows, so the report can bootstrap any figure over test images."""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..core.params import JudgeLLMParams, OfflineJudgeParams
from ..dataset.prepared import NO_TRUTH, PreparedDataset
from ..lmm.hf import HFGenerator, Sampling
from ..metrics.attributes import attribute_answer_correct, mention_prf
from ..metrics.concept_match import concept_explanation_rows
from ..metrics.explanation import explanation_rows
from ..metrics.fluency import perplexities
from ..metrics.identification import NameMatcher
from ..metrics.llm_judge import judge_explanations
from ..metrics.rows import explain_rows
from ..metrics.wellformed import wellformed_flags

Scorer = Callable[[list[dict], list[str]], list[dict]]  # (test rows, answers) -> one dict of fields per answer


@dataclass
class EvalResult:
    metrics: dict
    predictions: list[dict]


def visible_truth(dataset: PreparedDataset, row: dict) -> set:
    attrs = dataset.labels[row["label"]]["attributes"]
    return {(fam, attrs[fam]) for fam in row["visible"]}


def answer(gen: HFGenerator, dataset: PreparedDataset, rows: list[dict], questions: Sequence[str], sampling: Sampling,
           desc: str) -> list[str]:
    return [a[0] for a in gen.generate([str(dataset.image(r)) for r in rows], list(questions), sampling, desc=desc)]


def mean(scores: list[dict], key: str) -> float:
    return sum(s[key] for s in scores) / len(scores) if scores else 0.0


def identification(matcher: NameMatcher) -> Scorer:
    """Strict (the class named first) and lenient (the paper's: the label named anywhere)."""
    return lambda rows, answers: [{"accuracy": float(matcher.predict(a) == r["label"]),
                                   "accuracy_lenient": float(matcher.lenient(a, r["label"]))}
                                  for r, a in zip(rows, answers)]


def scorers_for(dataset: PreparedDataset, concepts: dict, judge: OfflineJudgeParams, reference_model,
                tokenizer) -> list[Scorer]:
    """Identification, fluency under the untuned model (FS, and FS with class names masked where the
    tokenizer gives offsets), well-formedness (the world's grammar; real data has none) and the
    offline explanation judge: exact on the world, embeddings against the concept lists on real data."""
    world = dataset.has_world_truth

    def fluency(rows, answers):
        fs = perplexities(reference_model, tokenizer, answers)
        masked = (perplexities(reference_model, tokenizer, answers, mask_names=dataset.class_names)
                  if getattr(tokenizer, "is_fast", False) else [None] * len(answers))  # offsets need a fast tokenizer
        return [{"FS": f, **({"FS_masked": m} if m is not None else {})} for f, m in zip(fs, masked)]

    def explanation(rows, answers):
        if world:
            return explanation_rows(answers, [dataset.labels[r["label"]]["attributes"] for r in rows],
                                    [visible_truth(dataset, r) for r in rows])
        return concept_explanation_rows(answers, [r["label"] for r in rows], concepts, encoder=judge.encoder,
                                        threshold=judge.threshold)

    wellformed = lambda rows, answers: wellformed_flags(answers, dataset.class_names if world else None)  # noqa: E731
    return [identification(NameMatcher(dataset.class_names)), fluency, wellformed, explanation]


def aggregate(scores: list[dict], general_ability: float | None) -> dict:
    """A round's figures from its rows: means over answers; grounding is micro-averaged (summed
    grounded over summed cited features), and only the world knows what an image shows."""
    n, cited = len(scores), sum(s["cited"] for s in scores)
    grounded = [s["grounded"] for s in scores if "grounded" in s]
    return {"accuracy": mean(scores, "accuracy"), "accuracy_lenient": mean(scores, "accuracy_lenient"),
            "EE": mean(scores, "EE"), "CS": mean(scores, "CS"),
            "grounding": (sum(grounded) / cited if cited else 0.0) if grounded else None,
            "features_per_answer": cited / n if n else 0.0, "FS": mean(scores, "FS"),
            "FS_masked": mean(scores, "FS_masked") if scores and all("FS_masked" in s for s in scores) else None,
            "well_formed": mean(scores, "well_formed") if scores and scores[0]["well_formed"] is not None else None,
            "repeated_ngram": mean(scores, "repeated_ngram") if scores else None,
            "general_ability": general_ability, "n": n}


def explain_questions(prompts, n: int, seed: int) -> list[str]:
    """The paper's evaluation question: one explain prompt per test image, drawn once per seed."""
    rng = random.Random(f"{seed}/evaluate")
    return [rng.choice(prompts.explain) for _ in range(n)]


def evaluate_method(gen: HFGenerator, dataset: PreparedDataset, rows: list[dict], questions: list[str],
                    scorers: list[Scorer], max_new_tokens: int) -> tuple[dict, list[dict]]:
    """Greedy answers to the explain questions, scored row by row; then the general-ability check.
    Each prediction row carries its own scores (`scores`), so the report can bootstrap over images."""
    answers = answer(gen, dataset, rows, questions, Sampling(max_new_tokens=max_new_tokens), "explain")
    scores = [{} for _ in rows]
    for scorer in scorers:
        for s, fields in zip(scores, scorer(rows, answers), strict=True):
            s.update(fields)
    general = evaluate_general_ability(gen, dataset, max_new_tokens)
    matcher = NameMatcher(dataset.class_names)
    preds = [{"id": r["id"], "question": q, "answer": a, "label": r["label"], "predicted": matcher.predict(a), "scores": s}
             for r, q, a, s in zip(rows, questions, answers, scores)]
    return aggregate(scores, general.metrics["attribute_accuracy"]), preds + general.predictions


def judge_with_llm(metrics: dict, predictions: list[dict], concepts: dict, llm: JudgeLLMParams, cache: Path) -> dict:
    """evaluate.judge llm: EE / CS from the paper's LLM judge on the explain answers, its verdicts
    into their rows; the offline judge's EE / CS are kept under `offline`."""
    explain = explain_rows(predictions)
    verdict = judge_explanations([x["answer"] for x in explain], [x["label"] for x in explain], concepts,
                                 base_url=llm.base_url, model=llm.model, api_key_env=llm.api_key_env, cache_path=cache)
    for row, v in zip(explain, verdict["per_answer"]):
        row["judge"] = {"EE": v["EE"], "CS": v["CS"]}
    return {**metrics, "EE": verdict["EE"], "CS": verdict["CS"],
            "offline": {"EE": metrics["EE"], "CS": metrics["CS"]},
            "llm_judge": {"unparsed": verdict["unparsed"], "requests": verdict["judge"]["requests"]}}


def evaluate_identification(gen: HFGenerator, dataset: PreparedDataset, rows: list[dict], question: str,
                            max_new_tokens: int) -> EvalResult:
    answers = answer(gen, dataset, rows, [question] * len(rows), Sampling(max_new_tokens=max_new_tokens), "identify")
    matcher = NameMatcher(dataset.class_names)
    scores = identification(matcher)(rows, answers)
    preds = [{"id": r["id"], "task": "identify", "question": question, "answer": a, "label": r["label"],
              "predicted": matcher.predict(a)} for r, a in zip(rows, answers)]
    return EvalResult({"accuracy": mean(scores, "accuracy"), "accuracy_lenient": mean(scores, "accuracy_lenient"),
                       "n": len(rows)}, preds)


def evaluate_descriptions(gen: HFGenerator, dataset: PreparedDataset, rows: list[dict], describe: Sequence[str],
                          sampling: Sampling, task: str) -> EvalResult:
    prompts = [describe[i % len(describe)] for i in range(len(rows))]
    answers = answer(gen, dataset, rows, prompts, sampling, task)
    scores = mention_prf(answers, [visible_truth(dataset, r) for r in rows]) if dataset.has_world_truth else {"note": NO_TRUTH}
    preds = [{"id": r["id"], "task": task, "question": q, "answer": a} for r, q, a in zip(rows, prompts, answers)]
    return EvalResult(scores, preds)


def evaluate_general_ability(gen: HFGenerator, dataset: PreparedDataset, max_new_tokens: int) -> EvalResult:
    """The world's attribute questions on held-out generic images: the paper's MMMU check, in miniature.
    None without a generic corpus (an external base model on a real dataset: use lmms-eval)."""
    if not dataset.generic:
        return EvalResult({"attribute_accuracy": None, "n": 0}, [])
    items = [(g, ex) for g in dataset.generic if g["split"] == "test" for ex in g["examples"] if ex["kind"] == "attribute"]
    answers = answer(gen, dataset, [g for g, _ in items], [ex["prompt"] for _, ex in items],
                     Sampling(max_new_tokens=max_new_tokens), "attribute questions")
    correct = [attribute_answer_correct(a, ex["family"], g["attributes"][ex["family"]] if ex["family"] in g["visible"] else None)
               for (g, ex), a in zip(items, answers)]
    preds = [{"id": g["id"], "task": "attribute", "question": ex["prompt"], "answer": a, "reference": ex["answer"],
              "correct": c} for (g, ex), a, c in zip(items, answers, correct)]
    return EvalResult({"attribute_accuracy": sum(correct) / len(correct) if correct else 0.0, "n": len(correct)}, preds)
