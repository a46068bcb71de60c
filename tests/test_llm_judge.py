"""EE and CS through an OpenAI-compatible judge: prompts from prompts/judge.yaml, cached replies,
unreadable replies counted instead of crashing."""
from __future__ import annotations

from pathlib import Path

import pytest
from fake_openai import closed_port_url, serve

from selfsynth.lmm.llm_client import LLMError
from selfsynth.metrics.llm_judge import judge_explanations, load_judge_prompts, parse_score, parse_yes_no

PROMPTS = Path(__file__).resolve().parents[1] / "prompts" / "judge.yaml"
CONCEPTS = {"0": {"name": "Crimson Finch", "visual_features": ["bright crimson plumage", "short conical beak"]},
            "1": {"name": "Azure Warbler", "visual_features": ["sky-blue back"]}}
ANSWERS = [
    "This is a Crimson Finch: note its bright crimson plumage and short conical beak.",  # yes, 9
    "Azure Warbler.",  # no, 0
    "This is an Azure Warbler, it has a blue back.",  # unreadable EE, "7/10"
    "Crimson Finch because of the crimson plumage.",  # yes, unreadable CS
]


def judge_reply(user, body):
    ee = "Reply with one word: yes or no." in user
    quoted = user.split('"""')[1].strip()
    for i, answer in enumerate(ANSWERS):
        if answer == quoted:
            return [("Yes.", "9"), ("no", "Score: 0"), ("Hard to say.", "7/10"), ("YES", "excellent")][i][0 if ee else 1]
    raise AssertionError(f"unexpected prompt {user!r}")


def judge(url, cache, answers=ANSWERS, labels=(0, 1, 1, 0)):
    return judge_explanations(answers, list(labels), CONCEPTS, base_url=url, model="judge-m", api_key_env="NO_KEY",
                              cache_path=cache, prompts_path=PROMPTS)


def test_parsers():
    assert parse_yes_no("Yes.") is True and parse_yes_no("No, it does not.") is False
    assert parse_yes_no("It does not cite anything") is None  # 'not' is not 'no'
    assert parse_score("8") == 8 and parse_score("Score: 7/10") == 7 and parse_score("6.5 out of 10") == 6.5
    assert parse_score("10.") == 10 and parse_score("42") is None and parse_score("great") is None


def test_prompt_file_is_complete():
    p = load_judge_prompts(PROMPTS)
    assert "yes or no" in p["ee"] and "0 to 10" in p["cs"]


def test_bad_prompt_file_is_named(tmp_path):
    f = tmp_path / "judge.yaml"
    f.write_text("system: s\nee: 'Is {answer} good? yes/no'\ncs: 'Score {answer} 0-10'\n")
    with pytest.raises(ValueError, match=rf"{f}: cs: lacks the {{concepts}} placeholder"):
        load_judge_prompts(f)


def test_judge_scores_cache_and_unparsed(tmp_path):
    cache = tmp_path / "judge_cache.json"
    with serve(judge_reply) as (fake, url):
        out = judge(url, cache)
        assert fake.calls == 8
        assert out["n"] == 4 and out["unparsed"] == {"EE": 1, "CS": 1}
        assert out["EE"] == pytest.approx(2 / 3)  # yes, no, yes over the 3 readable
        assert out["CS"] == pytest.approx((9 + 0 + 7) / 3 / 10)  # 0-10 scores on the paper's 0-1 scale
        assert [p["EE"] for p in out["per_answer"]] == [True, False, None, True]
        assert [p["CS"] for p in out["per_answer"]] == [9, 0, 7, None]
        assert out["per_answer"][3]["cs_reply"] == "excellent"
        # the CS prompt carries the label and its expert concepts
        cs_prompts = [r["messages"][-1]["content"] for r in fake.requests if "0 to 10" in r["messages"][-1]["content"]]
        first = next(p for p in cs_prompts if ANSWERS[0] in p)
        assert '"Crimson Finch"' in first and "- bright crimson plumage\n- short conical beak" in first
        # rerun: everything from the cache
        again = judge(url, cache)
        assert fake.calls == 8 and again["EE"] == out["EE"] and again["judge"]["requests"] == 0


def test_judge_nothing_readable_gives_none(tmp_path):
    with serve(lambda user, body: "I cannot judge this.") as (fake, url):
        out = judge(url, None, answers=ANSWERS[:2], labels=(0, 1))
    assert out["EE"] is None and out["CS"] is None and out["unparsed"] == {"EE": 2, "CS": 2}


def test_judge_bad_input_before_any_call(tmp_path):
    with serve(judge_reply) as (fake, url):
        with pytest.raises(ValueError, match=r"no concepts for label\(s\) \['7'\]"):
            judge(url, None, answers=ANSWERS[:1], labels=(7,))
        with pytest.raises(ValueError, match="1 answers but 2 labels"):
            judge(url, None, answers=ANSWERS[:1], labels=(0, 1))
        assert fake.calls == 0


def test_judge_endpoint_errors(tmp_path):
    url = closed_port_url()
    with pytest.raises(LLMError, match=f"{url}: LLM endpoint unreachable"):
        judge(url, tmp_path / "cache.json")
    assert not (tmp_path / "cache.json").exists()
    with serve(judge_reply) as (fake, url):
        wrong = url.removesuffix("/v1")  # the server answers 404 off /v1/chat/completions
        with pytest.raises(LLMError, match=rf"{wrong}: model 'judge-m' request failed with HTTP 404"):
            judge(wrong, None)


def test_an_unreachable_judge_is_found_before_any_generation(tmp_path):
    """stages.evaluate checks the endpoint first; a live server passes even without a /models route."""
    from selfsynth.lmm.llm_client import CachedChat

    url = closed_port_url()
    with pytest.raises(LLMError, match=f"{url}: LLM endpoint unreachable"):
        CachedChat(base_url=url, model="judge-m", api_key_env="NO_KEY", cache_path=None, max_retries=0).check_reachable()
    with serve(judge_reply) as (fake, url):
        CachedChat(base_url=url, model="judge-m", api_key_env="NO_KEY", cache_path=None).check_reachable()
        assert fake.calls == 0  # no chat request was spent on the check
