"""What a model source can do for a run. A source is where one side's texts come from: local
weights (HF id, directory, organism), a file of answers (`outputs:PATH`), or an endpoint
(`openai:MODEL`, `anthropic:MODEL`). Each says what it can do — answer new prompts, give
log-probs of a text — and an analysis that needs what a source lacks refuses it with the
reason `lacks()` gives."""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Optional, Protocol

import numpy as np
import pandas as pd

from ...config import ModelDiffError
from ...progress import ProgressCallback


def sample_seed(seed: int, side: str, prompt_id: int, sample_idx: int) -> int:
    """One seed per generated row (the vLLM engine's and an endpoint's): samples of a prompt
    differ, and a rerun sends the same requests (which a cache answers)."""
    raw = f"{seed}:{side}:{prompt_id}:{sample_idx}".encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:4], "big")


class Scorer(Protocol):
    """log p(text, then end of text | prompt) under one model, for the generative test;
    `end=False`: the text's tokens only (a text cut right after an edited word)."""

    def sum_logprobs(self, texts: list[str], prompts: Optional[list[str]],
                     use_chat_template: bool = True, end: bool = True) -> np.ndarray: ...


class Source(ABC):
    """One side of a pair. Constructors only store; `check()` does the cheap checks (files,
    arguments, keys, URLs) before anything is loaded, generated or stored."""
    answers_prompts: bool = True  # can it answer a prompt it has not seen (generation, probing)?

    def __init__(self, spec):
        self.spec = spec

    @abstractmethod
    def check(self, settings) -> None:
        """Raise ModelDiffError with a one-line reason when this source cannot serve a run with
        these GenerationSettings (no file, a bad column, no key, an unreachable server)."""

    def prepare(self, progress: Optional[ProgressCallback] = None) -> None:
        """The expensive part of getting ready (build an organism, load weights), after every
        cheap check of both sides has passed. Nothing, for a source with nothing to load."""
        return None

    @abstractmethod
    def generate(self, store, run_id: str, side: str, prompts: pd.DataFrame, settings,
                 progress: Optional[ProgressCallback] = None) -> int:
        """Store this side's texts for every (prompt, sample) not stored yet; returns rows
        written. `prompts`: the run's prompts (prompt_id, prompt, …); `settings`: the run's
        GenerationSettings."""

    def answer(self, prompt: str, settings, seeds: list[int], run_id: Optional[str] = None) -> list[str]:
        """One answer to a new prompt per seed, sampled with a run's GenerationSettings (the
        probe game's hidden model); `run_id`: what an endpoint's calls count under."""
        raise ModelDiffError(self.lacks_answers() or f"{self.spec.label} cannot answer prompts")

    def lacks_answers(self) -> Optional[str]:
        """Why this source cannot answer a prompt it has not seen (None when it can)."""
        if self.answers_prompts:
            return None
        return f"{self.spec.label} is a file of answers: it cannot answer a new prompt"

    def scorer(self) -> Optional[Scorer]:
        """Log-probs of texts under this model, or None when the source has none."""
        return None

    def lacks_logprobs(self) -> Optional[str]:
        """Why this source gives no log-probs (None when it does)."""
        return None if self.scorer() is not None else f"no log-probs for {self.spec.label}"
