"""A small HTTP server on 127.0.0.1 that speaks the Anthropic Messages API, the OpenAI Chat
Completions API, the OpenAI Completions API with prompt log-probs (echo, as vLLM serves it) and
both APIs' model listings, with deterministic answers, so the official SDKs can be tested for
real.

Each endpoint has a script (a queue of (status, body) to answer first: 'anthropic', 'openai'
for chat, 'completions', 'models' for GET /models and /models/{id}) and then falls back to
`responder(request_json)`, which returns the reply's text, or a dict with `text` and optionally
`finish_reason` ("length" or "stop") and `completion_tokens`. Every request is recorded (api,
path, headers, json).

Completions split a text into tokens with `tokens()` (each word with the whitespace before it)
and give each the log-prob `token_logprob()`, so a test knows what a sum must be."""
from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional, Union

Reply = Union[str, dict]
GENERATED = " the"  # the one token a completions request with echo generates after the prompt


def tokens(text: str) -> list[tuple[int, str]]:
    """(offset, token): each run of non-space with the whitespace before it; trailing space alone."""
    return [(m.start(), m.group()) for m in re.finditer(r"\s*\S+|\s+", text)]


def token_logprob(token: str) -> float:
    return -0.5 - 0.25 * len(token)


class FakeLLMServer:
    def __init__(self, responder: Optional[Callable[[dict], Reply]] = None, delay: float = 0.0,
                 models: Optional[list[str]] = None, logprobs: bool = True):
        """`models`: what GET /models lists and /models/{id} knows (None: lists none, knows
        any); `logprobs`: whether completions return prompt log-probs."""
        self.responder = responder or (lambda request: '{"ok": true}')
        self.delay = delay
        self.models, self.logprobs = models, logprobs
        self.script: dict[str, deque] = {api: deque() for api in
                                         ("anthropic", "openai", "completions", "models")}
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def queue(self, api: str, status: int, body) -> None:
        """Answer the next request to `api` ('anthropic', 'openai', 'completions' or 'models')
        with this status and body: for 200 a text (wrapped in the API's response shape) or a
        dict (sent as it is), or for 'models' the body's text as it is (a server's garbage);
        for an error status, the error message."""
        self.script[api].append((status, body))

    def calls(self, api: str) -> list[dict]:
        return [r for r in self.requests if r["api"] == api]

    def _record(self, api: str, path: str, body: dict, headers) -> Optional[tuple]:
        """Log the request; the scripted answer for it, if any."""
        with self._lock:
            self.requests.append({"api": api, "path": path, "json": body,
                                  "headers": dict(headers)})
            return self.script[api].popleft() if self.script[api] else None

    def _answer(self, api: str, body: dict) -> dict:
        if api == "completions":
            return _completions(body, self.logprobs)
        reply = self.responder(body)
        return _anthropic(body, reply) if api == "anthropic" else _openai(body, reply)

    def _models(self, path: str, anthropic: bool) -> tuple[int, dict]:
        wanted = path.split("/models", 1)[1].strip("/")
        if wanted:  # GET /models/{id}: Anthropic's lookup of one model
            if self.models is not None and wanted not in self.models:
                return 404, _error("anthropic" if anthropic else "openai",
                                   f"model: {wanted} not found")
            return 200, {"type": "model", "id": wanted, "display_name": wanted,
                         "created_at": "2025-01-01T00:00:00Z"}
        data = [{"id": m, "object": "model", "type": "model", "display_name": m,
                 "created_at": "2025-01-01T00:00:00Z", "created": 0, "owned_by": "test"}
                for m in self.models or []]
        return 200, {"object": "list", "data": data, "has_more": False,
                     "first_id": None, "last_id": None}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                path = self.path.split("?")[0].rstrip("/")
                if "/models" not in path:
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                anthropic = "anthropic-version" in {k.lower() for k in self.headers}
                scripted = server._record("models", self.path, {}, self.headers)
                if scripted is not None and scripted[0] == 200:
                    return self._send_raw(200, str(scripted[1]).encode())
                if scripted is not None:
                    return self._send(scripted[0], _error("anthropic" if anthropic else "openai",
                                                          str(scripted[1])))
                self._send(*server._models(path, anthropic))

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                path = self.path.split("?")[0].rstrip("/")
                api = ("anthropic" if path.endswith("/messages") else
                       "openai" if path.endswith("/chat/completions") else
                       "completions" if path.endswith("/completions") else None)
                if api is None:
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                scripted = server._record(api, self.path, body, self.headers)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay:
                        time.sleep(server.delay)
                    if scripted is not None and scripted[0] != 200:
                        status, reply = scripted[0], _error(api, str(scripted[1]))
                    elif scripted is not None and isinstance(scripted[1], dict):
                        status, reply = 200, scripted[1]
                    elif scripted is not None:
                        status, reply = 200, (_anthropic(body, scripted[1]) if api == "anthropic"
                                              else _openai(body, scripted[1]))
                    else:
                        status, reply = 200, server._answer(api, body)
                finally:
                    # Out of flight before the reply leaves: once the client has it, it may
                    # send the next request at once, before this thread would count down.
                    with server._lock:
                        server.in_flight -= 1
                self._send(status, reply)

            def _send(self, status, obj):
                self._send_raw(status, json.dumps(obj).encode())

            def _send_raw(self, status, raw: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if status == 429:
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(raw)

        return Handler


def _error(api: str, message: str) -> dict:
    if api == "anthropic":
        return {"type": "error", "error": {"type": "test_error", "message": message}}
    return {"error": {"message": message, "type": "test_error", "param": None, "code": None}}


def _parts(reply: Reply) -> tuple[str, str, int]:
    """(text, finish reason, completion tokens) of a responder's reply."""
    if isinstance(reply, dict):
        return (reply["text"], reply.get("finish_reason", "stop"),
                reply.get("completion_tokens", 7))
    return reply, "stop", 7


def _anthropic(req: dict, reply: Reply) -> dict:
    text, finish, n = _parts(reply)
    return {"id": "msg_test", "type": "message", "role": "assistant", "model": req["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens" if finish == "length" else "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 11, "output_tokens": n}}


def _openai(req: dict, reply: Reply) -> dict:
    text, finish, n = _parts(reply)
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0,
            "model": req["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 11, "completion_tokens": n, "total_tokens": 11 + n}}


def _completions(req: dict, logprobs: bool) -> dict:
    """The prompt echoed with its tokens' log-probs (the first has none), then one token."""
    prompt = req["prompt"]
    toks = tokens(prompt)
    lp = None
    if logprobs and req.get("echo") and req.get("logprobs") is not None:
        values = [None] + [token_logprob(t) for _, t in toks[1:]]
        lp = {"tokens": [t for _, t in toks] + [GENERATED],
              "token_logprobs": values + [-1.0],
              "text_offset": [o for o, _ in toks] + [len(prompt)],
              "top_logprobs": [None] + [{t: token_logprob(t)} for _, t in toks[1:]]
              + [{GENERATED: -1.0}]}
    return {"id": "cmpl-test", "object": "text_completion", "created": 0, "model": req["model"],
            "choices": [{"index": 0, "text": (prompt if req.get("echo") else "") + GENERATED,
                         "finish_reason": "length", "logprobs": lp}],
            "usage": {"prompt_tokens": len(toks), "completion_tokens": 1,
                      "total_tokens": len(toks) + 1}}
