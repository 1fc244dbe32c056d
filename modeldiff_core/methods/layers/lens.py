"""The layer lens itself: its three views for one pair of models (`layer_lens`), or for a
stored run, with the run's held-out texts, validated hypotheses and their evidence
(`layer_lens_for_run`)."""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from ...config import ModelDiffError
from ...hypotheses.validation import heldout_texts, paired_heldout
from ...models.loading import LoadedModel
from ...models.spec import ModelSpec
from ...progress import ProgressCallback
from .activations import activation_diffs
from .attribution import conclusion, restoration, top_layers_together
from .deltas import weight_deltas
from .interventions import DeltaScaling
from .scaling import scaling_curves
from ..common.inputs import LensInputs, measured_on, run_generation, scaling_inputs
from ..common.scales import check_scales
from .settings import LensSettings


def _run_inputs(store, run: dict, hypothesis_set: str, settings: LensSettings
                ) -> tuple[LensInputs, LensSettings]:
    """A stored run's texts, validated hypotheses, evidence and prompts; the settings with
    the run's own generation settings."""
    run_id = run["run_id"]
    settings = dataclasses.replace(settings, generation=run_generation(run))
    seed = settings.generation_settings().seed
    val = store.generations(run_id, split="validation")
    if val.empty:
        raise ModelDiffError(f"run {run_id} has no validation texts yet: generate first")
    sample = heldout_texts(val, paired_heldout(val, settings.n_texts, seed), seed)
    inputs = scaling_inputs(store, run_id, hypothesis_set, settings.n_evidence)
    return dataclasses.replace(inputs, texts=sample["text"].tolist(),
                               text_prompts=sample["prompt"].tolist()), settings


# ------------------------------------------------------------------------ the lens

def _pair_views(lm_a: LoadedModel, lm_b: LoadedModel, inputs: LensInputs,
                settings: LensSettings, progress: Optional[ProgressCallback]) -> dict:
    """The views that need no hypothesis: weight deltas and activation differences."""
    wd = weight_deltas(lm_a, lm_b, progress)
    out = {"weight_delta": wd.rows, "activation_diff": [], "scaling": [], "restoration": [],
           "conclusions": {}, "notes": list(wd.notes), "n_layers": wd.n_layers}
    if inputs.texts:
        ad = activation_diffs(lm_a, lm_b, inputs.texts, inputs.text_prompts, settings.batch_size,
                              settings.generation_settings().use_chat_template, progress)
        out.update(activation_diff=ad.rows, notes=out["notes"] + ad.notes)
    else:
        out["notes"].append("no texts given: the activation view needs some")
    return out


def _scaling_notes(inputs: LensInputs, settings: LensSettings) -> list[str]:
    """What the scaling view will lack, said before it runs."""
    notes = []
    if 1.0 not in check_scales(settings.scales):
        notes.append("alpha = 1 is not among the alphas: restoration fractions need it")
    missing = [h["hypothesis_id"] for h in inputs.hypotheses
               if not inputs.evidence.get(h["hypothesis_id"], ([], None))[0]]
    if missing:
        notes.append(f"no evidence texts for {', '.join(missing)}: their log-prob gaps are empty")
    if settings.n_generations > 0 and not inputs.prompts:
        notes.append("no prompts for fresh generations: behaviour rates are empty")
    return notes


def layer_lens(lm_a: LoadedModel, lm_b: LoadedModel, inputs: LensInputs,
               settings: Optional[LensSettings] = None, *, judge: Optional[Callable] = None,
               progress: Optional[ProgressCallback] = None, saved=None) -> dict:
    """All three views for one pair, as plain data (the CLI's JSON):
    {weight_delta: [{layer, module, rel_norm}], activation_diff: [{layer, cosine, rel_l2}],
     scaling: [{hypothesis_id, layer, alpha, logprob_gap, predicate_rate}],
     restoration: [{hypothesis_id, layer, layers, logprob_fraction, predicate_fraction}],
     conclusions: {hypothesis_id: text}, measured_on: {hypothesis_id: "contrast pairs" or
     "evidence texts"}, notes: [...], n_layers}.
    A scaling row's scale is under "alpha" (settings.SCALE_KEY). `saved` (a Store) keeps each
    scaling setting's outcome, so that an interrupted lens resumes."""
    settings = settings or LensSettings()
    out = _pair_views(lm_a, lm_b, inputs, settings, progress)
    if not inputs.hypotheses:
        out["notes"].append("no validated hypotheses in this run: the delta-scaling view needs "
                            "at least one")
        return out
    out["notes"] += _scaling_notes(inputs, settings)
    scaler = DeltaScaling(lm_a, lm_b)
    out["notes"] += scaler.notes
    curves = scaling_curves(scaler, inputs, settings, judge=judge, progress=progress,
                            saved=saved)
    rows = restoration(curves, settings.window)
    together = top_layers_together(scaler, curves, rows, inputs, settings, judge=judge)
    out.update(scaling=curves, restoration=rows + list(together.values()),
               measured_on=measured_on(inputs),
               conclusions={h["hypothesis_id"]: conclusion(
                   h["hypothesis_id"], curves, rows, settings.window,
                   together.get(h["hypothesis_id"])) for h in inputs.hypotheses})
    return out


def layer_lens_for_run(store, run_id: str, cache, hypothesis_set: str = "offline",
                       settings: Optional[LensSettings] = None, *,
                       judge: Optional[Callable] = None,
                       progress: Optional[ProgressCallback] = None) -> dict:
    """The layer lens for a stored run: its two models (from the cache), a capped sample of its
    validation texts, its validated hypotheses with their evidence, and its validation prompts
    for fresh generations (sampled with the run's generation settings)."""
    run = store.get_run(run_id)
    if run is None:
        raise ModelDiffError(f"no run {run_id}")
    spec_a, spec_b = ModelSpec.from_dict(run["spec_a"]), ModelSpec.from_dict(run["spec_b"])
    inputs, settings = _run_inputs(store, run, hypothesis_set, settings or LensSettings())
    out = layer_lens(cache.get(spec_a), cache.get(spec_b), inputs, settings, judge=judge,
                     progress=progress, saved=store)
    out.update(run_id=run_id, assistant=hypothesis_set)
    return out
