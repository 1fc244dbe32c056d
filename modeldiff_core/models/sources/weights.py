"""Local weights (a HF id, a directory or a built-in organism): generation by HF generate or,
on CUDA, by vLLM's offline engine; log-probs by a forward pass."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...config import ModelDiffError
from ...progress import ProgressCallback
from .. import organisms
from ..spec import check_spec, ensure_built
from .base import Batch, Keep, Source


class WeightsScorer:
    def __init__(self, lm):
        self.lm = lm

    def sum_logprobs(self, texts: list[str], prompts: Optional[list[str]],
                     use_chat_template: bool = True, end: bool = True) -> np.ndarray:
        from ..scoring import sum_logprobs

        return sum_logprobs(self.lm, texts, prompts, use_chat_template=use_chat_template,
                            end=end)


class WeightsSource(Source):
    def __init__(self, spec, cache):
        super().__init__(spec)
        self.cache = cache

    def check(self, settings) -> None:
        from ..generation import context_limit_of

        config = check_spec(self.spec)
        if self.spec.engine == "vllm":
            from .vllm_engine import check_vllm

            check_vllm(self.spec)
        # The prompt needs a position too.
        limit = organisms.CONTEXT if config is None else context_limit_of(config)
        if limit is not None and settings.max_new_tokens >= limit:
            raise ModelDiffError(f"max new tokens {settings.max_new_tokens} does not fit "
                                 f"{self.spec.label}: its context is {limit} positions, so at "
                                 f"most {limit - 1}")

    def prepare(self, progress: Optional[ProgressCallback] = None) -> None:
        ensure_built(self.spec, progress)
        if self.spec.engine == "hf":
            self.cache.get(self.spec)

    def label(self, side: str) -> str:
        return f"generate {side}" + (" (vLLM)" if self.spec.engine == "vllm" else "")

    def answer_rows(self, batch: Batch, keep: Keep) -> None:
        if self.spec.engine == "vllm":
            from .vllm_engine import vllm_answers

            return vllm_answers(self.spec, batch, keep)
        from ..generation import hf_answers

        hf_answers(self.cache.get(self.spec), batch, keep)

    def answer(self, prompt, settings, seeds, run_id=None):
        """HF generate, whatever the run's engine (a probe is one prompt at a time, where vLLM's
        batching gains nothing): the answers sampled as one batch, seeded by the first seed."""
        from ..generation import format_prompt, generate_batch

        lm = self.cache.get(self.spec)
        chat = settings.use_chat_template and bool(getattr(lm.tokenizer, "chat_template", None))
        text = format_prompt(lm.tokenizer, prompt, settings.use_chat_template)
        return [row[0] for row in generate_batch(lm, [text] * len(seeds), settings, seeds[0], chat)]

    def scorer(self) -> WeightsScorer:
        return WeightsScorer(self.cache.get(self.spec))
