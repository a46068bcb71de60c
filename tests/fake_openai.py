"""A tiny OpenAI-compatible chat server on localhost, so LLM code is tested without a network."""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

FAULTS = ("429", "500", "slow", "malformed", "empty", "null")  # what real endpoints do now and then


class FakeOpenAI:
    """reply(user_text, request_json) -> the assistant's content; every request is counted and kept.
    fault(user_text, attempt) -> None or one of FAULTS fails that attempt (counted from 0 per user
    text): "slow" answers nothing until the client hangs up, "empty" has no choices, "null" no
    content. delay: seconds before each answer. in_flight / max_in_flight: chat requests being
    answered now / at most at once."""

    def __init__(self, reply: Callable[[str, dict], str], fault: Callable[[str, int], str | None] | None = None,
                 delay: float = 0.0, retry_after: str = "0.01"):
        self.reply, self.fault = reply, fault or (lambda user, attempt: None)
        self.delay, self.retry_after = delay, retry_after
        self.requests: list[dict] = []
        self.times: list[float] = []
        self.attempts: Counter = Counter()
        self.faults: Counter = Counter()
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.requests)

    def answer(self, kind: str | None, user: str, body: dict) -> tuple[int, dict, bytes]:
        if kind in ("429", "500"):
            headers = {"Retry-After": self.retry_after} if kind == "429" else {}
            return int(kind), headers, json.dumps({"error": {"message": f"fake {kind}", "type": "fake"}}).encode()
        message = {"role": "assistant", "content": None if kind == "null" else self.reply(user, body)}
        data = json.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [] if kind == "empty" else [{"index": 0, "finish_reason": "stop", "message": message}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        return 200, {}, data[: len(data) // 2] if kind == "malformed" else data

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
                with fake.lock:
                    fake.requests.append(body)
                    fake.times.append(time.monotonic())
                    attempt, fake.attempts[user] = fake.attempts[user], fake.attempts[user] + 1
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    kind = fake.fault(user, attempt)
                    if kind:
                        fake.faults[kind] += 1
                    time.sleep(fake.delay)
                    if kind == "slow":
                        select.select([self.connection], [], [], 30)  # readable at EOF: the client gave up
                        self.close_connection = True
                        return
                    status, headers, data = fake.answer(kind, user, body)
                finally:  # before the answer is written: a client cannot send its next request earlier
                    with fake.lock:
                        fake.in_flight -= 1
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                                    **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler


@contextmanager
def serve(reply: Callable[[str, dict], str], **kw) -> Iterator[tuple[FakeOpenAI, str]]:
    """Yield (fake, base_url) while the server runs in a background thread; kw go to FakeOpenAI."""
    fake = FakeOpenAI(reply, **kw)
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A base_url on which nothing listens (a port just released by the OS)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
