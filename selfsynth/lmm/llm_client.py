"""One cached chat client for every OpenAI-compatible call (concept lists, EE/CS judging).

Why a cache: LLM replies cost money and are not reproducible across runs, so each reply is kept
in a JSON file keyed by (model, messages, temperature); a rerun of a DVC stage reads it back and
makes no calls. Why one module: both callers need the same endpoint checks and error wording.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..io import read_json, write_json

SAVE_EVERY = 50  # new replies between cache flushes (or a tenth of the cache): a crash loses little,
                 # and rewriting the whole file stays linear in its size overall


class LLMError(RuntimeError, InputError):
    pass


def cache_key(model: str, messages: Sequence[dict], temperature: float) -> str:
    blob = json.dumps({"model": model, "messages": list(messages), "temperature": temperature}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class CachedChat:
    """chat.completions against base_url; replies cached in cache_path (None: no cache)."""

    def __init__(self, *, base_url: str, model: str, api_key_env: str, cache_path: str | Path | None,
                 temperature: float = 0.0, max_tokens: int | None = None, timeout: float = 30.0,
                 max_retries: int = 1):
        self.base_url, self.model, self.api_key_env = base_url, model, api_key_env
        self.temperature, self.max_tokens = temperature, max_tokens
        self.timeout, self.max_retries = timeout, max_retries
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.cache: dict = {}
        if self.cache_path is not None and self.cache_path.exists():
            self.cache = read_json(self.cache_path)
            if not isinstance(self.cache, dict):
                raise LLMError(f"{self.cache_path}: not an LLM reply cache (expected a JSON object)")
        self.calls = 0  # requests actually sent (cache misses)
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

    def _request(self, messages: list[dict]) -> str:
        import openai
        kwargs = dict(model=self.model, messages=messages, temperature=self.temperature)
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        try:
            resp = self._openai().chat.completions.create(**kwargs)
        except (openai.APIConnectionError, openai.APITimeoutError) as e:
            raise self._unreachable(e) from None
        except openai.APIStatusError as e:
            raise LLMError(f"{self.base_url}: model {self.model!r} request failed with HTTP {e.status_code} "
                           f"({e.message}); check the model name and ${self.api_key_env}") from None
        if not resp.choices or resp.choices[0].message.content is None:
            raise LLMError(f"{self.base_url}: model {self.model!r} returned no message content")
        return resp.choices[0].message.content

    def check_reachable(self) -> None:
        """Fail now, not after an hour of generation: something must answer at base_url. Any HTTP
        reply counts (not every OpenAI-compatible server lists its models)."""
        import openai
        try:
            self._openai().models.list()
        except (openai.APIConnectionError, openai.APITimeoutError) as e:
            raise self._unreachable(e) from None
        except openai.APIStatusError:
            pass

    def _unreachable(self, e: Exception) -> LLMError:
        return LLMError(f"{self.base_url}: LLM endpoint unreachable ({type(e).__name__}: {e}); "
                        "start the server or fix the base_url")

    def ask_many(self, conversations: Sequence[list[dict]], workers: int = 4) -> list[str]:
        """Replies in input order; only cache misses are sent (each distinct one once)."""
        keys = [cache_key(self.model, m, self.temperature) for m in conversations]
        todo = {k: m for k, m in zip(keys, conversations) if k not in self.cache}
        try:
            if todo:
                items = list(todo.items())
                first_key, first_msgs = items[0]  # sent alone: a dead endpoint fails once, not per worker
                self._store(first_key, first_msgs, self._request(first_msgs))
                pool = ThreadPoolExecutor(max(1, workers))
                try:
                    for (k, m), reply in zip(items[1:], pool.map(lambda km: self._request(km[1]), items[1:])):
                        self._store(k, m, reply)
                finally:
                    pool.shutdown(cancel_futures=True)  # on an error, send nothing more
        finally:
            self.save()
        return [self.cache[k]["reply"] for k in keys]

    def ask(self, messages: list[dict]) -> str:
        return self.ask_many([messages])[0]

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
        if self.cache_path is not None and self._unsaved:
            write_json(self.cache_path, self.cache)
            self._unsaved = 0
