"""Numbers and sentences both report renderers share: p-values, figures, the settings list, the
one-line summaries of a test, the layer lens tables. Plain text: each renderer escapes it."""
from __future__ import annotations

import json
from typing import Optional

from ..formats import fmt_num, fmt_p, sci, short  # noqa: F401 - shared with the pages
from ..hypotheses.explain import ordered_findings


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
