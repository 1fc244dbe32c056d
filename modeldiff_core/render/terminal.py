"""What the CLI prints on stdout when a command finishes: each result in a few plain lines."""
from __future__ import annotations

import math

from .fmt import against_control, finding, role, self_check_line


def bench_summary(bench: dict) -> str:
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


def quant_summary(result: dict) -> str:
    lines = [f"{result['model']}: {len(result['levels'])} levels against {result['reference']} "
             f"({result['eval_set']}, {result['n_texts']} texts)",
             f"{'level':<13} {'KL mean':>9} {'median':>9} {'p99':>9} {'top-1':>6} "
             f"{'ppl':>8} {'ref ppl':>8} {'flips':>7}"]
    for r in result["levels"]:
        lines.append(f"{r['level']:<13} {r['kl_mean']:>9.2e} {r['kl_median']:>9.2e} "
                     f"{r['kl_p99']:>9.2e} {r['top1_agreement']:>6.3f} {r['ppl']:>8.3f} "
                     f"{r['ppl_ref']:>8.3f} {r['flips']:>3}/{r['n_mc']:<3}")
    return "\n".join(lines)


def layers_summary(result: dict) -> str:
    by_layer: dict = {}
    for r in result["weight_delta"]:
        by_layer.setdefault(r["layer"], {})[r["module"]] = r["rel_norm"]
    lines = ["weight delta |W_B - W_A| / |W_A| by layer: " + ", ".join(
        f"{layer}: " + "/".join(f"{m} {v:.3g}" for m, v in mods.items())
        for layer, mods in sorted(by_layer.items(), key=lambda kv: str(kv[0])))]
    if result["activation_diff"]:
        lines.append("activation difference (cosine distance) by layer: " + ", ".join(
            f"{r['layer']}: {r['cosine']:.3g}" for r in result["activation_diff"]))
    for hid, text in result.get("conclusions", {}).items():
        lines.append(f"{hid}: {text}")
    lines += [f"note: {n}" for n in result.get("notes", [])]
    return "\n".join(lines)


def probe_summary(result: dict) -> str:
    """One line per probed hypothesis: both arms' rounds right, and the paired test against the
    control with its q."""
    lines = []
    for h in result["hypotheses"]:
        verdict = "probe-validated" if h["probe_validated"] else "not probe-validated"
        lines.append(f"{h['hypothesis_id']}: {h['correct']}/{h['n']} right (accuracy "
                     f"{h['accuracy']:.2f}); {against_control(h)}; {verdict} - {h['text']}")
    return "\n".join(lines) or "nothing was probed"


def features_summary(result: dict) -> str:
    """The dictionaries' quality, the B-specific features with their promoted tokens, each
    hypothesis' best-linked feature, and what scaling the delta to 0 does to each behaviour."""
    lines = [f"feature lens at layer {result['layer']} ({result['layer_from']}); dictionaries "
             f"{'reused from' if result['dictionary']['reused'] else 'saved to'} "
             f"{result['dictionary']['path']}"]
    lines += [f"  {q['dictionary']} on {q['model']}: variance explained {q['fve']:.3f}, "
              f"L0 {q['l0']:.1f}, dead {q['dead']}/{q['n_latents']}, LM loss "
              f"{q['loss_increase']:+.4f} nats/token" for q in result["quality"]]
    specific = [f for f in result["features"] if f["b_specific"]]
    lines.append(f"{len(specific)} of {len(result['features'])} delta features fire more on "
                 f"B's texts (q < {result['settings']['fdr']}, prompt-level sign-flip test)")
    promoted = {t["latent"]: t["promoted"] for t in result["top_features"]}
    for f in specific[:5]:
        lines.append(f"  feature {f['latent']}: freq A {f['freq_a']:.2f} B {f['freq_b']:.2f}, "
                     f"effect {f['effect']:+.3g}, q = {f['q_value']:.2g}; promotes "
                     + " ".join(repr(t) for t in promoted.get(f["latent"], [])[:5]))
    rows = result["scaling"]
    for h in result.get("hypotheses", []):
        hid = h["hypothesis_id"]
        best = next((link for link in result["links"] if link["hypothesis_id"] == hid), None)
        rate = {(r["condition"], r["alpha"]): r["behaviour_rate"] for r in rows
                if r["hypothesis_id"] == hid}
        parts = [f"{hid}:"]
        if best:
            parts.append(f"best feature {best['latent']} (AUC {best['auc']:.2f});")
        if rate:
            fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            parts.append(f"behaviour rate A {fmt(rate.get(('A', None)))}, B "
                         f"{fmt(rate.get(('raw', None)))}, B with its delta at 0 "
                         f"{fmt(rate.get(('all delta latents', 0.0)))}")
        lines.append(" ".join(parts) + f" - {h['text']}")
    lines += [f"note: {n}" for n in result.get("notes", [])]
    return "\n".join(lines)
