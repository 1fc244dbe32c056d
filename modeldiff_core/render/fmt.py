"""Numbers and sentences both report renderers share: p-values, figures, the settings list, the
one-line summaries of a test, the layer lens tables. Plain text: each renderer escapes it."""
from __future__ import annotations

import json
from typing import Optional

from ..formats import fmt_num, fmt_p, sci, short  # noqa: F401 - shared with the pages
from ..hypotheses.explain import ordered_findings
from ..hypotheses.stats import RESAMPLES
from ..hypotheses.types import OWN_SOURCE

P_FLOOR = 1 / (RESAMPLES + 1)  # the held-out tests' smallest p (a resampling test's floor)


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
    if share > 1:
        said = f"they separate the models better than the words do (share {share:.2f}"
    elif (c.get("auc") or 0) >= (c.get("baseline_auc") or 1):  # a share short of 1 by noise
        said = f"they separate the models as well as the words do (share {share:.2f}"
    else:
        said = f"they explain {100 * share:.0f}% of the separability (share {share:.2f}"
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


def generative_outcome(h: dict, alpha: float = 0.05) -> str:
    """The generative test's outcome in words, a failed or skipped one included."""
    if h.get("generative_skipped"):
        return f"skipped: {h['generative_skipped']}"
    g = h.get("generative")
    if not g or g.get("auc") is None:
        return "not run"
    auc, q = g["auc"], g.get("q_value")
    if q is not None and q < alpha and auc > 0.5:
        verdict = "supports the hypothesis"
    elif auc < 0.5:
        verdict = "failed, opposite to the prediction"
    else:
        verdict = "failed, not borne out"
    return f"{verdict}: AUC {fmt_num(auc)}, q = {fmt_p(q)}"


def p_floor_note(hypotheses: list[dict]) -> Optional[str]:
    """Which hypotheses sit at the test's smallest p, and what that means (None: none do)."""
    at = [h["id"] for h in hypotheses
          if ((h.get("discriminative") or {}).get("p_value") or 1) <= P_FLOOR * (1 + 1e-9)]
    if not at:
        return None
    return (f"p = {fmt_p(P_FLOOR)} ({', '.join(at)}) is the smallest value this test can give: "
            f"p ≥ 1/(m + 1) with m = {RESAMPLES:,} resamples, so the evidence may be stronger "
            "still; their q-values are that floor after the ledger's Benjamini-Hochberg step.")


def nothing_validated(result: dict, alpha: float = 0.05) -> list[str]:
    """For a run where no hypothesis validated: the yardstick, what was tried, what to try."""
    b, hyps = result["baseline"], result["hypotheses"]
    auc = f"AUC {fmt_num(b.get('auc'))}, {_ci(b.get('auc_ci_low'), b.get('auc_ci_high'))}"
    if (b.get("auc_ci_low") or 0) > 0.5:
        words = (f"The words alone tell the models apart (bag-of-words {auc}): a difference is "
                 "there that no tested hypothesis names.")
    else:
        words = (f"The words alone do not tell the models apart better than chance either "
                 f"(bag-of-words {auc}): there may be little to find at this size.")
    own = sum(h.get("source") == OWN_SOURCE for h in hyps)
    clusters = [c for c in result["clusters"] if not c.get("noise")]
    moved = sum((c.get("discovery") or {}).get("q_value") is not None
                and c["discovery"]["q_value"] < alpha for c in clusters)
    tried = (f"Tried: {len(hyps) - own} hypotheses proposed by the {result['assistant']} "
             f"assistant" + (f" and {own} of yours" if own else "") + f", tested on "
             f"the {b.get('n')} held-out texts; {moved} of "
             f"{len(clusters)} clusters differ in size between the models on the discovery "
             f"texts (q < {alpha:g}).")
    return [words, tried]


NEXT_STEPS = [
    ("More texts", "more samples per prompt, or more prompts (the Generate page): a small "
                   "difference needs more texts to show"),
    ("An LLM assistant", "it reads tone, content and claims that single words and style "
                         "counts miss (Propose and validate, above)"),
    ("Your own hypothesis", "type what you expect and test it on the same held-out texts "
                            "(below)"),
]


def own_summary(h: dict) -> str:
    """A researcher's own hypothesis and how its tests came out, in one line."""
    d = h.get("discriminative")
    if not d:
        return f"{h['id']} (yours): {h['text']} — not tested yet"
    return (f"{h['id']} (yours): {h['text']} — {role(h)}; held out: AUC {fmt_num(d.get('auc'))}, "
            f"p = {fmt_p(d.get('p_value'))}, q = {fmt_p(d.get('q_value'))}; generative test "
            f"{generative_outcome(h)}")
