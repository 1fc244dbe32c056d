"""What the layer lens measures on (`LensInputs`) and how (`LensSettings`). A scale is the
factor on B's change in W_A + scale (W_B - W_A): 0 is A, 1 is B."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from ...config import ModelDiffError
from ...stages.generate import GenerationSettings

DEFAULT_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)
# The CLI's JSON and the stored lens name a scaling row's scale "alpha", as earlier versions
# wrote it: lenses stored before still render, and readers of the JSON keep working.
SCALE_KEY = "alpha"


def parse_scales(text: str) -> list[float]:
    """'0, 0.5, 1' -> [0.0, 0.5, 1.0] (typed by a researcher on the CLI or the page)."""
    try:
        scales = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ModelDiffError(f"scales must be comma-separated numbers, got {text!r}") from None
    return check_scales(scales)


def check_scales(scales: Sequence[float]) -> list[float]:
    """The scales sorted, without repeats; refuses an empty list and non-finite numbers."""
    out = [float(s) for s in scales]
    if not out or not all(math.isfinite(s) for s in out):
        raise ModelDiffError("scales must be a non-empty list of finite numbers")
    return sorted(set(out))


def _default_generation() -> GenerationSettings:
    return GenerationSettings(max_new_tokens=48)


@dataclass
class LensSettings:
    """How the lens measures. For a stored run, `generation` is replaced by the run's own."""
    scales: Sequence[float] = DEFAULT_SCALES
    window: int = 1  # consecutive layers scaled together
    n_texts: int = 200  # a run's held-out texts for the activation view
    n_evidence: int = 32  # evidence texts per hypothesis (a run's)
    n_generations: int = 32  # fresh generations per setting, for the behaviour rate
    batch_size: int = 16  # texts per forward pass when scoring
    generation: GenerationSettings = field(default_factory=_default_generation)
    max_new_tokens: Optional[int] = None  # when given, replaces generation's

    def generation_settings(self) -> GenerationSettings:
        """How fresh generations are sampled, with max_new_tokens applied."""
        if self.max_new_tokens is None:
            return self.generation
        return dataclasses.replace(self.generation, max_new_tokens=self.max_new_tokens)

    def check(self) -> list[float]:
        """Refuses settings the scaling view cannot run; returns the scales, sorted."""
        self.generation_settings().check()
        return check_scales(self.scales)


@dataclass
class LensInputs:
    """What the lens measures on. texts (with text_prompts, their contexts, optional) feed the
    activation view; prompts are what fresh generations answer in the scaling view;
    hypotheses are dicts with hypothesis_id (plus text, direction, predicate); evidence maps
    a hypothesis_id to (texts, their prompts or None)."""
    texts: list[str] = field(default_factory=list)
    text_prompts: Optional[list[str]] = None
    prompts: list[str] = field(default_factory=list)
    hypotheses: list[dict] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)
