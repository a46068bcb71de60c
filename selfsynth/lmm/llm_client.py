"""One cached chat client for every OpenAI-compatible call (concept lists, EE/CS judging).

Why a cache: LLM replies cost money and are not reproducible across runs, so each reply is kept
in a JSON file keyed by (model, messages, temperature); a rerun of a DVC stage reads it back and
makes no calls. Why one module: both callers need the same endpoint checks and error wording.

Why openai's own retries: the openai client already retries 408/409/429/5xx, timeouts and dropped
connections, waiting what Retry-After (or retry-after-ms) asks up to 2 minutes (a longer ask is not
retried: the error names the status) and otherwise 0.5 s doubling to at most 8 s. This module only
raises its max_retries, and adds what a single request cannot know: a deadline for a whole batch,
retries of HTTP 200 replies that are unusable (malformed JSON, no choices), and counts.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Sequence

from ..core.errors import InputError
from ..core.io import read_json, write_json

log = logging.getLogger(__name__)

SAVE_EVERY = 50  # new replies between cache flushes (or a tenth of the cache): a crash loses little,
                 # and rewriting the whole file stays linear in its size overall
BAD_REPLY_TRIES = 3  # tries per request when the server answers 200 with malformed JSON or no content
RETRIED_STATUS = {408, 409, 429}  # and 5xx: what openai retries before raising


class LLMError(RuntimeError, InputError):
    pass


def cache_key(model: str, messages: Sequence[dict], temperature: float) -> str:
    blob = json.dumps({"model": model, "messages": list(messages), "temperature": temperature}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class CachedChat:
    """chat.completions against base_url; replies cached in cache_path (None: no cache).

    max_retries: openai's retries per request. deadline: seconds one ask_many may send for (6 h: a
    paper-scale evaluate stage judges ~12k answers, hours at a rate-limited endpoint; a dead one
    fails long before, on max_retries). Counters: calls (replies from the server), cached (answered
    from the cache), retries (requests sent again after a failure)."""

    def __init__(self, *, base_url: str, model: str, api_key_env: str, cache_path: str | Path | None,
                 temperature: float = 0.0, max_tokens: int | None = None, timeout: float = 30.0,
                 max_retries: int = 10, deadline: float = 6 * 3600.0):
        self.base_url, self.model, self.api_key_env = base_url, model, api_key_env
        self.temperature, self.max_tokens = temperature, max_tokens
        self.timeout, self.max_retries, self.deadline = timeout, max_retries, deadline
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.cache: dict = {}
        if self.cache_path is not None and self.cache_path.exists():
            self.cache = read_json(self.cache_path)
            if not isinstance(self.cache, dict):
                raise LLMError(f"{self.cache_path}: not an LLM reply cache (expected a JSON object)")
        self.calls = self.cached = self.retries = 0
        self._lock = threading.Lock()  # retries are counted from the worker threads
        self._client = None
        self._unsaved = 0

    def _openai(self):
        if self._client is None:
            try:
                import openai
            except ImportError:
                raise LLMError("an LLM endpoint is configured but the openai client is not installed "
                               "(pip install '.[llm]')") from None
            self._client = openai.OpenAI(base_url=self.base_url, api_key=os.environ.get(self.api_key_env) or "EMPTY",
                                         timeout=self.timeout, max_retries=self.max_retries)
        return self._client

    def _request(self, messages: list[dict], stop: float) -> str | None:
        """The reply's content, or None when the deadline (`stop`, monotonic) passed before sending."""
        import openai
        kwargs = dict(model=self.model, messages=messages, temperature=self.temperature)
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        for attempt in range(BAD_REPLY_TRIES):
            if time.monotonic() > stop:
                return None
            try:
                raw = self._openai().chat.completions.with_raw_response.create(**kwargs)
            except openai.APIConnectionError as e:  # timeouts included
                raise self._unreachable(e) from None
            except openai.APIStatusError as e:
                hint = (f"still failing after up to {self.max_retries} retries" if e.status_code in RETRIED_STATUS
                        or e.status_code >= 500 else f"check the model name and ${self.api_key_env}")
                raise LLMError(f"{self.base_url}: model {self.model!r} request failed with HTTP {e.status_code} "
                               f"({e.message}); {hint}") from None
            with self._lock:
                self.retries += raw.retries_taken + (attempt > 0)
            try:
                choices = getattr(raw.parse(), "choices", None)  # a str when the body is not JSON-typed
            except ValueError as e:
                problem = f"malformed JSON: {e}"
                continue
            if choices and choices[0].message.content is not None:
                return choices[0].message.content
            problem = "no message content"
        raise LLMError(f"{self.base_url}: model {self.model!r} sent no usable reply in {BAD_REPLY_TRIES} tries "
                       f"(last: {problem})")

    def check_reachable(self) -> None:
        """Fail now, not after an hour of generation: something must answer at base_url. Any HTTP
        reply counts (not every OpenAI-compatible server lists its models), so there is nothing to
        retry: a refused connection is what this reports, in a second."""
        import openai
        try:
            self._openai().with_options(max_retries=0).models.list()
        except openai.APIConnectionError as e:
            raise self._unreachable(e) from None
        except openai.APIStatusError:
            pass

    def _unreachable(self, e: Exception) -> LLMError:
        return LLMError(f"{self.base_url}: LLM endpoint unreachable ({type(e).__name__}: {e}); "
                        "start the server or fix the base_url")

    def ask_many(self, conversations: Sequence[list[dict]], workers: int = 4) -> list[str]:
        """Replies in input order. Only cache misses are sent, each distinct one once, at most
        `workers` at a time. Every reply that arrives is cached, even when another request fails or
        the deadline passes (requests in flight then finish), so a rerun continues from there."""
        keys = [cache_key(self.model, m, self.temperature) for m in conversations]
        todo = {k: m for k, m in zip(keys, conversations) if k not in self.cache}
        self.cached += sum(k not in todo for k in keys)
        if todo:
            self.check_reachable()  # a dead endpoint fails once, now, not per request after its retries
            stop, failed, error = time.monotonic() + self.deadline, threading.Event(), None

            def one(messages):
                if failed.is_set():
                    return None
                try:
                    return self._request(messages, stop)
                except BaseException:
                    failed.set()  # send nothing more
                    raise

            pool = ThreadPoolExecutor(max(1, workers))
            try:
                futures = {pool.submit(one, m): k for k, m in todo.items()}
                for n, fut in enumerate(as_completed(futures), 1):
                    try:
                        reply = fut.result()
                    except Exception as e:
                        error = error or e
                        continue
                    if reply is not None:
                        self._store(futures[fut], todo[futures[fut]], reply)
                    self._progress(n, len(todo))
            finally:
                pool.shutdown(cancel_futures=True)
                self.save()
            if error is not None:
                raise error
            left = sum(k not in self.cache for k in todo)
            if left:
                raise LLMError(f"{self.base_url}: model {self.model!r}: the {self.deadline:g} s deadline passed with "
                               f"{len(todo) - left} of {len(todo)} replies done and {left} remaining; the done "
                               "ones are cached, and a rerun continues from the cache")
        return [self.cache[k]["reply"] for k in keys]

    def ask(self, messages: list[dict]) -> str:
        return self.ask_many([messages])[0]

    def _progress(self, n: int, total: int) -> None:
        if 10 * n // total > 10 * (n - 1) // total:  # each tenth, and the last
            log.info("LLM %r at %s: %d/%d requests finished; %d calls, %d from the cache, %d retries",
                     self.model, self.base_url, n, total, self.calls, self.cached, self.retries)

    def _store(self, key: str, messages: list[dict], reply: str) -> None:
        self.cache[key] = {"model": self.model, "temperature": self.temperature, "messages": messages, "reply": reply}
        self.calls += 1
        self._unsaved += 1
        if self._unsaved >= max(SAVE_EVERY, len(self.cache) // 10):
            self.save()

    def forget(self, messages: list[dict]) -> None:
        """Drop a reply the caller could not use, so the next run asks again."""
        if self.cache.pop(cache_key(self.model, messages, self.temperature), None) is not None:
            self._unsaved += 1
            self.save()

    def save(self) -> None:
        """Keys sorted: a run resumed after a stop writes the same file as an uninterrupted one."""
        if self.cache_path is not None and self._unsaved:
            write_json(self.cache_path, dict(sorted(self.cache.items())))
            self._unsaved = 0
