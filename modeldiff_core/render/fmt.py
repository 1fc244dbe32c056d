"""Numbers and sentences both report renderers share: p-values, figures, the settings list, the
one-line summaries of a test, the layer lens tables. Plain text: each renderer escapes it."""
from __future__ import annotations

import json
import math
from typing import Any, Optional

from ..hypotheses.explain import ordered_findings


def fmt_p(x: Optional[float]) -> str:
    """p- and q-values: 0.032, 0.41, 3.2e-05."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.1e}" if x < 1e-3 else f"{x:.3f}" if x < 0.1 else f"{x:.2f}"


def fmt_num(x: Optional[float], digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}f}"


def sci(x: Optional[float]) -> str:
    return "—" if x is None else "0" if x == 0 else f"{x:.2e}"


def short(text: Any, width: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width] + "…"


def settings_lines(data: dict) -> list[tuple[str, str]]:
    gen = (data["settings"] or {}).get("generation", {})
    return [
        ("Model A", json.dumps(data["spec_a"], sort_keys=True)),
        ("Model B", json.dumps(data["spec_b"], sort_keys=True)),
        ("Prompt set", str(data["prompt_set"])),
        ("Generation", json.dumps(gen, sort_keys=True)),
        ("Validation fraction", str((data["settings"] or {}).get("validation_fraction"))),
        ("Clustering", json.dumps(data["cluster_settings"], sort_keys=True)),
        ("Assistant", data["assistant"]),
        ("Alpha", str(data["alpha"])),
    ]


def disc_line(d: Optional[dict]) -> str:
    if not d:
        return "not tested"
    return (f"accuracy {fmt_num(d.get('accuracy'))} (95% CI {fmt_num(d.get('ci_low'))}–"
            f"{fmt_num(d.get('ci_high'))}), AUC {fmt_num(d.get('auc'))}, n = {d.get('n')} texts "
            f"of {d.get('n_prompts')} prompts, p = {fmt_p(d.get('p_value'))}, "
            f"q = {fmt_p(d.get('q_value'))} (prompt-level){placebo_clause(d)}")


def rates_clause(d: Optional[dict]) -> str:
    """A predicate's held-out rates, each side's with its interval over prompts: the evidence
    for the claim, in the claim's own terms ("" when the judge has no predicate or it is not
    tested yet)."""
    r = (d or {}).get("rates") or {}
    if r.get("rate_b") is None:
        return ""
    pct = lambda x: f"{100 * x:.0f}%" if x is not None else "?"  # noqa: E731
    return (f"Held out: {pct(r['rate_b'])} of B's texts (95% CI {pct(r.get('rate_b_ci_low'))}–"
            f"{pct(r.get('rate_b_ci_high'))}) vs {pct(r['rate_a'])} of A's "
            f"({pct(r.get('rate_a_ci_low'))}–{pct(r.get('rate_a_ci_high'))}), "
            f"{r.get('n_prompts')} prompts.")


def finding(h: dict) -> str:
    """A hypothesis as the reader weighs it: the claim, then its held-out rates."""
    clause = rates_clause(h.get("discriminative"))
    return f"{h['text']} {clause}" if clause else h["text"]


def placebo_clause(d: dict) -> str:
    """What an LLM judge separates on its own, and what the hypothesis adds to it."""
    if d.get("placebo_auc") is None:
        return ""
    return (f"; against the placebo: the judge alone separates at AUC "
            f"{fmt_num(d['placebo_auc'])}, the hypothesis adds {d.get('added_auc') or 0.0:+.2f} "
            f"(95% CI {fmt_num(d.get('added_auc_ci_low'))} to "
            f"{fmt_num(d.get('added_auc_ci_high'))})")


def gen_line(g: Optional[dict], skipped: Optional[str] = None) -> str:
    if skipped:
        return f"skipped: {skipped}"
    if not g:
        return "not run (no pairs)"
    return (f"AUC {fmt_num(g.get('auc'))}, n = {g.get('n')} pairs of {g.get('n_prompts')} prompts, "
            f"p = {fmt_p(g.get('p_value'))}, q = {fmt_p(g.get('q_value'))} (paired, prompt-level)")


def self_check_line(sc: Optional[dict]) -> str:
    """The run's own false-positive check (A1 vs A2), in one sentence."""
    if not sc:
        return "Self-check (A1 vs A2): not run yet."
    if sc.get("validated") is None:
        return f"Self-check (A1 vs A2): {sc.get('note') or 'not run'}."
    return (f"Self-check: A's samples split into two pseudo-models (A1 vs A2) and run through "
            f"the same proposal and validation: {sc['validated']} of {sc['proposed']} proposed "
            f"hypotheses validated on {sc['n_prompts']} held-out prompts — this run's own "
            "false-positive check (0 is what a sound run shows).")


def _ci(low, high) -> str:
    return f"95% CI {fmt_num(low)}–{fmt_num(high)}"


def coverage_line(c: Optional[dict]) -> str:
    """How much of the separability the validated hypotheses explain, in one sentence."""
    if not c or c.get("share") is None:
        note = (c or {}).get("note") or "not applicable"
        return f"Coverage: {note}."
    share = c["share"]
    said = (f"they separate the models better than the words do (share {share:.2f}" if share > 1
            else f"they explain {100 * share:.0f}% of the separability (share {share:.2f}")
    tail = " — something unexplained remains." if (c.get("share_ci_high") or share) < 0.8 else "."
    fitted = ("fitted on discovery texts" if c.get("fit") == "discovery texts"
              else "cross-validated by prompt")
    return (f"Coverage: the validated hypotheses ({c.get('n_hypotheses')}) tell the models "
            f"apart at AUC {fmt_num(c['auc'])} ({_ci(c.get('auc_ci_low'), c.get('auc_ci_high'))})"
            f" where the bag-of-words reaches {fmt_num(c['baseline_auc'])} "
            f"({_ci(c.get('baseline_auc_ci_low'), c.get('baseline_auc_ci_high'))}), both "
            f"{fitted}, on the same {c.get('n_texts')} held-out texts of {c.get('n_prompts')} "
            f"prompts: {said}, {_ci(c.get('share_ci_low'), c.get('share_ci_high'))})" + tail)


def baseline_line(b: dict) -> str:
    if b.get("fit") == "discovery texts":
        return (f"bag-of-words logistic regression fitted on discovery texts, scored on all "
                f"{b.get('n')} held-out texts: accuracy {fmt_num(b.get('accuracy'))}, AUC "
                f"{fmt_num(b.get('auc'))} ({_ci(b.get('auc_ci_low'), b.get('auc_ci_high'))})")
    return (f"bag-of-words logistic regression on held-out texts: accuracy "
            f"{fmt_num(b.get('accuracy'))}, AUC {fmt_num(b.get('auc'))} (n = {b.get('n')}, "
            f"{b.get('folds', '?')} folds grouped by prompt)")


def ordered(data: dict) -> list[dict]:
    """Findings as a reader takes them: the validated headlines by held-out effect, each
    followed by what it explains (`explained_by`), then the rest by discriminative q."""
    return ordered_findings(data["hypotheses"])


def role(h: dict) -> str:
    """A hypothesis' place among the findings, in words."""
    if not h["validated"]:
        return "not validated"
    if h.get("explained_by"):
        p = h.get("conditional_p")
        return (f"explained by {h['explained_by']} (conditional p = {fmt_p(p)})"
                if p is not None else f"explained by {h['explained_by']}")
    return "headline"


def quant_rows(q: dict) -> list[list[str]]:
    """A quantization study's levels as table cells: level, KL mean/median/p99, top-1 agreement,
    perplexity (reference), answer flips, tokens."""
    return [[str(r["level"]), sci(r["kl_mean"]), sci(r["kl_median"]), sci(r["kl_p99"]),
             fmt_num(r["top1_agreement"], 3),
             f"{fmt_num(r['ppl'], 3)} ({fmt_num(r['ppl_ref'], 3)})",
             f"{r['flips']} of {r['n_mc']}", str(r["n_tokens"])] for r in q["levels"]]


def lens_tables(lens: dict) -> dict:
    """Title -> (header, rows of strings) for the layer lens tables."""
    tables = {}
    modules = list(dict.fromkeys(r["module"] for r in lens["weight_delta"]))
    layers = list(dict.fromkeys(r["layer"] for r in lens["weight_delta"]))
    value = {(r["layer"], r["module"]): r["rel_norm"] for r in lens["weight_delta"]}
    if layers:
        tables["Weight delta ‖W_B − W_A‖ / ‖W_A‖ by layer"] = (
            ["layer", *modules], [[str(layer), *[sci(value.get((layer, m))) for m in modules]]
                                  for layer in layers])
    if lens["activation_diff"]:
        tables["Activation difference by layer (held-out texts)"] = (
            ["layer", "cosine distance", "relative L2"],
            [[str(r["layer"]), sci(r["cosine"]), sci(r["rel_l2"])]
             for r in lens["activation_diff"]])
    if lens.get("restoration"):
        tables["Share of B's effect restored by scaling these layers alone (α = 1)"] = (
            ["hypothesis", "layers", "log-prob gap", "behaviour rate"],
            [[r["hypothesis_id"], ", ".join(str(x) for x in r.get("layers") or [r["layer"]]),
              fmt_num(r.get("logprob_fraction")), fmt_num(r.get("predicate_fraction"))]
             for r in lens["restoration"]])
    return tables


PROBE_HEAD = ["hypothesis", "right", "accuracy", "control right", "control accuracy",
              "won / lost", "p (paired)", "q", "probe-validated"]


def probe_rows(probe: dict) -> list[list[str]]:
    """One row per probed hypothesis (strings; the hypothesis' text is the caller's to escape)."""
    return [[f"{h['hypothesis_id']}: {h['text']}", f"{h['correct']}/{h['n']}",
             fmt_num(h["accuracy"]), f"{h['control']['correct']}/{h['control']['n']}",
             fmt_num(h["control_accuracy"]), f"{h['paired']['won']} / {h['paired']['lost']}",
             fmt_p(h["p_value"]), fmt_p(h["q_value"]), "yes" if h["probe_validated"] else "no"]
            for h in probe["hypotheses"]]


def against_control(h: dict) -> str:
    """A probed hypothesis against its control, in words: the control's rounds right and the
    paired test with its q (the CLI summary and the Probe page say it alike)."""
    c, pair = h["control"], h["paired"]
    return (f"control {c['correct']}/{c['n']} right on the same rounds; of the rounds they "
            f"split, the hypothesis won {pair['won']} and lost {pair['lost']}: p = "
            f"{h['p_value']:.2g}, q = {h['q_value']:.2g}")


def probe_caption(probe: dict) -> str:
    s = probe["settings"]
    return (f"Each round an assistant told the hypothesis writes a probe, a hidden model (A or B "
            f"by a fair coin) gives {s.get('answers')} answer(s), and the assistant guesses which "
            "it was; the control guesses the same rounds (same probes, hidden models and "
            "answers) with an empty hypothesis. Probe-validated: the hypothesis beats the "
            "control — won / lost counts the rounds where only one arm was right, McNemar's "
            "exact test, one-sided — at q < "
            f"{s.get('alpha', 0.05)} (Benjamini–Hochberg across the probed hypotheses). Beating "
            "1/2 is not enough: the models' style alone can give that away.")


def feature_caption(lens: dict) -> str:
    s = lens["settings"]
    return (f"Layer {lens['layer']} ({lens['layer_from']}). A top-k transcoder fitted to A's MLP "
            f"there, and a delta dictionary fitted to what B's MLP adds with A's frozen, on "
            f"{lens['n_fit_texts']} discovery texts; measured on {lens['n_texts']} held-out "
            f"texts paired by prompt. A feature is B-specific when its per-prompt rise on B's "
            f"texts passes a sign-flip test over prompts at Benjamini–Hochberg q < "
            f"{s.get('fdr', 0.05)}.")


def feature_tables(lens: dict, n_features: int = 10) -> dict:
    """Title -> (header, rows of strings) for the feature lens: the dictionaries' quality, the
    top B-specific features, each hypothesis' linked features and its scaling conditions.
    Model text in the rows (top texts, tokens) is the caller's to escape."""
    tables = {"Dictionary quality (held-out texts)": (
        ["dictionary", "model", "variance explained", "L0 and dead latents of", "L0",
         "dead latents", "LM loss increase (nats/token)"],
        [[q["dictionary"], q["model"], fmt_num(q["fve"], 3), q.get("code", ""),
          fmt_num(q["l0"], 1), f"{q['dead']}/{q['n_latents']}", f"{q['loss_increase']:+.4f}"]
         for q in lens["quality"]])}
    top = {t["latent"]: t for t in lens.get("top_features", [])}
    specific = [f for f in lens["features"] if f["b_specific"]][:n_features]
    if specific:
        none = {"promoted": [], "texts": []}  # a feature past the top ones kept
        tables["B-specific delta features"] = (
            ["feature", "freq A", "freq B", "effect", "q", "promotes", "top text"],
            [[str(f["latent"]), fmt_num(f["freq_a"]), fmt_num(f["freq_b"]),
              f"{f['effect']:+.3g}", fmt_p(f["q_value"]), " ".join(t["promoted"][:5]),
              short(t["texts"][0]["text"], 100) if t["texts"] else ""]
             for f in specific for t in [top.get(f["latent"], none)]])
    if lens.get("links"):
        tables["Features that best predict each hypothesis (AUC on held-out texts)"] = (
            ["hypothesis", "feature", "AUC"],
            [[r["hypothesis_id"], str(r["latent"]), fmt_num(r["auc"])] for r in lens["links"]])
    if lens.get("scaling"):
        tables["B with its delta scaled (error term kept; reconstructions alone drop it)"] = (
            ["hypothesis", "setting", "log-prob gap to A", "behaviour rate"],
            [[r["hypothesis_id"], scaling_setting(r), fmt_num(r["logprob_gap"], 3),
              fmt_num(r["behaviour_rate"])] for r in lens["scaling"]
             if r["alpha"] in (None, 0.0)])
    return tables


def scaling_setting(row: dict) -> str:
    """A feature-lens scaling row's setting in words."""
    names = {"A": "model A", "raw": "model B", "no delta": "B, MLP = base reconstruction",
             "full": "B, MLP = base + delta reconstruction"}
    if row["condition"] in names:
        return names[row["condition"]]
    return f"B, {row['condition']} × {row['alpha']:g}"
