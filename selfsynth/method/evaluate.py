"""Evaluate an LMM on the prepared dataset: does it identify, does it describe what is there,
does it still answer the world's attribute questions (general ability). On a real dataset the
scores that need per-image truth are skipped or judged against the concept lists instead."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from ..core.params import OfflineJudgeParams
from ..dataset.prepared import NO_TRUTH, PreparedDataset
from ..lmm.hf import HFGenerator, Sampling
from ..metrics.attributes import attribute_answer_correct, mention_prf
from ..metrics.concept_match import concept_explanation_scores
from ..metrics.explanation import explanation_scores
from ..metrics.fluency import perplexities
from ..metrics.identification import NameMatcher, identification_scores
from ..metrics.rows import explanation_rows
from ..metrics.wellformed import wellformed_flags, wellformed_scores


@dataclass
class EvalResult:
    metrics: dict
    predictions: list[dict]


def visible_truth(dataset: PreparedDataset, row: dict) -> set:
    attrs = dataset.labels[row["label"]]["attributes"]
    return {(fam, attrs[fam]) for fam in row["visible"]}


def evaluate_identification(gen: HFGenerator, dataset: PreparedDataset, rows: list[dict], question: str,
                            max_new_tokens: int) -> EvalResult:
    answers = [a[0] for a in gen.generate([str(dataset.image(r)) for r in rows], [question] * len(rows),
                                          Sampling(max_new_tokens=max_new_tokens), desc="identify")]
    matcher = NameMatcher(dataset.class_names)
    scores = identification_scores(matcher, answers, [r["label"] for r in rows])
    preds = [{"id": r["id"], "task": "identify", "question": question, "answer": a, "label": r["label"],
              "predicted": matcher.predict(a)} for r, a in zip(rows, answers)]
    return EvalResult(scores, preds)


def evaluate_descriptions(gen: HFGenerator, dataset: PreparedDataset, rows: list[dict], describe: Sequence[str],
                          sampling: Sampling, task: str) -> EvalResult:
    prompts = [describe[i % len(describe)] for i in range(len(rows))]
    answers = [a[0] for a in gen.generate([str(dataset.image(r)) for r in rows], prompts, sampling, desc=task)]
    scores = mention_prf(answers, [visible_truth(dataset, r) for r in rows]) if dataset.has_world_truth else {"note": NO_TRUTH}
    preds = [{"id": r["id"], "task": task, "question": q, "answer": a} for r, q, a in zip(rows, prompts, answers)]
    return EvalResult(scores, preds)


def evaluate_general_ability(gen: HFGenerator, dataset: PreparedDataset, max_new_tokens: int) -> EvalResult:
    """The world's attribute questions on held-out generic images: the paper's MMMU check, in miniature.
    None without a generic corpus (an external base model on a real dataset: use lmms-eval)."""
    if not dataset.generic:
        return EvalResult({"attribute_accuracy": None, "n": 0}, [])
    items = [(g, ex) for g in dataset.generic if g["split"] == "test" for ex in g["examples"] if ex["kind"] == "attribute"]
    answers = [a[0] for a in gen.generate([str(dataset.image(g)) for g, _ in items], [ex["prompt"] for _, ex in items],
                                          Sampling(max_new_tokens=max_new_tokens), desc="attribute questions")]
    correct = [attribute_answer_correct(a, ex["family"], g["attributes"][ex["family"]] if ex["family"] in g["visible"] else None)
               for (g, ex), a in zip(items, answers)]
    preds = [{"id": g["id"], "task": "attribute", "question": ex["prompt"], "answer": a, "reference": ex["answer"],
              "correct": c} for (g, ex), a, c in zip(items, answers, correct)]
    return EvalResult({"attribute_accuracy": sum(correct) / len(correct) if correct else 0.0, "n": len(correct)}, preds)


def offline_explanation_scores(dataset: PreparedDataset, rows: list[dict], answers: list[str], concepts: dict,
                               judge: OfflineJudgeParams, rows_out: list | None = None) -> dict:
    """EE, CS, grounding: exact on the aviary (parsed attributes against the image's truth); on real
    data by embedding answer clauses against the concept lists (judge: params evaluate.offline_judge)."""
    if dataset.has_world_truth:
        return explanation_scores(answers, [dataset.labels[r["label"]]["attributes"] for r in rows],
                                  [visible_truth(dataset, r) for r in rows])
    return concept_explanation_scores(answers, [r["label"] for r in rows], concepts, encoder=judge.encoder,
                                      threshold=judge.threshold, rows_out=rows_out)


def evaluate_method(gen: HFGenerator, dataset: PreparedDataset, rows: list[dict], prompts, reference_model, tokenizer,
                    max_new_tokens: int, seed: int, concepts: dict, judge: OfflineJudgeParams) -> tuple[dict, list[dict]]:
    """The paper's evaluation: one explain question per test image, greedy; then the offline judges.
    Each prediction row carries its own scores (`scores`), so the report can bootstrap over images."""
    rng = random.Random(f"{seed}/evaluate")
    questions = [rng.choice(prompts.explain) for _ in rows]
    answers = [a[0] for a in gen.generate([str(dataset.image(r)) for r in rows], questions,
                                          Sampling(max_new_tokens=max_new_tokens), desc="explain")]
    matcher = NameMatcher(dataset.class_names)
    ident = identification_scores(matcher, answers, [r["label"] for r in rows])
    concept_rows: list[dict] = []  # real data: the embedding judge's per-answer EE / CS
    expl = offline_explanation_scores(dataset, rows, answers, concepts, judge, concept_rows)
    fs_each = perplexities(reference_model, tokenizer, answers)
    fs = sum(fs_each) / len(fs_each) if fs_each else 0.0
    fs_masked_each = (perplexities(reference_model, tokenizer, answers, mask_names=dataset.class_names)
                      if getattr(tokenizer, "is_fast", False) else [None] * len(answers))  # offsets need a fast tokenizer
    grammar = dataset.class_names if dataset.has_world_truth else None  # the aviary's grammar; none on real data
    general = evaluate_general_ability(gen, dataset, max_new_tokens)
    metrics = {"accuracy": ident["accuracy"], "accuracy_lenient": ident["accuracy_lenient"], **expl, "FS": fs,
               "FS_masked": sum(fs_masked_each) / len(fs_masked_each) if fs_masked_each and None not in fs_masked_each else None,
               **wellformed_scores(answers, grammar),
               "general_ability": general.metrics["attribute_accuracy"], "n": len(rows)}
    scores = [{"accuracy": float(matcher.predict(a) == r["label"]), "accuracy_lenient": float(matcher.lenient(a, r["label"])),
               "FS": f, **({"FS_masked": fm} if fm is not None else {}), **flags}
              for r, a, f, fm, flags in zip(rows, answers, fs_each, fs_masked_each, wellformed_flags(answers, grammar))]
    if dataset.has_world_truth:
        for s, e in zip(scores, explanation_rows(answers, [dataset.labels[r["label"]]["attributes"] for r in rows],
                                                 [visible_truth(dataset, r) for r in rows])):
            s.update(e)
    elif len(concept_rows) == len(scores):
        for s, e in zip(scores, concept_rows):
            s.update(e)
    preds = [{"id": r["id"], "question": q, "answer": a, "label": r["label"], "predicted": matcher.predict(a), "scores": s}
             for r, q, a, s in zip(rows, questions, answers, scores)]
    return metrics, preds + general.predictions
