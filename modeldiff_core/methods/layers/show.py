"""What the layer lens shows on the terminal: deltas and activation distances by layer, and
each hypothesis' conclusion."""
from __future__ import annotations

from typing import Optional

from ...cli_args import as_json as to_json  # noqa: F401 - --out writes the result as it is
from ...formats import Section, Table, fmt_num, sci


def conclusion(result: dict) -> list[str]:
    """Where B's change lives, in sentences: the layer whose weights moved most, where the
    activations part most, and what scaling each layer alone brings back of each behaviour."""
    lines = []
    if result["weight_delta"]:
        top = max(result["weight_delta"], key=lambda r: r["rel_norm"])
        lines.append(f"B's weights moved most at layer {top['layer']} ({top['module']}: "
                     f"|W_B - W_A| / |W_A| = {top['rel_norm']:.3g}).")
    if result["activation_diff"]:
        top = max(result["activation_diff"], key=lambda r: r["cosine"])
        lines.append(f"The models' activations part most at layer {top['layer']} (cosine "
                     f"distance {top['cosine']:.3g} on held-out texts).")
    lines += [f"{hid}: {text}" for hid, text in result.get("conclusions", {}).items()]
    return lines or ["Nothing measured yet."]


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



def lens_tables(lens: dict) -> dict:
    """Title -> (header, rows of strings) for the layer lens tables."""
    tables = {}
    modules = list(dict.fromkeys(r["module"] for r in lens["weight_delta"]))
    layers = list(dict.fromkeys(r["layer"] for r in lens["weight_delta"]))
    value = {(r["layer"], r["module"]): r["rel_norm"] for r in lens["weight_delta"]}
    if layers:
        tables["Weight delta ‖W_B − W_A‖ / ‖W_A‖ by layer"] = (
            ["layer", *modules], [[str(layer), *[sci(value.get((layer, m))) for m in modules]]
                                  for layer in layers])
    if lens["activation_diff"]:
        tables["Activation difference by layer (held-out texts)"] = (
            ["layer", "cosine distance", "relative L2"],
            [[str(r["layer"]), sci(r["cosine"]), sci(r["rel_l2"])]
             for r in lens["activation_diff"]])
    if lens.get("restoration"):
        tables["Share of B's effect restored by scaling these layers alone (α = 1)"] = (
            ["hypothesis", "layers", "log-prob gap", "behaviour rate"],
            [[r["hypothesis_id"], ", ".join(str(x) for x in r.get("layers") or [r["layer"]]),
              fmt_num(r.get("logprob_fraction")), fmt_num(r.get("predicate_fraction"))]
             for r in lens["restoration"]])
    return tables


def report(store, run_id: str, hypothesis_set: str, run: dict) -> Optional[dict]:
    return store.method_result(run_id, "layers", hypothesis_set)


def sections(lens: dict) -> list[Section]:
    return [Section("Layer lens", bullets=list(lens["conclusions"].items()),
                    notes=list(lens.get("notes", [])),
                    tables=[Table(head, rows, title) for title, (head, rows)
                            in lens_tables(lens).items()])]
