"""What the feature lens shows on the terminal."""
from __future__ import annotations

from ...cli_args import as_json


def summary(result: dict) -> str:
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


def to_json(result: dict) -> str:
    return as_json(result)
