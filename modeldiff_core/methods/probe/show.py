"""What the probe game shows on the terminal: one line per probed hypothesis."""
from __future__ import annotations

from typing import Optional

from ...cli_args import as_json as to_json  # noqa: F401 - --out writes the result as it is
from ...formats import Section, Table, fmt_num, fmt_p


def conclusion(result: dict) -> list[str]:
    """What the probe game showed, in sentences: which hypotheses let the assistant tell the
    models apart in conversation better than its control (no hypothesis) on the same rounds."""
    hyps = result["hypotheses"]
    if not hyps:
        return ["Nothing was probed yet."]
    won = [h for h in hyps if h["probe_validated"]]
    lines = [f"{len(won)} of {len(hyps)} probed hypotheses beat the control in conversation."]
    for h in hyps:
        c = h["control"]
        lines.append(f"{h['hypothesis_id']}: told A from B in {h['correct']} of {h['n']} rounds "
                     f"({100 * h['accuracy']:.0f}%) against the control's {c['correct']} of "
                     f"{c['n']}; q = {h['q_value']:.2g}"
                     + (" — probe-validated." if h["probe_validated"] else " — not validated."))
    return lines


def summary(result: dict) -> str:
    """Both arms' rounds right, and the paired test against the control with its q."""
    lines = []
    for h in result["hypotheses"]:
        verdict = "probe-validated" if h["probe_validated"] else "not probe-validated"
        lines.append(f"{h['hypothesis_id']}: {h['correct']}/{h['n']} right (accuracy "
                     f"{h['accuracy']:.2f}); {against_control(h)}; {verdict} - {h['text']}")
    return "\n".join(lines) or "nothing was probed"



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


def report(store, run_id: str, hypothesis_set: str, run: dict) -> Optional[dict]:
    """The probe games stored for the set, summarised (their transcripts left out)."""
    from .stage import stored_probe

    probe = stored_probe(store, run_id, hypothesis_set)
    if probe is None:
        return None
    for h in probe["hypotheses"]:
        h.pop("rounds")
        h["control"].pop("rounds")
        h["per_probe"] = h["per_probe"][:5]
    return probe


def sections(probe: dict) -> list[Section]:
    return [Section("Probe game", caption=probe_caption(probe),
                    tables=[Table(PROBE_HEAD, probe_rows(probe))])]
