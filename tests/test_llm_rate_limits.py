"""The LLM client against an endpoint that misbehaves the way real ones do (429, 500, replies
slower than the timeout, malformed JSON, no choices): a stub on loopback fails requests in a
seeded pattern, and the client must lose nothing, cache what a clean run caches, stay within its
concurrency bound, and stop at its deadline with every finished reply kept."""
from __future__ import annotations

import logging
import random
import re

import pytest
from fake_openai import FAULTS, serve

from selfsynth.lmm.llm_client import BAD_REPLY_TRIES, CachedChat, LLMError

N = 24
CONVERSATIONS = [[{"role": "user", "content": f"question {i}"}] for i in range(N)]


def answer(user, body):
    return f"answer to {user}"


def chat(url, cache, **kw):
    return CachedChat(base_url=url, model="m", api_key_env="NO_KEY", cache_path=cache, **{"timeout": 0.5, **kw})


def seeded_plan(seed=20):
    """Up to two faults per conversation, then good replies; every kind of fault occurs."""
    rng = random.Random(seed)
    plan = {c[0]["content"]: rng.sample(FAULTS, rng.choice([0, 1, 1, 2])) for c in CONVERSATIONS}
    assert {f for faults in plan.values() for f in faults} == set(FAULTS)
    return plan


def faults_from(plan):
    return lambda user, attempt: plan[user][attempt] if attempt < len(plan[user]) else None


@pytest.fixture
def clean_cache(tmp_path):
    """The cache file a run against a well-behaved endpoint writes: what every other run must match."""
    path = tmp_path / "clean.json"
    with serve(answer) as (fake, url):
        assert chat(url, path).ask_many(CONVERSATIONS) == [answer(c[0]["content"], None) for c in CONVERSATIONS]
    return path.read_bytes()


def test_seeded_faults_lose_nothing_and_leave_the_clean_runs_cache(tmp_path, clean_cache, caplog):
    """Each fault costs one retry of that request, never a reply, and the counters show it."""
    plan = seeded_plan()
    cache = tmp_path / "cache.json"
    with caplog.at_level(logging.INFO, logger="selfsynth.lmm.llm_client"), \
            serve(answer, fault=faults_from(plan)) as (fake, url):
        client = chat(url, cache)
        replies = client.ask_many(CONVERSATIONS, workers=4)
    assert replies == [answer(c[0]["content"], None) for c in CONVERSATIONS]
    assert cache.read_bytes() == clean_cache
    planned = sum(map(len, plan.values()))
    assert fake.faults == {f: sum(p.count(f) for p in plan.values()) for f in FAULTS}
    assert client.calls == N and client.cached == 0
    # every request beyond one per conversation was a retry (a loaded machine may time out more)
    assert client.retries == fake.calls - N >= planned
    assert fake.max_in_flight <= 4
    assert re.search(rf"{N}/{N} requests finished; {N} calls, 0 from the cache, {client.retries} retries", caplog.text)


def test_a_rerun_is_answered_from_the_cache(tmp_path, clean_cache):
    """Counters tell a resumed stage's cached replies from its calls."""
    cache = tmp_path / "cache.json"
    cache.write_bytes(clean_cache)
    with serve(answer) as (fake, url):
        client = chat(url, cache)
        client.ask_many(CONVERSATIONS + CONVERSATIONS[:1])
    assert (client.calls, client.cached, client.retries, fake.calls) == (0, N + 1, 0, 0)


def test_at_most_workers_requests_are_in_flight():
    """A rate-limited endpoint counts concurrent requests: the bound is `workers`, and it is used."""
    with serve(answer, delay=0.05) as (fake, url):
        chat(url, None).ask_many(CONVERSATIONS, workers=3)
    assert fake.max_in_flight == 3 and fake.calls == N


def test_retry_after_is_waited_for():
    """The server's Retry-After, not the client's shorter backoff (at most 0.5 s at first), sets the wait."""
    with serve(answer, fault=lambda user, attempt: "429" if attempt == 0 else None, retry_after="1") as (fake, url):
        assert chat(url, None).ask(CONVERSATIONS[0]) == "answer to question 0"
    assert fake.calls == 2 and fake.times[1] - fake.times[0] >= 1.0


def test_a_passed_deadline_stops_with_a_clear_error_and_a_rerun_finishes(tmp_path, clean_cache):
    """Past the deadline nothing more is sent; every reply that arrived is cached, and the next run
    sends only the rest."""
    cache = tmp_path / "cache.json"
    with serve(answer, delay=0.1) as (fake, url):
        with pytest.raises(LLMError, match=r"the 0.6 s deadline passed with (\d+) of 24 replies done and (\d+) "
                                           r"remaining; the done ones are cached, and a rerun continues") as e:
            chat(url, cache, deadline=0.6).ask_many(CONVERSATIONS, workers=2)
        done = int(re.search(r"with (\d+) of", str(e.value)).group(1))
        assert 0 < done < N and fake.calls == done  # requests in flight at the deadline finished and were kept
        assert len(CachedChat(base_url=url, model="m", api_key_env="K", cache_path=cache).cache) == done
        rerun = chat(url, cache)
        rerun.ask_many(CONVERSATIONS, workers=2)
    assert (rerun.cached, rerun.calls, fake.calls) == (done, N - done, N)
    assert cache.read_bytes() == clean_cache


def test_a_refusal_that_outlasts_the_retries_stops_with_the_status_and_keeps_the_rest(tmp_path):
    """An endpoint that keeps answering 429 ends the stage with the status after max_retries, and
    the replies that did arrive are cached for the rerun."""
    cache = tmp_path / "cache.json"
    refused = CONVERSATIONS[3][0]["content"]
    with serve(answer, fault=lambda user, attempt: "429" if user == refused else None) as (fake, url):
        with pytest.raises(LLMError, match=rf"{url}: model 'm' request failed with HTTP 429 \(.*\); "
                                           r"still failing after up to 2 retries"):
            chat(url, cache, max_retries=2).ask_many(CONVERSATIONS, workers=2)
        answered = {r["messages"][0]["content"] for r in fake.requests} - {refused}
    assert fake.attempts[refused] == 3
    kept = CachedChat(base_url=url, model="m", api_key_env="K", cache_path=cache).cache.values()
    assert 0 < len(answered) < N and {e["messages"][0]["content"] for e in kept} == answered


@pytest.mark.parametrize("fault, problem", [("malformed", "malformed JSON"), ("empty", "no message content"),
                                            ("null", "no message content")])
def test_an_unusable_reply_is_retried_a_few_times_then_named(tmp_path, fault, problem):
    """A 200 without a usable message is a failure of that request: asked again, but not forever."""
    with serve(answer, fault=lambda user, attempt: fault) as (fake, url):
        with pytest.raises(LLMError, match=rf"{url}: model 'm' sent no usable reply in {BAD_REPLY_TRIES} tries "
                                           rf"\(last: {problem}"):
            chat(url, None).ask_many(CONVERSATIONS[:1])
    assert fake.calls == BAD_REPLY_TRIES
