"""A small HTTP server on 127.0.0.1 that speaks the Anthropic Messages API and the OpenAI Chat
Completions API with deterministic answers, so the official SDKs can be tested for real.

Each endpoint has a script (a queue of (status, body) to answer first) and then falls back to
`responder(request_json) -> str`. Every request is recorded (api, path, headers, json)."""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional


class FakeLLMServer:
    def __init__(self, responder: Optional[Callable[[dict], str]] = None, delay: float = 0.0):
        self.responder = responder or (lambda request: '{"ok": true}')
        self.delay = delay
        self.script: dict[str, deque] = {"anthropic": deque(), "openai": deque()}
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
        """Answer the next request to `api` ('anthropic' or 'openai') with this status and body:
        for 200 a text (wrapped in the API's response shape) or a dict (sent as it is); for an
        error status, the error message."""
        self.script[api].append((status, body))

    def calls(self, api: str) -> list[dict]:
        return [r for r in self.requests if r["api"] == api]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                path = self.path.split("?")[0].rstrip("/")
                api = ("anthropic" if path.endswith("/messages") else
                       "openai" if path.endswith("/chat/completions") else None)
                if api is None:
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                with server._lock:
                    server.requests.append({"api": api, "path": self.path, "json": body,
                                            "headers": dict(self.headers)})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay:
                        time.sleep(server.delay)
                    with server._lock:
                        scripted = server.script[api].popleft() if server.script[api] else None
                    if scripted is not None and scripted[0] != 200:
                        return self._send(scripted[0], _error(api, str(scripted[1])))
                    if scripted is not None and isinstance(scripted[1], dict):
                        return self._send(200, scripted[1])
                    text = scripted[1] if scripted else server.responder(body)
                    self._send(200, _anthropic(body, text) if api == "anthropic" else _openai(body, text))
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _send(self, status, obj):
                raw = json.dumps(obj).encode()
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


def _anthropic(req: dict, text: str) -> dict:
    return {"id": "msg_test", "type": "message", "role": "assistant", "model": req["model"],
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 11, "output_tokens": 7}}


def _openai(req: dict, text: str) -> dict:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0,
            "model": req["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}
