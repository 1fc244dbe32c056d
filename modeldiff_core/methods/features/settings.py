"""The feature lens's parameters (`Params`, with how it measures: `FeatureSettings` and its
`DictionarySettings`): the only place their defaults live."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ...config import ModelDiffError
from ...params import Declared, nested, option
from ..common.scales import parse_scales

# Part of a saved dictionary's key: raised when fitting changes, so older files are not reused.
DICTIONARY_FORMAT = 1


@dataclass(frozen=True)
class DictionarySettings(Declared):
    width: int = option(8, bounds=(1, 1_000),
                        help="base dictionary latents as a multiple of the model's width")
    k: int = 16  # active latents per token, base
    delta_width: int = option(2, bounds=(1, 1_000),
                              help="delta dictionary latents as a multiple of the model's width")
    delta_k: int = 8
    steps: int = option(3000, bounds=(1, 10_000_000), help="training steps per dictionary")
    lr: float = 3e-3
    batch: int = 512
    seed: int = 0


def _alphas(text: str) -> tuple:
    return tuple(parse_scales(text))


@dataclass(frozen=True)
class FeatureSettings(Declared):
    layer: Optional[int] = option(None, bounds=(0, 10_000), help="the layer (default: the "
                                  "layer lens's first, else the middle one)")
    dictionary: DictionarySettings = nested(DictionarySettings)
    n_fit_texts: int = 400  # discovery texts per side the dictionaries are fitted on
    n_texts: int = option(240, flags=("--texts",), bounds=(1, 10_000_000),
                          help="held-out texts (paired by prompt) for the feature table")
    max_tokens: int = option(100_000, bounds=(1, 100_000_000),
                             help="MLP activations kept per model and set of texts")
    # 1 is B itself, measured as "raw" whatever the grid holds.
    alphas: tuple = option((0.0, 0.25, 0.5, 0.75, 1.0), parse=_alphas, show="0,0.25,0.5,0.75,1",
                           help="scales of the delta inside B (1 is B itself)")
    n_linked: int = 5  # latents linked to a hypothesis, scaled together
    n_top: int = 12  # features whose top texts and promoted tokens are kept
    n_examples: int = 10  # top texts per feature
    n_generations: int = option(32, flags=("--generations",), bounds=(0, 100_000),
                                help="fresh generations per setting for behaviour rates")
    n_evidence: int = 32  # evidence texts per hypothesis
    n_loss_texts: int = 64  # held-out texts the LM loss increase is measured on
    fdr: float = 0.05  # Benjamini-Hochberg level of the feature table

    @classmethod
    def for_page(cls) -> "FeatureSettings":
        """A first look from the dashboard: dictionaries trained a fifth as long and a quarter
        of the generations (the CLI's defaults stay one click away)."""
        return cls(dictionary=DictionarySettings(steps=600), n_generations=8)

    def check(self) -> None:
        bad = [name for name in ("n_fit_texts", "n_texts", "max_tokens", "n_top", "n_examples",
                                 "n_evidence", "n_loss_texts", "n_linked")
               if getattr(self, name) < 1]
        bad += [name for name in ("n_generations",) if getattr(self, name) < 0]
        if self.layer is not None and self.layer < 0:
            bad.append("layer")
        d = self.dictionary
        bad += [f"dictionary.{n}" for n in ("width", "k", "delta_width", "delta_k", "steps",
                                            "batch") if getattr(d, n) < 1]
        if not 0 < self.fdr < 1:
            bad.append("fdr")
        if not all(math.isfinite(a) for a in self.alphas):
            bad.append("alphas")
        if bad:
            raise ModelDiffError(f"feature lens settings out of range: {', '.join(bad)}")


@dataclass
class Params(Declared):
    run_id: str  # a stored run of two models with weights
    hypothesis_set: str = "offline"  # whose validated hypotheses are linked and scaled
    settings: FeatureSettings = nested(FeatureSettings)
    assistant_base_url: Optional[str] = None
    assistant_key_file: Optional[str] = None
