"""What `modeldiff run` prints on stdout when it finishes (an analysis prints through its own
`show.summary`)."""
from __future__ import annotations

import math

from .fmt import finding, role, self_check_line


def run_summary(result: dict, alpha: float) -> str:
    lines = [f"run {result['run_id']}: A = {result['model_a']}, B = {result['model_b']}, "
             f"texts A={result['n_texts']['A']} B={result['n_texts']['B']}"]
    b = result["baseline"]
    if not math.isnan(b["accuracy"]):
        lines.append(f"bag-of-words baseline (held-out, n={b['n']}): accuracy {b['accuracy']:.2f}, "
                     f"AUC {b['auc']:.2f}")
    skewed = sorted((c for c in result["clusters"]
                     if c["q_value"] is not None and c["q_value"] < alpha),
                    key=lambda c: c["q_value"])
    lines.append(f"{len(skewed)} of {len(result['clusters'])} clusters differ at q < {alpha} "
                 "(all texts, prompt-level test)")
    for c in skewed[:8]:
        lines.append(f"  cluster {c['cluster_id']:>3}: A={c['size_a']:>4} B={c['size_b']:>4} "
                     f"share B {c['share_b']:.2f} q={c['q_value']:.2g}  [{c['top_terms']}]")
    hyps = result["hypotheses"]
    if result.get("self_check") is not None:
        lines.append(self_check_line(result["self_check"]))
    lines.append(f"{sum(h['validated'] for h in hyps)} of {len(hyps)} hypotheses validated "
                 f"(discriminative q < {alpha}, held-out texts)")
    for h in hyps:
        d = h["discriminative"] or {}
        mark = "VALIDATED" if h["validated"] else "         "
        if h["validated"] and h.get("explained_by"):  # folded under the headline just above
            mark = f"  {role(h)}:"
        if d:
            lines.append(f"  {mark} {h['id']}: acc {d['accuracy']:.2f} AUC {d['auc']:.2f} "
                         f"n={d['n']} texts/{d.get('n_prompts')} prompts q={d['q_value']:.2g}"
                         + (f" (judge alone {d['placebo_auc']:.2f}, added {d.get('added_auc') or 0.0:+.2f})"
                            if d.get("placebo_auc") is not None else "") + f"  {finding(h)}")
    return "\n".join(lines)
