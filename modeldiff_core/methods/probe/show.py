"""What the probe game shows on the terminal: one line per probed hypothesis."""
from __future__ import annotations

from ...cli_args import as_json


def summary(result: dict) -> str:
    """Both arms' rounds right, and the paired test against the control with its q."""
    from ...render.fmt import against_control

    lines = []
    for h in result["hypotheses"]:
        verdict = "probe-validated" if h["probe_validated"] else "not probe-validated"
        lines.append(f"{h['hypothesis_id']}: {h['correct']}/{h['n']} right (accuracy "
                     f"{h['accuracy']:.2f}); {against_control(h)}; {verdict} - {h['text']}")
    return "\n".join(lines) or "nothing was probed"


def to_json(result: dict) -> str:
    return as_json(result)
