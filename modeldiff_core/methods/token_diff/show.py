"""What the token diff shows on the terminal: the means, and the tokens each model favours
most."""
from __future__ import annotations

from ...cli_args import as_json as to_json  # noqa: F401 - --out writes the result as it is
from ..common.report import no_report as report, no_sections as sections  # noqa: F401


def summary(result: dict, n: int = 8) -> str:
    m = result["means"]
    lines = [f"A = {result['model_a']}, B = {result['model_b']}: {len(result['tokens'])} tokens, "
             f"mean log p A {m['a']:.3f}, B {m['b']:.3f}, B - A {m['diff']:+.3f} per token"]
    diffs = [b - a for a, b in zip(result["logprob_a"], result["logprob_b"])]
    order = sorted(range(len(diffs)), key=lambda j: diffs[j])
    for label, picked in (("B favours most", order[::-1][:n]), ("A favours most", order[:n])):
        rows = [f"{result['tokens'][j]!r} ({diffs[j]:+.2f})" for j in picked
                if (diffs[j] > 0) == (label[0] == "B") and diffs[j] != 0]
        lines.append(f"{label}: " + (", ".join(rows) or "none"))
    lines += [f"note: {n_}" for n_ in result["notices"]]
    return "\n".join(lines)

