"""What the truth bench shows on the terminal: recovery per truth, recall and precision."""
from __future__ import annotations

from ...cli_args import as_json as to_json  # noqa: F401 - --out writes the result as it is
from ..common.report import no_report as report, no_sections as sections  # noqa: F401


def summary(bench: dict) -> str:
    lines = [f"{'truth':<58} {'recovered':<9} {'score':>5}  best validated hypothesis"]
    for row in bench["per_truth"]:
        best = (row["best_hypothesis"] or "—").split(" (")[0]
        lines.append(f"{row['truth'][:58]:<58} {'yes' if row['recovered'] else 'no':<9} "
                     f"{row['score']:>5.2f}  {best}")
    fmt = lambda x: "—" if x is None else f"{x:.2f}"  # noqa: E731
    lines.append(f"recall {fmt(bench['recall'])} ({bench['n_recovered']} of {bench['n_truths']}), "
                 f"precision of validated hypotheses {fmt(bench['precision'])}, "
                 f"null false discoveries {bench['null_false_discoveries']}, "
                 f"wall time {bench['wall_seconds']:.0f} s")
    return "\n".join(lines)

