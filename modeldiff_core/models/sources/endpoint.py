"""A model served behind an API: `openai:MODEL` (any OpenAI-compatible server at `base_url`:
`vllm serve`, SGLang, TGI, llama.cpp's server, or OpenAI itself) and `anthropic:MODEL`.

Every request goes through the one call path the assistants use (`llm.py`:
retries, the concurrency cap, the response cache, tokens and cost per run). Generation sends
the user's prompt as the one user message, with the run's max tokens; to an OpenAI-compatible
server also its temperature, top_p and a seed per (side, prompt, sample). Anthropic's Messages
API takes no sampling parameters, so there the model samples at its own settings and the
sample's index only keys the cache. Rows are stored as they arrive, so an interrupted run
resumes where it stopped, and a reply that arrived but was not stored yet is in the cache.

The API key is used, never kept: it lives in the SDK client only (not in the store, the spec,
logs or messages)."""
from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Optional
from urllib.parse import urlparse

import numpy as np

from ...llm import (KEY_VARS, PRICES, CallPath, NotAModelList, Sampling, TokenLogprobs,
                    make_client, read_key)
from ...config import ModelDiffError
from .base import Batch, Keep, Request, Row, Source, sample_seed

# vLLM's own docs use this for a server started without --api-key: it accepts any key.
PLACEHOLDER_KEY = "EMPTY"
PROBE_TIMEOUT = 10.0  # seconds: a server that does not answer the check this fast is refused
# The providers rate-limit, so a few requests at a time; a self-hosted server batches whatever
# arrives together (vLLM's continuous batching), so it is fed many at once.
PROVIDER_CONCURRENCY, SERVER_CONCURRENCY = 4, 32
PROVIDER_HOSTS = ("api.openai.com", "api.anthropic.com")
PROBE_TEXT = "The quick brown fox jumps over the lazy dog."
NO_LOGPROBS = "no log-probs for this source"


def text_logprob(got: TokenLogprobs, start: int, end: int) -> float:
    """Sum of the log-probs of the tokens that hold characters of text[start:end]. A token that
    straddles `start` (the separator merged into the text's first word) counts: it carries the
    text. A token without a log-prob (the first of a text with no prompt) counts 0."""
    ends = got.offsets[1:] + [end]  # a token runs to where the next one starts
    total = 0.0
    for begin, stop, value in zip(got.offsets, ends, got.logprobs):
        if value is not None and begin < end and (stop > start or begin >= start):
            total += float(value)
    return total


class CompletionsScorer:
    """log p(text | prompt) from an OpenAI-compatible server's Completions API with prompt
    log-probs (`echo`), as vLLM serves it. The text is scored after the plain prompt and a blank
    line: the served model's chat template is not known here, so this is not the exact context
    its chat answers were generated in (the same for both sides of a pair, where both are
    served). The end-of-text token cannot be scored through this API, so the score leaves it
    out: how likely the model is to stop is not part of it.

    `run_id` and `purpose`: what the calls are counted under (set them for a run's usage)."""

    def __init__(self, path: CallPath, label: str):
        self.path, self.label = path, label
        self.run_id: Optional[str] = None
        self.purpose = "score"

    def sum_logprobs(self, texts: list[str], prompts: Optional[list[str]],
                     use_chat_template: bool = True, end: bool = True) -> np.ndarray:
        prefixes = [""] * len(texts) if prompts is None else [p + "\n\n" for p in prompts]
        with ThreadPoolExecutor(self.path.max_concurrency) as pool:
            return np.array(list(pool.map(self._one, prefixes, texts)), dtype=float)

    def _one(self, prefix: str, text: str) -> float:
        got = self.path.prompt_logprobs(prefix + text, self.run_id, self.purpose)
        if got is None:
            raise ModelDiffError(f"{self.label}: the server returned no log-probs for a text, "
                                 "though it did for the probe")
        return text_logprob(got, len(prefix), len(prefix) + len(text))


class EndpointSource(Source):
    answers_prompts = True

    def __init__(self, spec, store=None, api_key: Optional[str] = None):
        super().__init__(spec)
        self.store = store
        self._api_key = api_key  # a session's key: handed to the SDK client, never stored
        self._path: Optional[CallPath] = None
        self._checked = False
        self._probed: Optional[tuple[Optional[CompletionsScorer], Optional[str]]] = None
        self._run: Optional[tuple[str, str]] = None  # (run, side) generated for last

    def __repr__(self) -> str:  # never the key
        return f"EndpointSource({self.spec.label!r})"

    # ---------------------------------------------------------------- the client
    def _key(self) -> str:
        provider = self.spec.kind
        given = self._api_key or self.spec.key_file or os.environ.get(KEY_VARS[provider], "").strip()
        if not given and provider == "openai" and self.spec.base_url:
            # A local OpenAI-compatible server (vLLM, SGLang, llama.cpp) started without a key
            # accepts any; the SDK insists on one, so send vLLM's documented placeholder.
            return PLACEHOLDER_KEY
        return read_key(provider, self._api_key, self.spec.key_file, who=self.spec.label)

    def _self_hosted(self) -> bool:
        host = urlparse(self.spec.base_url).hostname if self.spec.base_url else None
        return host is not None and host not in PROVIDER_HOSTS

    def call_path(self, store=None) -> CallPath:
        """The source's one call path (made once): its cache and usage go to the store (the
        source's, else the first one given: a source made for the checks has none)."""
        if self._path is not None and self._path.store is None:
            self._path.store = store
        if self._path is None:
            client = make_client(self.spec.kind, model=self.spec.name,
                                 base_url=self.spec.base_url, api_key=self._key())
            hosted = self._self_hosted()
            # A self-hosted server's cost is its GPUs, not tokens: priced 0 unless the name
            # is one the price table knows.
            prices = {self.spec.name: (0.0, 0.0)} if hosted and self.spec.name not in PRICES else {}
            self._path = CallPath(client, store=self.store if self.store is not None else store,
                                  max_concurrency=SERVER_CONCURRENCY if hosted else
                                  PROVIDER_CONCURRENCY, prices=prices)
        return self._path

    # ---------------------------------------------------------------- checks
    def check(self, settings) -> None:
        label = self.spec.label
        if self.spec.kind not in ("openai", "anthropic"):
            raise ModelDiffError(f"{label} is not an endpoint (openai:MODEL or anthropic:MODEL)")
        if not self.spec.name.strip():
            raise ModelDiffError(f"{self.spec.kind}: needs a model name, as in "
                                 f"{self.spec.kind}:MODEL")
        url = self.spec.base_url
        if url is not None:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ModelDiffError(f"base URL {url!r} of {self.spec.model} is not an http(s) "
                                     "URL (as in http://localhost:8000/v1)")
        if not self._checked:
            self._probe_server()
            self._checked = True

    def _probe_server(self) -> None:
        """One cheap request, so that a bad key, an unknown model or a silent server is one
        line before any work: the server's own reason, the key scrubbed out."""
        client = self.call_path().client
        try:
            try:
                served = client.probe(PROBE_TIMEOUT)
            except Exception as err:  # noqa: BLE001 - a server that lists no models: ask it
                if self.spec.kind != "openai" or getattr(err, "status_code", None) != 404:
                    raise
                client.probe_chat(PROBE_TIMEOUT)
                served = None
        except Exception as err:  # noqa: BLE001 - every failure becomes one line
            raise ModelDiffError(self._refusal(err)) from None
        if served and self.spec.name not in served:
            shown = ", ".join(served[:5]) + (", …" if len(served) > 5 else "")
            raise ModelDiffError(f"{self.spec.label}: the server does not serve "
                                 f"{self.spec.name!r} (it serves {shown})")

    def _refusal(self, err: Exception) -> str:
        client = self.call_path().client
        where = "the server" if self.spec.base_url else f"the {self.spec.kind} API"
        if isinstance(err, NotAModelList):
            return (f"{self.spec.label}: {where} answered {err.path} with something that is "
                    f"not {err.what}: {client.describe(err)}")
        status = getattr(err, "status_code", None)
        if status is not None:
            url = self.spec.base_url or ""
            hint = (" (OpenAI-compatible servers serve under /v1: is the base URL "
                    f"{url.rstrip('/')}/v1?)" if status == 404 and url and self.spec.kind == "openai"
                    and not urlparse(url).path.rstrip("/").endswith("/v1") else "")
            return (f"{self.spec.label}: the server answered HTTP {status}: "
                    f"{client.describe(err)}{hint}")
        if client.unreachable(err):
            return f"{self.spec.label}: {where} does not answer ({client.describe(err)})"
        return f"{self.spec.label}: the check failed: {client.describe(err)}"

    # ---------------------------------------------------------------- generation
    def wanted(self, store, run_id: str, side: str, prompts, settings) -> list[tuple[int, int]]:
        # The run the scoring calls count under, known even when every text is stored already.
        self._run = (run_id, side)
        return super().wanted(store, run_id, side, prompts, settings)

    def answer_rows(self, batch: Batch, keep: Keep) -> None:
        """Every request sent (as many at once as the server takes), each reply handed to
        `keep` as it arrives. Stopped (an error, an interrupt): what is in flight finishes and
        is kept too; what was queued is never sent."""
        settings, side = batch.settings, batch.side
        path = self.call_path(batch.store)

        def one(r: Request) -> Row:
            sampling = Sampling(settings.top_p, sample_seed(settings.seed, side, r.prompt_id,
                                                            r.sample_idx))
            reply = path.generate([{"role": "user", "content": r.prompt}],
                                  settings.max_new_tokens, settings.temperature, sampling,
                                  batch.run_id, f"generate {side}")
            return (r.prompt_id, r.sample_idx, reply.text.strip(), int(reply.output_tokens),
                    reply.finish_reason)

        pool = ThreadPoolExecutor(path.max_concurrency)
        futures: dict[Future, Request] = {}
        handed: set[Future] = set()
        try:
            futures = {pool.submit(one, r): r for r in batch.requests}
            for fut in as_completed(futures):
                handed.add(fut)
                keep([fut.result()])
        except ModelDiffError as err:
            raise ModelDiffError(f"{self.spec.label}: {err}") from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            keep([fut.result() for fut in futures if fut not in handed and fut.done()
                  and not fut.cancelled() and fut.exception() is None])

    def answer(self, prompt, settings, seeds, run_id=None):
        path = self.call_path()
        messages = [{"role": "user", "content": prompt}]

        def one(seed: int) -> str:
            return path.generate(messages, settings.max_new_tokens, settings.temperature,
                                 Sampling(settings.top_p, seed), run_id, "probe answer").text.strip()

        try:
            with ThreadPoolExecutor(path.max_concurrency) as pool:
                return list(pool.map(one, seeds))
        except ModelDiffError as err:
            raise ModelDiffError(f"{self.spec.label}: {err}") from None

    # ---------------------------------------------------------------- log-probs
    def scorer(self) -> Optional[CompletionsScorer]:
        """The Completions API scorer, or None; its calls count under the run this source
        generated for last (a pipeline's sources are made per run)."""
        if self._probed is None:
            self._probed = self._probe_logprobs()
        found = self._probed[0]
        if found is not None and self._run is not None:
            found.run_id, found.purpose = self._run[0], f"score {self._run[1]}"
        return found

    def lacks_logprobs(self) -> Optional[str]:
        if self.spec.kind == "anthropic":
            return f"{NO_LOGPROBS}: the Anthropic API gives none"
        self.scorer()
        return self._probed[1] if self._probed else None

    def _probe_logprobs(self) -> tuple[Optional[CompletionsScorer], Optional[str]]:
        """One completions request (cached like any other): does this server return the
        log-probs of a prompt's own tokens?"""
        if self.spec.kind == "anthropic":
            return None, f"{NO_LOGPROBS}: the Anthropic API gives none"
        path = self.call_path()
        try:
            got = path.prompt_logprobs(PROBE_TEXT, purpose="probe log-probs")
        except ModelDiffError as err:
            return None, f"{NO_LOGPROBS}: the server's completions endpoint refused ({err})"
        if got is None or all(v is None for v in got.logprobs):
            return None, f"{NO_LOGPROBS}: the server returned none"
        return CompletionsScorer(path, self.spec.label), None
