"""What the quantization study shows: a table of levels on the terminal."""
from __future__ import annotations

from ...cli_args import as_json


def summary(result: dict) -> str:
    lines = [f"{result['model']}: {len(result['levels'])} levels against {result['reference']} "
             f"({result['eval_set']}, {result['n_texts']} texts)",
             f"{'level':<13} {'KL mean':>9} {'median':>9} {'p99':>9} {'top-1':>6} "
             f"{'ppl':>8} {'ref ppl':>8} {'flips':>7}"]
    for r in result["levels"]:
        lines.append(f"{r['level']:<13} {r['kl_mean']:>9.2e} {r['kl_median']:>9.2e} "
                     f"{r['kl_p99']:>9.2e} {r['top1_agreement']:>6.3f} {r['ppl']:>8.3f} "
                     f"{r['ppl_ref']:>8.3f} {r['flips']:>3}/{r['n_mc']:<3}")
    return "\n".join(lines)


def to_json(result: dict) -> str:
    return as_json(result)
