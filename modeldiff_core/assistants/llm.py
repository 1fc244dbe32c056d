"""The one call path for every LLM assistant request: retries with backoff, a concurrency cap,
a response cache in DuckDB, and usage/cost accounting live here, not in the callers.

API keys are held only inside the SDK client objects: never in the store, logs, reprs or error
messages."""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ..config import ModelDiffError

# USD per million tokens (input, output): an estimate for the usage table, not a bill.
PRICES = {
    "claude-sonnet-4-5": (3.0, 15.0), "claude-sonnet-4-6": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-opus-4-1": (15.0, 75.0), "gpt-4.1": (2.0, 8.0), "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6),
}
DEFAULT_PRICE = (3.0, 15.0)
DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4.1-mini"}
KEY_VARS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


class AssistantAnswerError(ModelDiffError):
    """The assistant answered, but not in the shape asked for."""


class ReplyShapeError(Exception):
    """The API answered, but its reply lacks a field every reply of this API has."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


@dataclass
class ChatReply:
    text: str
    input_tokens: int
    output_tokens: int


def _read_key(provider: str, api_key: Optional[str], key_file: Optional[str]) -> str:
    if api_key:
        return api_key
    if key_file:
        path = Path(key_file).expanduser()
        if not path.is_file():
            raise ModelDiffError(f"{provider} key file {key_file} does not exist")
        key = path.read_text().strip()
        if key:
            return key
        raise ModelDiffError(f"{provider} key file {key_file} is empty")
    key = os.environ.get(KEY_VARS[provider], "").strip()
    if not key:
        raise ModelDiffError(f"the {provider} assistant needs an API key: set {KEY_VARS[provider]} "
                             "or give a key file")
    return key


class ChatClient(ABC):
    """One provider's chat endpoint. Subclasses set `_sdk` (the SDK module, for its exception
    classes) and `_client` (the SDK client, the only holder of the key)."""
    provider: str
    _sdk: Any = None
    _client: Any = None

    def __init__(self, model: str, base_url: Optional[str]):
        self.model, self.base_url = model, base_url

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    @abstractmethod
    def send(self, system: str, messages: list[dict], max_tokens: int,
             temperature: float) -> ChatReply: ...

    def retryable(self, err: Exception) -> bool:
        """429, 408, 5xx, timeouts and dropped connections are worth another try."""
        sdk = self._sdk
        if sdk is None:
            return False
        if isinstance(err, (sdk.RateLimitError, sdk.APITimeoutError, sdk.APIConnectionError)):
            return True
        return isinstance(err, sdk.APIStatusError) and (err.status_code >= 500
                                                        or err.status_code == 408)

    def describe(self, err: Exception) -> str:
        """One short line for an SDK error: the API's own message, with the key scrubbed out
        (some servers echo the key they rejected)."""
        body = getattr(err, "body", None)
        inner = body.get("error", body) if isinstance(body, dict) else None
        msg = inner.get("message") if isinstance(inner, dict) else None
        msg = str(msg or getattr(err, "message", None) or err).strip() or type(err).__name__
        key = getattr(self._client, "api_key", None)
        if isinstance(key, str) and key:
            msg = msg.replace(key, "***")
        return msg.splitlines()[0][:200]


class AnthropicClient(ChatClient):
    provider = "anthropic"

    def __init__(self, model: Optional[str] = None, api_key: Optional[str] = None,
                 key_file: Optional[str] = None, base_url: Optional[str] = None,
                 timeout: float = 60.0):
        import anthropic

        super().__init__(model or DEFAULT_MODELS["anthropic"], base_url)
        self._sdk = anthropic
        self._client = anthropic.Anthropic(api_key=_read_key("anthropic", api_key, key_file),
                                           base_url=base_url, max_retries=0, timeout=timeout)

    def send(self, system, messages, max_tokens, temperature):
        # This Messages API has no sampling parameters; temperature only keys the cache.
        msg = self._client.messages.create(model=self.model, system=system, messages=messages,
                                           max_tokens=max_tokens)
        content = getattr(msg, "content", None)
        if not isinstance(content, list):
            raise ReplyShapeError("content")
        text = "".join(getattr(b, "text", None) or "" for b in content
                       if getattr(b, "type", "") == "text")
        usage = getattr(msg, "usage", None)
        return ChatReply(text, getattr(usage, "input_tokens", 0) or 0,
                         getattr(usage, "output_tokens", 0) or 0)


class OpenAIClient(ChatClient):
    provider = "openai"

    def __init__(self, model: Optional[str] = None, api_key: Optional[str] = None,
                 key_file: Optional[str] = None, base_url: Optional[str] = None,
                 timeout: float = 60.0):
        import openai

        super().__init__(model or DEFAULT_MODELS["openai"], base_url)
        self._sdk = openai
        self._client = openai.OpenAI(api_key=_read_key("openai", api_key, key_file),
                                     base_url=base_url, max_retries=0, timeout=timeout)

    def send(self, system, messages, max_tokens, temperature):
        resp = self._client.chat.completions.create(
            model=self.model, messages=[{"role": "system", "content": system}, *messages],
            max_tokens=max_tokens, temperature=temperature)
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise ReplyShapeError("choices")
        message = getattr(choices[0], "message", None)
        if message is None:
            raise ReplyShapeError("choices[0].message")
        usage = getattr(resp, "usage", None)
        return ChatReply(getattr(message, "content", None) or "",
                         getattr(usage, "prompt_tokens", 0) or 0,
                         getattr(usage, "completion_tokens", 0) or 0)


def make_client(kind: str, model: Optional[str] = None, base_url: Optional[str] = None,
                key_file: Optional[str] = None, api_key: Optional[str] = None) -> ChatClient:
    if kind == "anthropic":
        return AnthropicClient(model, api_key, key_file, base_url)
    if kind == "openai":
        return OpenAIClient(model, api_key, key_file, base_url)
    raise ModelDiffError(f"unknown assistant kind {kind!r}; choose anthropic or openai")


_JSON_START = re.compile(r"[\[{]")


def parse_json_answer(text: str) -> Any:
    """The first JSON object or array in an answer, tolerating code fences and prose around it."""
    decoder = json.JSONDecoder()
    for m in _JSON_START.finditer(text):
        try:
            return decoder.raw_decode(text, m.start())[0]
        except json.JSONDecodeError:
            continue
    raise ValueError("no JSON object or array in the answer")


class CallPath:
    def __init__(self, client: ChatClient, store=None, max_retries: int = 5,
                 backoff_base: float = 1.0, backoff_max: float = 30.0, max_concurrency: int = 4,
                 sleep: Callable[[float], None] = time.sleep,
                 prices: Optional[dict[str, tuple[float, float]]] = None):
        self.client, self.store = client, store
        self.prices = {**PRICES, **(prices or {})}
        self.max_retries, self.backoff_base, self.backoff_max = max_retries, backoff_base, backoff_max
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._count_lock = threading.Lock()
        self.calls_made = 0
        self.delays: list[float] = []

    def _key(self, system, messages, max_tokens, temperature) -> str:
        raw = json.dumps([self.client.provider, self.client.model, system, messages, max_tokens,
                          temperature], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()

    def _send_with_retries(self, system, messages, max_tokens, temperature,
                           purpose: str = "") -> ChatReply:
        attempt = 0
        while True:
            try:
                with self._slots:
                    with self._count_lock:
                        self.calls_made += 1
                    return self.client.send(system, messages, max_tokens, temperature)
            except ReplyShapeError as err:
                where = self.client.base_url or f"the {self.client.provider} API"
                raise AssistantAnswerError(
                    f"{where} answered the '{purpose or 'assistant'}' request without the "
                    f"'{err.field}' field of a {self.client.provider} reply (is the server "
                    f"{self.client.provider}-compatible?)") from None
            except Exception as err:  # noqa: BLE001 - sorted into retryable or not below
                if not self.client.retryable(err):
                    status = getattr(err, "status_code", None)
                    where = f" (HTTP {status})" if status else ""
                    raise ModelDiffError(f"{self.client.provider} request failed{where}: "
                                         f"{self.client.describe(err)}") from None
                if attempt >= self.max_retries:
                    raise ModelDiffError(f"{self.client.provider} request failed after "
                                         f"{attempt + 1} tries: {self.client.describe(err)}") from None
                # Jitter, so parallel callers do not retry in step; the cap holds after it.
                delay = min(self.backoff_max,
                            self.backoff_base * 2 ** attempt * (1 + 0.1 * random.random()))
                self.delays.append(delay)
                self._sleep(delay)
                attempt += 1

    def _record(self, run_id, purpose, reply: Optional[ChatReply]) -> None:
        if self.store is None:
            return
        tin, tout = (reply.input_tokens, reply.output_tokens) if reply else (0, 0)
        price_in, price_out = self.prices.get(self.client.model, DEFAULT_PRICE)
        cost = (tin * price_in + tout * price_out) / 1e6
        self.store.record_call(run_id, self.client.provider, self.client.model, purpose, tin, tout,
                               cost, cached=reply is None)

    def complete(self, system: str, messages: list[dict], max_tokens: int = 1024,
                 temperature: float = 0.0, run_id: Optional[str] = None, purpose: str = "",
                 use_cache: bool = True, save: bool = True) -> str:
        """Same request -> the stored answer, no second call (unless use_cache is False)."""
        key = self._key(system, messages, max_tokens, temperature)
        if use_cache and self.store is not None:
            hit = self.store.cached_response(key)
            if hit is not None:
                self._record(run_id, purpose, None)
                return hit
        reply = self._send_with_retries(system, messages, max_tokens, temperature, purpose)
        self._record(run_id, purpose, reply)
        if save and self.store is not None:
            self.store.save_response(key, self.client.provider, self.client.model, reply.text)
        return reply.text

    def complete_json(self, system: str, messages: list[dict], max_tokens: int = 1024,
                      temperature: float = 0.0, run_id: Optional[str] = None, purpose: str = "",
                      check: Optional[Callable[[Any], Optional[str]]] = None) -> Any:
        """A JSON answer of the shape `check` accepts (it returns a complaint, or None).

        A malformed answer is asked for once more, and only a good one is ever cached."""
        def parse(text: str) -> tuple[Any, Optional[str]]:
            try:
                value = parse_json_answer(text)
            except ValueError:
                return None, "That was not valid JSON."
            return value, check(value) if check else None

        key = self._key(system, messages, max_tokens, temperature)
        text = self.complete(system, messages, max_tokens, temperature, run_id, purpose, save=False)
        value, complaint = parse(text)
        if complaint:
            # An empty assistant turn is a 400 at Anthropic, so only a non-empty answer is quoted.
            said = [{"role": "assistant", "content": text}] if text.strip() else []
            retry = [*messages, *said,
                     {"role": "user", "content": f"{complaint} Answer again with the JSON only, "
                                                 "in the shape asked for."}]
            text = self.complete(system, retry, max_tokens, temperature, run_id,
                                 f"{purpose} (retry)", use_cache=False, save=False)
            value, complaint = parse(text)
            if complaint:
                raise AssistantAnswerError(f"{self.client.provider} assistant answered "
                                           f"{purpose or 'a request'} badly twice: {complaint}")
        if self.store is not None:
            self.store.save_response(key, self.client.provider, self.client.model, text)
        return value

    def usage_summary(self, run_id: Optional[str]) -> dict:
        return self.store.usage(run_id) if self.store is not None else {}
