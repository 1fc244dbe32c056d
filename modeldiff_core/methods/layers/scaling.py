"""Scaling curves: for each validated hypothesis, each window of layers and each scale, how
much of its effect B's change scaled on that window brings back: the evidence texts' mean
log-prob gap to A, and the behaviour rate in fresh generations."""
from __future__ import annotations

from typing import Any, Callable, Optional


from ...config import ModelDiffError
from ...progress import ProgressCallback, StageProgress
from .interventions import DeltaScaling
from ..common.inputs import LensInputs
from ..common.runner import SettingRunner, behaviour_rate
from .settings import SCALE_KEY, LensSettings


def _windows(n_layers: int, window: int) -> list[tuple[Any, Optional[list[int]]]]:
    if not 1 <= window <= n_layers:
        raise ModelDiffError(f"window must be between 1 and the number of layers ({n_layers})")
    return [(first, list(range(first, first + window)))
            for first in range(n_layers - window + 1)] + [("all", None)]


def _measure(runner: SettingRunner, positions: list, scales: list[float], saved,
             progress: Optional[ProgressCallback]) -> dict[tuple, tuple]:
    """(position, scale) -> (evidence log-probs, fresh generations), for every setting."""
    todo = [(pos, layers, scale) for pos, layers in positions for scale in scales if scale != 0]
    bar = StageProgress(progress, "layer scaling", len(todo) + 1, unit="settings")
    # Scale 0 is A itself whatever the layers: one setting serves every window.
    base = runner.stored_run(saved, 0.0, None)
    bar.advance(1)
    results = {(pos, 0.0): base for pos, _ in positions}
    for pos, layers, scale in todo:
        results[(pos, scale)] = runner.stored_run(saved, scale, layers)
        bar.advance(1)
    return results


def scaling_curves(scaler: DeltaScaling, inputs: LensInputs, settings: LensSettings, *,
                   judge: Optional[Callable] = None, progress: Optional[ProgressCallback] = None,
                   saved=None) -> list[dict]:
    """For each hypothesis, each window of layers (and "all") and each scale: the mean
    evidence log-prob gap to A and the behaviour rate in fresh generations (n_generations of
    the prompts, cycled; sampled with the same seed in every setting). `saved` (a Store)
    keeps each setting's outcome as it finishes, and answers settings measured before."""
    scales = settings.check()
    if any("hypothesis_id" not in h for h in inputs.hypotheses):
        raise ModelDiffError("each hypothesis needs a hypothesis_id (see validated_hypotheses)")
    positions = _windows(scaler.n_layers, settings.window)
    runner = SettingRunner(scaler, inputs, settings.runner_settings())
    results = _measure(runner, positions, scales, saved, progress)
    base_lp = results[(positions[0][0], 0.0)][0]
    rows = []
    for h in inputs.hypotheses:
        for pos, _ in positions:
            for scale in scales:
                lp, texts = results[(pos, scale)]
                rows.append({"hypothesis_id": h["hypothesis_id"], "layer": pos, SCALE_KEY: scale,
                             "logprob_gap": runner.gap(h["hypothesis_id"], lp, base_lp),
                             "predicate_rate": behaviour_rate(h, texts, judge)})
    return rows
