"""Attribution: from the scaling curves, the share of B's whole effect that each window of
layers restores alone at scale 1, the k best single layers together, and a plain paragraph
per hypothesis saying where its effect sits."""
from __future__ import annotations

from typing import Any, Callable, Optional


from .interventions import DeltaScaling
from ..common.inputs import LensInputs
from ..common.runner import SettingRunner, behaviour_rate
from .settings import SCALE_KEY, LensSettings

# Below this log-prob gap (nats: per token on evidence texts, per pair on contrast pairs) B's
# full change has no effect worth attributing.
MIN_GAP = 1e-3
# Below this change in behaviour rate (with every layer scaled) the rate says nothing on layers.
MIN_RATE_CHANGE = 0.05


def _row(curves: list[dict], hid: str, layer: Any, scale: float) -> Optional[dict]:
    for r in curves:
        if r["hypothesis_id"] == hid and r["layer"] == layer and r[SCALE_KEY] == scale:
            return r
    return None


def _fraction(part: Optional[float], whole: Optional[float], floor: float) -> Optional[float]:
    if part is None or whole is None or abs(whole) < floor:
        return None
    return float(part / whole)


def _change(rate: Optional[float], base: Optional[float]) -> Optional[float]:
    return None if rate is None or base is None else rate - base


def restoration(curves: list[dict], window: int = 1) -> list[dict]:
    """Per hypothesis and window of layers: the share of B's whole effect that scaling only
    that window to scale 1 restores. Log-prob: gap(window, 1) / gap(all, 1); behaviour
    rate: (rate(window, 1) - rate(all, 0)) / (rate(all, 1) - rate(all, 0)). None where B's
    whole effect is too small to divide by (or scale 1 was not among the settings)."""
    out = []
    for hid in dict.fromkeys(r["hypothesis_id"] for r in curves):
        full, base = _row(curves, hid, "all", 1.0), _row(curves, hid, "all", 0.0)
        if full is None:
            continue
        r0 = base["predicate_rate"] if base else None
        rate_change = _change(full["predicate_rate"], r0)
        layers = sorted({r["layer"] for r in curves
                         if r["hypothesis_id"] == hid and r["layer"] != "all"})
        for layer in layers:
            one = _row(curves, hid, layer, 1.0)
            if one is None:
                continue
            out.append({"hypothesis_id": hid, "layer": layer,
                        "layers": list(range(layer, layer + window)),
                        "logprob_fraction": _fraction(one["logprob_gap"], full["logprob_gap"],
                                                      MIN_GAP),
                        "predicate_fraction": _fraction(_change(one["predicate_rate"], r0),
                                                        rate_change, MIN_RATE_CHANGE)})
    return out


def _layers_text(layers: list[int]) -> str:
    if len(layers) == 1:
        return f"layer {layers[0]}"
    if layers == list(range(layers[0], layers[-1] + 1)):
        return f"layers {layers[0]}\u2013{layers[-1]}"
    return "layers " + ", ".join(str(i) for i in layers[:-1]) + f" and {layers[-1]}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _span(first: int, window: int) -> str:
    return _layers_text(list(range(first, first + window)))


def _logprob_parts(hid: str, full: dict, mine: list[dict], window: int,
                   together: Optional[dict]) -> list[str]:
    """What the log-prob fractions say: one window carries most, the largest share, or none."""
    lp = [r for r in mine if r["logprob_fraction"] is not None]
    if not lp:
        gap = full["logprob_gap"]
        shown = "no evidence texts" if gap is None else f"a log-prob gap of {gap:+.4f}"
        return [f"B's whole change gives {hid} {shown} on its evidence: too small to attribute "
                "to layers"]
    best = max(lp, key=lambda r: r["logprob_fraction"])
    f = best["logprob_fraction"]
    if f >= 0.5:
        most = "Practically all" if f >= 0.95 else "Most"
        parts = [f"{most} of {hid}'s effect ({_pct(f)} of the log-prob gap) comes from "
                 f"{_span(best['layer'], window)} alone"]
    elif f >= 0.25:
        parts = [f"{_span(best['layer'], window).capitalize()} carries the largest share of "
                 f"{hid}'s effect ({_pct(f)} of the log-prob gap), but no single window "
                 "restores most of it"]
    else:
        parts = [f"{hid}'s effect is distributed: no single "
                 f"{'layer' if window == 1 else 'window'} restores more than "
                 f"{_pct(max(f, 0.0))} of the log-prob gap"]
    if together and together.get("logprob_fraction") is not None:
        parts.append(f"{_layers_text(together['layers'])} together restore "
                     f"{_pct(together['logprob_fraction'])}")
    total = sum(r["logprob_fraction"] for r in lp)
    if window == 1 and len(lp) > 1 and abs(total - 1) > 0.25:
        how = "overlap rather than add up" if total > 1 else "need each other"
        parts.append(f"the single layers' shares sum to {_pct(total)}: their effects {how}")
    return parts


def _rate_parts(full: dict, base: Optional[dict], mine: list[dict], window: int) -> list[str]:
    """What the behaviour-rate fractions say, or that the rate barely moves at all."""
    pr = [r for r in mine if r["predicate_fraction"] is not None]
    r0 = base["predicate_rate"] if base else None
    r1 = full["predicate_rate"]
    if pr:
        best = max(pr, key=lambda r: r["predicate_fraction"])
        f, rates = best["predicate_fraction"], f"from {_pct(r0)} under A to {_pct(r1)} under B"
        if f >= 0.5:
            return [f"the behaviour rate ({rates}) is {_pct(f)} restored by "
                    f"{_span(best['layer'], window)} alone"]
        # The log-prob gap can sit in one layer while the behaviour needs several.
        return [f"no single {'layer' if window == 1 else 'window'} restores much of the "
                f"behaviour rate ({rates}): at most {_pct(max(f, 0.0))}, by "
                f"{_span(best['layer'], window)}, so in generations the effect is spread out"]
    if r0 is not None and r1 is not None:
        return [f"the behaviour rate barely moves with B's whole change ({_pct(r0)} to "
                f"{_pct(r1)}), so it says nothing about layers"]
    return []


def conclusion(hypothesis_id: str, curves: list[dict], rows: list[dict], window: int = 1,
               together: Optional[dict] = None) -> str:
    """One plain paragraph on where a hypothesis' effect sits, from its restoration rows."""
    full, base = _row(curves, hypothesis_id, "all", 1.0), _row(curves, hypothesis_id, "all", 0.0)
    mine = [r for r in rows if r["hypothesis_id"] == hypothesis_id and isinstance(r["layer"], int)]
    if full is None:
        return f"{hypothesis_id}: no setting at alpha = 1, so nothing can be attributed to layers."
    parts = _logprob_parts(hypothesis_id, full, mine, window, together) + \
        _rate_parts(full, base, mine, window)
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _best_layers(rows: list[dict], hid: str, k: int) -> Optional[list[int]]:
    """The k single layers restoring the most of the log-prob gap, in layer order."""
    mine = [r for r in rows if r["hypothesis_id"] == hid and r["logprob_fraction"] is not None]
    if len(mine) < k:
        return None
    return sorted(r["layer"] for r in sorted(mine, key=lambda r: -r["logprob_fraction"])[:k])


def top_layers_together(scaler: DeltaScaling, curves: list[dict], rows: list[dict],
                        inputs: LensInputs, settings: LensSettings, *,
                        judge: Optional[Callable] = None, k: int = 2) -> dict[str, dict]:
    """For each hypothesis, the restoration of its k best single windows scaled together
    (scale 1): whether the layers that matter most alone also account for the whole."""
    if settings.window != 1 or scaler.n_layers <= k:
        return {}
    out: dict[str, dict] = {}
    runner = SettingRunner(scaler, inputs, settings.runner_settings())
    cache: dict[tuple, tuple] = {}
    base_lp = None
    for h in inputs.hypotheses:
        hid = h["hypothesis_id"]
        layers = _best_layers(rows, hid, k)
        if layers is None:
            continue
        if tuple(layers) not in cache:
            cache[tuple(layers)] = runner.run(1.0, layers)
        if base_lp is None:  # A's behaviour rate is in the curves already: log-probs only
            base_lp, _ = runner.run(0.0, None, generate=False)
        lp, texts = cache[tuple(layers)]
        gap = runner.gap(hid, lp, base_lp)
        full, base = _row(curves, hid, "all", 1.0), _row(curves, hid, "all", 0.0)
        r0 = base["predicate_rate"]
        out[hid] = {"hypothesis_id": hid, "layer": "together", "layers": layers,
                    "logprob_fraction": _fraction(gap, full["logprob_gap"], MIN_GAP),
                    "predicate_fraction": _fraction(_change(behaviour_rate(h, texts, judge), r0),
                                                    _change(full["predicate_rate"], r0),
                                                    MIN_RATE_CHANGE)}
    return out
