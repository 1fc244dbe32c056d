"""What a model source can do for a run. A source is where one side's texts come from: local
weights (HF id, directory, organism), a file of answers (`outputs:PATH`), or an endpoint
(`openai:MODEL`, `anthropic:MODEL`). Each says what it can do — answer new prompts, give
log-probs of a text — and an analysis that needs what a source lacks refuses it with the
reason `lacks()` gives."""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

import numpy as np
import pandas as pd

from ...config import ModelDiffError
from ...progress import ProgressCallback


def sample_seed(seed: int, side: str, prompt_id: int, sample_idx: int) -> int:
    """One seed per generated row (the vLLM engine's and an endpoint's): samples of a prompt
    differ, and a rerun sends the same requests (which a cache answers)."""
    raw = f"{seed}:{side}:{prompt_id}:{sample_idx}".encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:4], "big")


@dataclass(frozen=True)
class Request:
    """One text a run wants from a side: the answer to prompt `prompt_id`, sample `sample_idx`."""
    prompt_id: int
    sample_idx: int
    prompt: str


@dataclass(frozen=True)
class Batch:
    """What a source is asked: the requests of one side of one run, with the run's sampling."""
    run_id: str
    side: str
    requests: list[Request]
    settings: object  # GenerationSettings
    store: object = None  # the run's store: where an endpoint keeps its calls' cache and usage


# One answered request: (prompt_id, sample_idx, text, n_tokens, finish_reason). finish_reason is
# "eos", "length" or, for a file's answer, "imported".
Row = tuple[int, int, str, int, str]
Keep = Callable[[list[Row]], None]


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

    def label(self, side: str) -> str:
        """What the progress bar calls this side's work."""
        return f"generate {side}"

    def wanted(self, store, run_id: str, side: str, prompts: pd.DataFrame,
               settings) -> list[tuple[int, int]]:
        """The (prompt_id, sample_idx) rows this side gives the run: every prompt of the run
        `samples_per_prompt` times (a file of answers: the rows it holds)."""
        return [(int(pid), s) for pid in prompts["prompt_id"]
                for s in range(settings.samples_per_prompt)]

    @abstractmethod
    def answer_rows(self, batch: Batch, keep: Keep) -> None:
        """Answer every request of the batch, handing each finished chunk of rows to `keep` as
        it finishes (and, when stopped, what had finished). A source only answers:
        `stages.generate.generate_side` skips what is stored, stores and reports progress."""

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
