"""What the layer lens shows on the terminal: deltas and activation distances by layer, and
each hypothesis' conclusion."""
from __future__ import annotations

from ...cli_args import as_json


def summary(result: dict) -> str:
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


def to_json(result: dict) -> str:
    return as_json(result)
