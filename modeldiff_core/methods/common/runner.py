"""One intervention setting measured: the evidence texts' log-probs and fresh generations
under a model as a scaler makes it (the layer lens's DeltaScaling, the feature lens's
FeatureScaler: each has `model`, `fingerprints`, `strategy` and `scaled(scale, layers)`),
stored by a key of everything the outcome depends on, so an interrupted lens resumes."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ...hypotheses.types import Hypothesis
from ...models.generation import GenerationSettings, format_prompt, generate_batch
from ...models.loading import LoadedModel
from .inputs import LensInputs


@dataclass(frozen=True)
class RunnerSettings:
    generation: GenerationSettings  # how fresh generations are sampled
    n_generations: int = 32  # fresh generations per setting, for the behaviour rate
    batch_size: int = 16  # texts per forward pass when scoring


def _hypothesis(h: dict) -> Hypothesis:
    return Hypothesis(h.get("text", ""), h.get("direction", "B"), h.get("source", "corpus"),
                      h.get("predicate"), h.get("evidence") or {})


def behaviour_rate(h: dict, texts: list[str], judge: Optional[Callable]) -> Optional[float]:
    """Share of texts showing the hypothesis: its offline predicate fires, or else the judge
    scores the text above 0.5 (written by B); None when neither can say."""
    from ...hypotheses.predicates import predicate_fires

    if not texts:
        return None
    if h.get("predicate"):
        return float(np.mean([predicate_fires(h["predicate"], t) for t in texts]))
    if judge is not None:
        scores = np.asarray(judge(_hypothesis(h), texts), dtype=float)
        return float(np.mean(scores > 0.5))
    return None


class SettingRunner:
    """Scores the evidence and samples fresh generations under one intervention setting."""

    def __init__(self, scaler, inputs: LensInputs, settings: RunnerSettings):
        generation = settings.generation
        self.scaler, self.settings, self.batch_size = scaler, generation, settings.batch_size
        self.texts, self.text_prompts, self.spans = [], [], {}
        self.paired = set(inputs.paired)
        for h in inputs.hypotheses:
            texts, tprompts = inputs.evidence.get(h["hypothesis_id"], ([], None))
            start = len(self.texts)
            self.texts += list(texts)
            self.text_prompts += list(tprompts) if tprompts is not None else [None] * len(texts)
            self.spans[h["hypothesis_id"]] = slice(start, len(self.texts))
        # A pair's texts are scored as the generative test scores them: summed over the text
        # and its end (two texts one word apart; a mean per token would mix in their lengths).
        self.summed = {i for h in inputs.hypotheses if h["hypothesis_id"] in self.paired
                       for i in range(len(self.texts))[self.spans[h["hypothesis_id"]]]}
        prompts = inputs.prompts
        cycle = [prompts[i % len(prompts)] for i in range(settings.n_generations)] if prompts else []
        tok = scaler.model.tokenizer
        self.chat = generation.use_chat_template and bool(getattr(tok, "chat_template", None))
        self.formatted = [format_prompt(tok, p, generation.use_chat_template) for p in cycle]
        # Everything a setting's outcome depends on besides (scale, layers): its storage key.
        raw = json.dumps([*scaler.fingerprints, scaler.strategy, self.texts,
                          self.text_prompts, self.formatted, dataclasses.asdict(generation)]
                         + ([sorted(self.summed)] if self.summed else []))
        self.digest = hashlib.sha256(raw.encode()).hexdigest()[:16]

    def gap(self, hypothesis_id: str, lp, base_lp) -> Optional[float]:
        """What a setting adds to a hypothesis' evidence over A: for contrast pairs, the mean
        over pairs of the favoured text's rise minus its contrast's (summed log-probs: what the
        hypothesis names, the rest held fixed); for evidence texts, their mean rise in mean
        log-prob per token. None when nothing could be scored."""
        span = self.spans[hypothesis_id]
        rise = np.asarray(lp, dtype=float)[span] - np.asarray(base_lp, dtype=float)[span]
        if hypothesis_id in self.paired:
            rise = rise[0::2] - rise[1::2]
        return float(np.nanmean(rise)) if np.isfinite(rise).any() else None

    def stored_run(self, saved, scale: float, layers: Optional[list[int]]
                   ) -> tuple[np.ndarray, list[str]]:
        """run(), answered from `saved` (store.layer_setting / save_layer_setting) when this
        exact setting was measured before: an interrupted lens resumes where it stopped."""
        if saved is None:
            return self.run(scale, layers)
        key = f"{self.digest}:{scale!r}:{layers}"  # as earlier versions stored settings
        hit = saved.layer_setting(key)
        if hit is not None:
            return np.asarray(hit[0], dtype=float), hit[1]
        lp, texts = self.run(scale, layers)
        saved.save_layer_setting(key, lp.tolist(), texts)
        return lp, texts

    def run(self, scale: float, layers: Optional[list[int]], generate: bool = True
            ) -> tuple[np.ndarray, list[str]]:
        with self.scaler.scaled(scale, layers) as lm:
            return self._logprobs(lm), self._generate(lm) if generate else []

    def _logprobs(self, lm: LoadedModel) -> np.ndarray:
        from ...models.scoring import mean_logprobs, sum_logprobs

        if not self.texts:
            return np.array([])
        # Texts without a prompt are scored on their own; with one, as its continuation.
        out = np.full(len(self.texts), np.nan)
        for summed, score in ((False, mean_logprobs), (True, sum_logprobs)):
            for prompted in (True, False):
                group = [i for i, p in enumerate(self.text_prompts)
                         if (p is not None) == prompted and (i in self.summed) == summed]
                if group:
                    prompts = [self.text_prompts[i] for i in group] if prompted else None
                    out[group] = score(lm, [self.texts[i] for i in group], prompts,
                                       self.batch_size, self.settings.use_chat_template)
        return out

    def _generate(self, lm: LoadedModel) -> list[str]:
        texts, size = [], self.settings.batch_size
        for b in range(0, len(self.formatted), size):
            # The same seed per batch in every setting: settings differ only by their weights.
            rows = generate_batch(lm, self.formatted[b:b + size], self.settings,
                                  self.settings.seed + b, self.chat)
            texts += [r[0] for r in rows]
        return texts
