"""What the token diff shows on the terminal: the means, and the tokens each model favours
most."""
from __future__ import annotations

from ...cli_args import as_json


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


def to_json(result: dict) -> str:
    return as_json(result)


def report(store, run_id: str, hypothesis_set: str, run: dict) -> None:
    return None  # nothing of a run's: it is not part of a run's report


def sections(data) -> list:
    return []
