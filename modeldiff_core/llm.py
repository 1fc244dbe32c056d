"""The one call path for every LLM request — an assistant's, a served model's generation, a
served model's prompt log-probs: retries with backoff, a concurrency cap, a response cache in
DuckDB, and usage/cost accounting live here, not in the callers.

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
from typing import Any, Callable, Optional, TypeVar

from .config import ModelDiffError, read_text_file

# USD per million tokens (input, output): an estimate for the usage table, not a bill.
PRICES = {
    "claude-sonnet-4-5": (3.0, 15.0), "claude-sonnet-4-6": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-opus-4-1": (15.0, 75.0), "gpt-4.1": (2.0, 8.0), "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6),
}
DEFAULT_PRICE = (3.0, 15.0)


def estimated_cost(model: str, tokens_in: int, tokens_out: int) -> float:
    """USD at the model's list price (PRICES; DEFAULT_PRICE for a model not listed)."""
    price_in, price_out = PRICES.get(model, DEFAULT_PRICE)
    return (tokens_in * price_in + tokens_out * price_out) / 1e6
DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4.1-mini"}
KEY_VARS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
T = TypeVar("T")


class AssistantAnswerError(ModelDiffError):
    """The assistant answered, but not in the shape asked for."""


class ReplyShapeError(Exception):
    """The API answered, but its reply lacks a field every reply of this API has."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


class NotAModelList(Exception):
    """A server answered a model lookup with success, but not with what the API returns there
    (a proxy's web page, another API's JSON): it is not the server the URL was meant to name."""

    def __init__(self, path: str, what: str, body: str):
        shown = body.strip()
        super().__init__(repr(shown[:120]) + ("…" if len(shown) > 120 else "") if shown
                         else "an empty body")
        self.path, self.what = path, what


def _looked_up(raw, what: str, ok: Callable[[Any], bool]) -> Any:
    """The JSON body of a raw SDK response to a model lookup, if `ok` accepts it."""
    http = raw.http_response
    try:
        body = json.loads(http.text)
    except ValueError:
        body = None
    if not ok(body):
        raise NotAModelList(http.url.path, what, http.text)
    return body


@dataclass
class ChatReply:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str = "eos"  # "length" when the reply hit max_tokens


@dataclass(frozen=True)
class Sampling:
    """A generation request's sampling beyond temperature. `seed` makes a sample reproducible
    where the API takes one (OpenAI-compatible servers); either way it keys the cache, so the
    samples of one prompt are distinct requests yet each is cached."""
    top_p: float = 1.0
    seed: Optional[int] = None


@dataclass
class TokenLogprobs:
    """A text's tokens as the server split it: where each starts (characters) and its log-prob
    (None for the first, which has nothing before it to be predicted from)."""
    offsets: list[int]
    logprobs: list[Optional[float]]
    input_tokens: int = 0


def read_key(provider: str, api_key: Optional[str], key_file: Optional[str],
              who: str = "") -> str:
    """The key given (a session's), else the key file's, else the environment's; `who` names
    what needs it in the error (the assistant, or a model such as openai:gpt-4o)."""
    if api_key:
        return api_key
    if key_file:
        key = read_text_file(key_file, f"{provider} key file").strip()
        if key:
            return key
        raise ModelDiffError(f"{provider} key file {key_file} is empty")
    key = os.environ.get(KEY_VARS[provider], "").strip()
    if not key:
        raise ModelDiffError(f"{who or f'the {provider} assistant'} needs an API key: set "
                             f"{KEY_VARS[provider]} or give a key file")
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
    def send(self, system: str, messages: list[dict], max_tokens: int, temperature: float,
             sampling: Optional[Sampling] = None) -> ChatReply:
        """An assistant's request (`sampling` None) or a generation (`sampling` given: the
        run's temperature, top_p and seed are sent; an empty `system` sends none)."""

    def prompt_logprobs(self, text: str) -> Optional[TokenLogprobs]:
        """Log-probs of the tokens of `text` itself, or None where the API gives none."""
        return None

    def probe(self, timeout: float) -> Optional[list[str]]:
        """One cheap request that fails the way a real one would (bad key, unknown model, no
        server); the models the server lists, where it lists them."""
        raise NotImplementedError

    def retryable(self, err: Exception) -> bool:
        """429, 408, 5xx, timeouts and dropped connections are worth another try."""
        sdk = self._sdk
        if sdk is None:
            return False
        if isinstance(err, (sdk.RateLimitError, sdk.APITimeoutError, sdk.APIConnectionError)):
            return True
        return isinstance(err, sdk.APIStatusError) and (err.status_code >= 500
                                                        or err.status_code == 408)

    def unreachable(self, err: Exception) -> bool:
        """No answer at all: refused connection, unknown host, timeout."""
        return self._sdk is not None and isinstance(err, self._sdk.APIConnectionError)

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
        self._client = anthropic.Anthropic(api_key=read_key("anthropic", api_key, key_file),
                                           base_url=base_url, max_retries=0, timeout=timeout)

    def send(self, system, messages, max_tokens, temperature, sampling=None):
        # This Messages API takes no sampling parameters (no temperature, top_p or seed): the
        # model samples at its own settings, and `temperature` and `sampling` key the cache only
        # (so the samples of one prompt are still distinct requests).
        extra: dict[str, Any] = {"system": system} if system else {}
        msg = self._client.messages.create(model=self.model, messages=messages,
                                           max_tokens=max_tokens, **extra)
        content = getattr(msg, "content", None)
        if not isinstance(content, list):
            raise ReplyShapeError("content")
        text = "".join(getattr(b, "text", None) or "" for b in content
                       if getattr(b, "type", "") == "text")
        usage = getattr(msg, "usage", None)
        stop = getattr(msg, "stop_reason", None)
        return ChatReply(text, getattr(usage, "input_tokens", 0) or 0,
                         getattr(usage, "output_tokens", 0) or 0,
                         "length" if stop == "max_tokens" else "eos")

    def probe(self, timeout):
        # GET /v1/models/{model}: an unknown model is a 404, a bad key a 401; costs nothing.
        raw = self._client.with_options(timeout=timeout,
                                        max_retries=0).models.with_raw_response.retrieve(self.model)
        _looked_up(raw, "a model", lambda b: isinstance(b, dict) and isinstance(b.get("id"), str))
        return None


class OpenAIClient(ChatClient):
    provider = "openai"

    def __init__(self, model: Optional[str] = None, api_key: Optional[str] = None,
                 key_file: Optional[str] = None, base_url: Optional[str] = None,
                 timeout: float = 60.0):
        import openai

        super().__init__(model or DEFAULT_MODELS["openai"], base_url)
        self._sdk = openai
        self._client = openai.OpenAI(api_key=read_key("openai", api_key, key_file),
                                     base_url=base_url, max_retries=0, timeout=timeout)

    def send(self, system, messages, max_tokens, temperature, sampling=None):
        extra: dict[str, Any] = {}
        if sampling is not None:
            extra["top_p"] = sampling.top_p
            if sampling.seed is not None:
                extra["seed"] = sampling.seed
        head = [{"role": "system", "content": system}] if system else []
        resp = self._client.chat.completions.create(
            model=self.model, messages=[*head, *messages], max_tokens=max_tokens,
            temperature=temperature, **extra)
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise ReplyShapeError("choices")
        message = getattr(choices[0], "message", None)
        if message is None:
            raise ReplyShapeError("choices[0].message")
        usage = getattr(resp, "usage", None)
        finish = getattr(choices[0], "finish_reason", None)
        return ChatReply(getattr(message, "content", None) or "",
                         getattr(usage, "prompt_tokens", 0) or 0,
                         getattr(usage, "completion_tokens", 0) or 0,
                         "length" if finish == "length" else "eos")

    def prompt_logprobs(self, text):
        # The Completions API with echo returns the prompt's own tokens with their log-probs
        # (vLLM and SGLang do; OpenAI's chat models have no such endpoint). One token must be
        # generated with it on most servers; it starts at len(text) and is dropped here.
        resp = self._client.completions.create(model=self.model, prompt=text, echo=True,
                                               logprobs=1, max_tokens=1, temperature=0.0)
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise ReplyShapeError("choices")
        lp = getattr(choices[0], "logprobs", None)
        offsets = getattr(lp, "text_offset", None) or []
        values = getattr(lp, "token_logprobs", None) or []
        if not offsets or len(offsets) != len(values) or all(v is None for v in values):
            return None
        kept = [(int(o), v) for o, v in zip(offsets, values) if o < len(text)]
        usage = getattr(resp, "usage", None)
        return TokenLogprobs([o for o, _ in kept], [v for _, v in kept],
                             getattr(usage, "prompt_tokens", 0) or 0)

    def probe(self, timeout):
        # GET {base}/models: answers with the served models (vLLM, SGLang, llama.cpp, OpenAI).
        raw = self._client.with_options(timeout=timeout, max_retries=0).models.with_raw_response.list()
        body = _looked_up(raw, "a model list", lambda b: isinstance(b, dict) and isinstance(
            b.get("data"), list) and all(isinstance(m, dict) and isinstance(m.get("id"), str)
                                         for m in b["data"]))
        return [m["id"] for m in body["data"]]

    def probe_chat(self, timeout: float) -> None:
        """A 1-token request, for a server that lists no models (GET /models is a 404)."""
        self._client.with_options(timeout=timeout, max_retries=0).chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": "hi"}], max_tokens=1)


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
        self.max_concurrency = max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._count_lock = threading.Lock()
        self.calls_made = 0
        self.delays: list[float] = []

    def _key(self, system, messages, max_tokens, temperature) -> str:
        return self._hash([self.client.provider, self.client.model, system, messages, max_tokens,
                           temperature])

    def _served_key(self, *parts) -> str:
        """A served model's request: the server is part of the key, since two servers may
        serve different weights under one name (say, the same model quantized two ways)."""
        return self._hash([self.client.provider, self.client.model, self.client.base_url,
                           *parts])

    @staticmethod
    def _hash(parts: list) -> str:
        raw = json.dumps(parts, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()

    def _send_with_retries(self, send: Callable[[], T], purpose: str = "") -> T:
        attempt = 0
        while True:
            try:
                with self._slots:
                    with self._count_lock:
                        self.calls_made += 1
                    return send()
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
        reply = self._send_with_retries(
            lambda: self.client.send(system, messages, max_tokens, temperature), purpose)
        self._record(run_id, purpose, reply)
        if save and self.store is not None:
            self.store.save_response(key, self.client.provider, self.client.model, reply.text)
        return reply.text

    def generate(self, messages: list[dict], max_tokens: int, temperature: float,
                 sampling: Sampling, run_id: Optional[str] = None,
                 purpose: str = "") -> ChatReply:
        """A served model's answer with the run's sampling: no system prompt, the sample's
        seed in the request and the key. Cached as text, tokens and finish reason."""
        key = self._served_key("generate", messages, max_tokens, temperature, sampling.top_p,
                               sampling.seed)
        hit = self.store.cached_response(key) if self.store is not None else None
        if hit is not None:
            self._record(run_id, purpose, None)
            return ChatReply(**json.loads(hit))
        reply = self._send_with_retries(
            lambda: self.client.send("", messages, max_tokens, temperature, sampling), purpose)
        self._record(run_id, purpose, reply)
        if self.store is not None:
            self.store.save_response(key, self.client.provider, self.client.model,
                                     json.dumps(reply.__dict__, ensure_ascii=False))
        return reply

    def prompt_logprobs(self, text: str, run_id: Optional[str] = None,
                        purpose: str = "") -> Optional[TokenLogprobs]:
        """The log-prob of each token of `text` under the served model; None (never cached)
        when the server returns none."""
        key = self._served_key("prompt_logprobs", text)
        hit = self.store.cached_response(key) if self.store is not None else None
        if hit is not None:
            self._record(run_id, purpose, None)
            return TokenLogprobs(**json.loads(hit))
        got = self._send_with_retries(lambda: self.client.prompt_logprobs(text), purpose)
        self._record(run_id, purpose, ChatReply("", got.input_tokens if got else 0, 0))
        if got is not None and self.store is not None:
            self.store.save_response(key, self.client.provider, self.client.model,
                                     json.dumps(got.__dict__))
        return got

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
