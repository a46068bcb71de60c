"""Issue 10, "a study whose verdict stands", as specifications: training to convergence, the strict
label check and the paper's w/o filtering, the explain share, well-formedness, FS with the class
names masked, bootstrap intervals and the verdict decided from them. Defaults reproduce today."""
import random

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from selfsynth.core.params import WORLD_SIZES, MixParams, ParamsError, ReportParams, parse_params
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.generate import plan_questions
from selfsynth.metrics.fluency import name_spans, perplexities, perplexity
from selfsynth.metrics.identification import NameMatcher
from selfsynth.metrics.wellformed import has_repeated_ngram, is_well_formed, wellformed_flags
from selfsynth.method.reject import (choice_matters, keep_best, label_check_for, pairs_for_nofilter, pairs_for_ours,
                                 rejection_stats)
from selfsynth.method.synthesize import template_answer
from selfsynth.report.claims import decide, differences_markdown
from selfsynth.report.intervals import metric_interval, paired_difference
from selfsynth.world.attributes import FAMILIES
from tests.conftest import REPO

PROMPTS = load_prompts("aviary", REPO / "prompts")
NAMES = ["Bothis Kinglet", "Mossy Wren", "Crag Finch"]
RAW = yaml.safe_load((REPO / "params.yaml").read_text())


def group(candidates, label="Bothis Kinglet", q=0):
    return {"image_id": "img-1", "image": "x.png", "label": label, "question_index": q, "kind": "explain",
            "question": "Why?", "candidates": candidates}


# --- params: every new behaviour is off by default -------------------------------------------------

def test_the_defaults_are_the_verdict_studys_and_a_params_file_without_them_is_named_by_key():
    p = parse_params(RAW)
    assert p.train.convergence.enabled is True and p.train.lora.train_new_tokens is True
    assert (p.rejection.label_match, p.rejection.nofilter, p.rejection.explain_share) == ("first", "gated", 0.5)
    assert p.world.counts.test_per_class == 40 and p.evaluate.max_images == 640
    old = {**RAW, "train": {k: v for k, v in RAW["train"].items() if k != "convergence"},
           "rejection": {k: v for k, v in RAW["rejection"].items() if k != "label_match"}}
    with pytest.raises(ParamsError) as e:  # an old params file does not silently get new behaviour
        parse_params(old)
    assert "params.yaml: train.convergence: missing key" in str(e.value)
    assert "params.yaml: rejection.label_match: missing key" in str(e.value)


def test_test_images_per_class_changes_only_the_test_count():
    p = parse_params({**RAW, "world": {**RAW["world"], "test_per_class": 40}})
    default = WORLD_SIZES[p.world.size]
    assert p.world.counts.test_per_class == 40
    assert p.world.counts.model_copy(update={"test_per_class": default.test_per_class}) == default


# --- rejection ------------------------------------------------------------------------------------

def test_first_named_species_must_be_the_label_under_the_strict_check():
    first, anywhere = label_check_for("first", NAMES), label_check_for("anywhere", NAMES)
    both = "It could be a Mossy Wren or a Bothis Kinglet."
    assert anywhere(both, "Bothis Kinglet") and not first(both, "Bothis Kinglet")
    assert first("A Bothis Kinglet, not a Mossy Wren.", "Bothis Kinglet")
    g = group(["It is a Mossy Wren or a Bothis Kinglet.", "This is a Bothis Kinglet."])
    assert keep_best(g, [2.0, 1.0], "after_score") == (0, 2.0)
    assert keep_best(g, [2.0, 1.0], "after_score", first) == (None, 2.0)
    assert keep_best(g, [2.0, 1.0], "before_score", first) == (1, 1.0)
    pairs = pairs_for_ours([g], [[2.0, 1.0]], PROMPTS, "after_score", 0, 2, first)
    assert pairs[0]["source"] == "fallback"


def test_gated_nofilter_differs_from_ours_only_by_a_random_pick_in_place_of_the_score():
    """The same gate after choosing and the same fallback as ours: where ours' top candidate and the
    random pick coincide, so do the kept pairs."""
    groups = [group(["A Mossy Wren.", "A Bothis Kinglet with a crest.", "A Bothis Kinglet."], q=q) for q in range(60)]
    gated = pairs_for_nofilter(groups, 0, 2, "gated", PROMPTS)
    fallback = [p for p in gated if p["source"] == "fallback"]
    assert 0 < len(fallback) < len(gated)  # a wrong random pick falls back; a gate before choosing never would
    assert all(p["kind"] == "simple" and "Bothis Kinglet" in p["answer"] for p in fallback)
    assert {p["answer"] for p in gated if p["source"] == "candidate"} == {"A Bothis Kinglet with a crest.", "A Bothis Kinglet."}
    for g, p in zip(groups, gated):
        ours = pairs_for_ours([g], [[1.0 if c == p.get("answer") or (p["source"] == "fallback" and "Mossy" in c) else 0.0
                                     for c in g["candidates"]]], PROMPTS, "after_score", 0, 2)[0]
        assert (ours["source"], ours["answer"]) == (p["source"], p["answer"])
    with pytest.raises(ValueError):
        pairs_for_nofilter(groups, 0, 2, "gated")


def test_the_score_choice_is_measured_against_a_random_pick_among_passing_candidates():
    same = group(["A Bothis Kinglet.", "A Bothis Kinglet.", "A Mossy Wren."])
    two = group(["A Bothis Kinglet.", "A Bothis Kinglet with a crest.", "A Mossy Wren."])
    assert choice_matters([same], [[0.1, 0.2, 0.9]]) == 0.0  # one passing text: nothing to choose
    assert choice_matters([two], [[0.1, 0.2, 0.9]]) == 0.5
    assert choice_matters([group(["A Mossy Wren."])], [[1.0]]) == 0.0


def test_label_checked_nofilter_keeps_a_random_label_naming_candidate_or_falls_back():
    groups = [group(["A Mossy Wren.", "A Bothis Kinglet with a crest.", "A Bothis Kinglet."], q=q) for q in range(40)]
    groups.append(group(["A Mossy Wren.", "A bird."], q=99))
    checked = pairs_for_nofilter(groups, 0, 2, "label_checked", PROMPTS)
    assert all("Bothis Kinglet" in p["answer"] for p in checked)
    assert {p["answer"] for p in checked[:40]} == {"A Bothis Kinglet with a crest.", "A Bothis Kinglet."}  # random, no score
    assert checked[-1]["source"] == "fallback" and checked[-1]["kind"] == "simple"
    random_ = pairs_for_nofilter(groups, 0, 2, "random")
    assert random_ == pairs_for_nofilter(groups, 0, 2, "random", PROMPTS)
    assert any("Mossy Wren" in p["answer"] for p in random_)
    with pytest.raises(ValueError):
        pairs_for_nofilter(groups, 0, 2, "label_checked")


def test_rejection_stats_report_how_strict_the_kept_answers_are():
    kept = [{"answer": "A Mossy Wren or a Bothis Kinglet.", "label": "Bothis Kinglet", "source": "candidate"},
            {"answer": "A Bothis Kinglet.", "label": "Bothis Kinglet", "source": "candidate"}]
    s = rejection_stats(kept, [group(["x"])], NAMES)
    assert s["kept_names_label"] == 1.0
    assert s["kept_names_label_first"] == 0.5 and s["kept_names_several_species"] == 0.5
    assert "kept_names_label_first" not in rejection_stats(kept, [group(["x"])])


def test_explain_share_sets_the_question_mix_and_none_keeps_the_synthesize_mix():
    images = [{"id": f"i{k}", "image": f"{k}.png", "label_name": "A b"} for k in range(300)]
    mix = MixParams(simple=0.4, explain=0.2, cot=0.4)
    today = plan_questions(images, PROMPTS, 2, mix, seed=0, rnd=2)
    assert today == plan_questions(images, PROMPTS, 2, mix, seed=0, rnd=2, explain_share=None)
    assert 0.25 < np.mean([q["kind"] == "explain" for q in today]) < 0.42  # 1:2
    even = plan_questions(images, PROMPTS, 2, mix, seed=0, rnd=2, explain_share=0.5)
    assert 0.42 < np.mean([q["kind"] == "explain" for q in even]) < 0.58  # 1:1
    assert {q["kind"] for q in plan_questions(images, PROMPTS, 2, mix, 0, 2, explain_share=1.0)} == {"explain"}


# --- well-formedness -------------------------------------------------------------------------------

def test_every_template_answer_is_well_formed_and_garble_is_not():
    rng = random.Random(0)
    concepts = [c for f in FAMILIES for v in f.values for c in v.concepts]
    answers = [template_answer(rng.choice(["simple", "explain", "cot"]), rng.choice(NAMES),
                               rng.sample(concepts, rng.randint(1, 4)), rng, PROMPTS) for _ in range(500)]
    assert all(f["well_formed"] for f in wellformed_flags(answers, NAMES))
    m = NameMatcher(NAMES)
    assert is_well_formed("This is a Mossy Wren. Its crest is not visible.", m)
    assert not is_well_formed("This is a Mossy Wren. the the of", m)
    assert not is_well_formed("The bird is a. crest crest.", m)
    assert not is_well_formed("", m)


def test_repeated_trigram_flags_looping_text():
    assert has_repeated_ngram("a black crest and a black crest")
    assert not has_repeated_ngram("a black crest and a white eye ring")
    flags = wellformed_flags(["a b c a b c", "a b c d"], None)  # no grammar on real data
    assert flags == [{"well_formed": None, "repeated_ngram": True}, {"well_formed": None, "repeated_ngram": False}]


def test_a_rounds_figures_are_computed_from_its_rows():
    """Means over answers; grounding a ratio of summed counts; what a row cannot say stays None."""
    from selfsynth.method.evaluate import aggregate
    row = dict(accuracy=1.0, accuracy_lenient=1.0, FS=4.0, well_formed=True, repeated_ngram=False)
    world = [{**row, "FS_masked": 2.0, "EE": 1.0, "CS": 0.5, "cited": 2, "grounded": 1},
             {**row, "accuracy": 0.0, "FS_masked": 4.0, "EE": 1.0, "CS": 1.0, "cited": 1, "grounded": 1},
             {**row, "FS": 7.0, "FS_masked": 6.0, "well_formed": False, "EE": 0.0, "CS": 0.0, "cited": 0, "grounded": 0}]
    assert aggregate(world, 0.9) == {"accuracy": 2 / 3, "accuracy_lenient": 1.0, "EE": 2 / 3, "CS": 0.5,
                                     "grounding": 2 / 3, "features_per_answer": 1.0, "FS": 5.0, "FS_masked": 4.0,
                                     "well_formed": 2 / 3, "repeated_ngram": 0.0, "general_ability": 0.9, "n": 3}
    real = [{k: v for k, v in r.items() if k != "grounded"} | {"well_formed": None} for r in world]
    real[0].pop("FS_masked")  # a slow tokenizer gives no offsets for one answer
    got = aggregate(real, None)
    assert got["grounding"] is None and got["well_formed"] is None and got["FS_masked"] is None and got["CS"] == 0.5


# --- FS with class names masked --------------------------------------------------------------------

class Tok:
    """A character-level 'fast tokenizer' stand-in with offsets."""
    padding_side = "right"
    is_fast = True

    def __call__(self, texts, return_tensors=None, padding=False, return_offsets_mapping=False):
        n = max(len(t) for t in texts)
        ids = torch.tensor([[ord(c) % 50 + 1 for c in t] + [0] * (n - len(t)) for t in texts])
        att = torch.tensor([[1] * len(t) + [0] * (n - len(t)) for t in texts])
        enc = {"input_ids": ids, "attention_mask": att}
        if return_offsets_mapping:
            enc["offset_mapping"] = torch.tensor([[(i, i + 1) for i in range(len(t))] + [(0, 0)] * (n - len(t))
                                                  for t in texts])
        return Enc(enc)


class Enc(dict):
    def to(self, device):
        return self


class LM(torch.nn.Module):
    """Predicts every next character with the same confidence."""
    device = torch.device("cpu")

    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, 51)
        nxt = torch.roll(input_ids, -1, dims=1)
        logits.scatter_(2, nxt.unsqueeze(-1), 5.0)
        return type("Out", (), {"logits": logits})()


def test_name_spans_and_masked_perplexity_ignore_the_class_names():
    text = "It is a mossy-wren, a Mossy Wren."
    assert [text[a:b] for a, b in name_spans(text, NAMES)] == ["mossy-wren", "Mossy Wren"]

    class Confused(LM):  # a model that knows the sentence but not the name
        def forward(self, input_ids, attention_mask):
            out = super().forward(input_ids, attention_mask)
            out.logits[:, 7:17] = 0.0  # predictions of characters 8..17: the name "Mossy Wren" below
            return out

    named, plain = "It is a Mossy Wren", "It is a bird"
    masked = perplexities(Confused(), Tok(), [named], mask_names=NAMES)[0]
    unmasked = perplexities(Confused(), Tok(), [named])[0]
    assert unmasked > 3 * masked
    assert np.isclose(masked, perplexities(LM(), Tok(), [plain])[0], rtol=1e-4)
    assert perplexity(LM(), Tok(), [named, plain]) == np.mean(perplexities(LM(), Tok(), [named, plain]))


# --- intervals and the verdict ---------------------------------------------------------------------

U = (ReportParams().bootstrap, ReportParams().confidence, 0)  # params.report's defaults, the study's seed 0


def rows(acc, seed, n=200):
    rng = np.random.default_rng(seed)
    return [{"id": f"t{i}", "label": 0, "predicted": int(rng.random() >= acc), "scores": {"CS": float(rng.random() < acc)}}
            for i in range(n)]


def test_bootstrap_interval_covers_the_estimate_and_narrows_with_more_images():
    small, large = metric_interval(rows(0.6, 0, 40), "accuracy", *U), metric_interval(rows(0.6, 0, 1000), "accuracy", *U)
    assert small.low < small.estimate < small.high and large.low < large.estimate < large.high
    assert large.high - large.low < small.high - small.low
    assert metric_interval(rows(0.6, 0), "FS", *U) is None  # a score the rows do not carry


def test_paired_difference_uses_the_same_images_and_decides_claims():
    a, b = rows(0.8, 1), rows(0.4, 2)
    d = paired_difference(a, b, "accuracy", *U)
    assert d.low > 0 and decide(d) == "holds"
    assert decide(paired_difference(b, a, "accuracy", *U)) == "does not hold"
    assert decide(paired_difference(a, rows(0.8, 3), "accuracy", *U)) == "undecided"
    # pairing: the same image hard for both methods cancels out -> narrower than unpaired noise
    hard = [{**r, "predicted": 1} for r in a[:100]] + a[100:]
    hard_b = [{**r, "predicted": 1} for r in a[:100]] + [{**r, "predicted": 1 - r["predicted"] if i % 10 == 0 else r["predicted"]}
                                                           for i, r in enumerate(a[100:])]
    paired = paired_difference(hard, hard_b, "accuracy", *U)
    assert paired.high - paired.low < 0.1


def test_one_seed_describes_every_claim_with_its_paired_interval_and_decides_none():
    k = 2
    preds = {("ours", 1): rows(0.5, 1), ("ours", 2): rows(0.9, 2), ("nl", 2): rows(0.5, 3),
             ("lge", 2): rows(0.9, 4), ("nofilter", 2): rows(0.995, 5)}
    lines = differences_markdown(preds, k, 500, 0.95, 0).splitlines()
    assert len(lines) == 7 and all("[" in line for line in lines)  # no w/o filtering round 1: its rise is left out
    assert lines[0].startswith("- ours above NL on accuracy (round 2) — ours r2 − nl r2 = 38.5 [")
    assert all(line.endswith("(one seed: descriptive)") for line in lines[:-1])
    assert lines[-1].endswith("(sanity check (true by construction))")
    assert not any(v in line for line in lines for v in ("holds", "does not hold", "undecided", "excluded"))


# --- training to convergence -----------------------------------------------------------------------

def tiny_model():
    from selfsynth.lmm.tiny_llava import build_model, build_processor, train_tokenizer
    p = parse_params(RAW).base.model_copy(update={})
    p = p.model_copy(update={"vision": p.vision.model_copy(update={"hidden_size": 16, "layers": 1, "heads": 2}),
                             "text": p.text.model_copy(update={"hidden_size": 32, "intermediate_size": 64,
                                                               "layers": 1, "heads": 2, "vocab_size": 300})})
    tok = train_tokenizer(["USER: ASSISTANT: what is this bird it is a red bird with a crest"] * 4, vocab_size=300)
    return build_model(p, tok, 32), build_processor(tok, 32, 16)


def test_split_by_image_holds_out_whole_images_seeded():
    from selfsynth.training.sft import Example, HeldOut, split_by_image
    examples = [Example(f"{i}.png", "q", f"a{k}") for i in range(10) for k in range(3)]
    fit, val = split_by_image(examples, 0.2, seed=0)
    assert {e.image for e in fit}.isdisjoint({e.image for e in val}) and len({e.image for e in val}) == 2
    assert len(val) == 6 and all(isinstance(e, HeldOut) for e in val) and len(fit) == 24
    assert split_by_image(examples, 0.2, seed=0) == (fit, val) != split_by_image(examples, 0.2, seed=1)
    assert len({e.image for e in split_by_image(examples, 0.01, 0)[1]}) == 1  # at least one image, never all
    assert len({e.image for e in split_by_image(examples, 0.99, 0)[0]}) == 1


def test_the_words_an_answer_uses_that_the_base_corpus_never_did_are_trained():
    """The tiny LM learned its words from the generic corpus; the template words of the explaining
    answers ("identified by") and the class names are new to it, so their rows train with LoRA."""
    from selfsynth.training.lora import new_token_ids
    _, processor = tiny_model()
    tok = processor.tokenizer
    known = ["The crest is white. The bill is thin."]
    ids = lambda text: set(tok(text, add_special_tokens=False)["input_ids"])
    answer = "The crest is white, identified by a Zanix Pipit."
    new = new_token_ids(tok, [answer], known)
    assert new and not set(new) & ids(known[0])  # only words the corpus lacks ...
    assert set(new) == ids(answer) - ids(known[0])  # ... and every one of them
    assert new_token_ids(tok, known, known) == []


def test_convergence_stops_when_validation_loss_rises_and_keeps_the_best_epoch(tmp_path):
    """As the train stage runs it: a LoRA with trainable label tokens. The held-out images' answers
    contradict the training answers, so fitting raises their loss; with patience 1 training stops
    after the first epoch that does not improve, and the weights kept are the best epoch's."""
    from selfsynth.training.lora import lora_config, new_token_ids
    from selfsynth.training.sft import Example, HeldOut, collate, train
    torch.manual_seed(0)
    model, processor = tiny_model()
    lora = lora_config(8, 16, 0.0, ["q_proj", "v_proj", "up_proj", "down_proj"],
                       new_token_ids(processor.tokenizer, ["it is a red bird"], ["what is this"]))
    for i in range(6):
        Image.new("RGB", (32, 32), (40 * i, 0, 0)).save(tmp_path / f"{i}.png")
    fit = [Example(str(tmp_path / f"{i}.png"), "what is this bird", "it is a red bird") for i in range(4) for _ in range(2)]
    val = [HeldOut(str(tmp_path / f"{i}.png"), "what is this bird", "a crest crest with") for i in range(4, 6)]
    model, history = train(model, processor, fit, out_dir=tmp_path / "ckpt", epochs=6, batch_size=4, lr=0.05,
                           warmup_steps=0.0, weight_decay=0.0, seed=0, validation=val, patience=1, logging_steps=1,
                           peft_config=lora)
    assert len(history.val_losses) < 6 and history.epochs_trained < 6  # stopped before the cap
    assert history.val_losses[-1] > history.best_val_loss == min(history.val_losses)
    assert history.best_epoch < history.epochs_trained
    model.eval()
    with torch.no_grad():  # one validation batch: the kept weights' loss is the best epoch's, not the last
        loss = model(**collate(processor, val)).loss.item()
    assert np.isclose(loss, history.best_val_loss, rtol=1e-5)


# --- more test images, the same world otherwise ---------------------------------------------------

def test_more_test_images_per_class_leave_every_other_file_of_the_world_unchanged(tmp_path):
    import hashlib
    import json

    from selfsynth.core.params import WorldParams
    from selfsynth.world.build import build_world

    def digest(root):
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.jsonl"}

    base = dict(seed=0, size="micro", image_size=32, hide_prob=0.3, noise=0.03)
    build_world(WorldParams(**base), 7, tmp_path / "a", PROMPTS.describe)
    build_world(WorldParams(**base, test_per_class=5), 7, tmp_path / "b", PROMPTS.describe)
    a, b = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert {k: v for k, v in b.items() if k in a} == a  # every image of today's world, byte for byte
    added = sorted(set(b) - set(a))
    assert added and all(k.startswith("images/test/") for k in added)
    rows = [json.loads(x) for x in (tmp_path / "b/manifest.jsonl").read_text().splitlines()]
    old = [json.loads(x) for x in (tmp_path / "a/manifest.jsonl").read_text().splitlines()]
    assert [r for r in rows if r["split"] == "train"] == [r for r in old if r["split"] == "train"]
    n_classes = len({r["label"] for r in rows})
    assert sum(r["split"] == "test" for r in rows) == 5 * n_classes


def test_real_data_judge_scores_each_answer_alone_and_again_the_same():
    from selfsynth.metrics.concept_match import concept_explanation_rows
    concepts = {"0": {"name": "kestrel", "visual_features": ["rufous back with black spots", "grey head"]},
                "1": {"name": "merlin", "visual_features": ["dark streaked breast", "short square tail"]}}
    answers = ["A kestrel: rufous back with black spots, grey head.", "A merlin with a dark streaked breast.",
               "This is an image of merlin.", "A kestrel with a dark streaked breast."]
    rows = concept_explanation_rows(answers, [0, 1, 1, 0], concepts, encoder="tfidf", threshold=0.3)
    assert len(rows) == 4 and rows[2] == {"EE": 0.0, "CS": 0.0, "cited": 0}
    assert rows == concept_explanation_rows(answers, [0, 1, 1, 0], concepts, encoder="tfidf", threshold=0.3)


def test_llm_judge_verdicts_replace_the_offline_ee_and_cs_in_the_intervals():
    rows_ = [{"id": "a", "label": 0, "predicted": 0, "scores": {"EE": 0.0, "CS": 0.0}, "judge": {"EE": True, "CS": 8.0}},
             {"id": "b", "label": 0, "predicted": 0, "scores": {"EE": 0.0, "CS": 0.0}, "judge": {"EE": None, "CS": 6.0}},
             {"id": "c", "task": "attribute", "correct": True}]  # general-ability rows are not test images
    assert metric_interval(rows_, "EE", *U).estimate == 1.0 and metric_interval(rows_, "EE", *U).n == 1  # unparsed left out
    assert np.isclose(metric_interval(rows_, "CS", *U).estimate, 0.7)  # the paper's 0-1 scale
    assert metric_interval(rows_, "accuracy", *U).n == 2
