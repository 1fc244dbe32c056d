"""What the feature lens shows on the terminal."""
from __future__ import annotations

from typing import Optional

from ...cli_args import as_json as to_json  # noqa: F401 - --out writes the result as it is
from ...formats import Section, Table, fmt_num, fmt_p, short


def strongest_first(features: list[dict]) -> list[dict]:
    """Features by how surely and how much they rise on B's texts: B-specific first, then the
    smallest q, then the largest effect (the page's picker and the conclusion agree)."""
    return sorted(features, key=lambda f: (not f["b_specific"], _or_inf(f.get("q_value")),
                                           -(f.get("effect") or 0.0)))


def _or_inf(x) -> float:
    return float("inf") if x is None or x != x else float(x)


def conclusion(result: dict) -> list[str]:
    """What the feature lens found, in sentences: how many of B's delta features are
    B-specific, the strongest, and for each hypothesis its best feature and what removing B's
    delta does to the behaviour."""
    specific = strongest_first([f for f in result["features"] if f["b_specific"]])
    promoted = {t["latent"]: t["promoted"] for t in result["top_features"]}
    lines = [f"{len(specific)} of {len(result['features'])} features of B's change (layer "
             f"{result['layer']}) fire more on B's texts than on A's."]
    if specific:
        f = specific[0]
        tokens = ", ".join(repr(t) for t in promoted.get(f["latent"], [])[:5])
        lines.append(f"The strongest, feature {f['latent']}, fires on {100 * f['freq_b']:.0f}% of "
                     f"B's tokens against {100 * f['freq_a']:.0f}% of A's"
                     + (f" and promotes {tokens}." if tokens else "."))
    for h in result.get("hypotheses", []):
        hid = h["hypothesis_id"]
        best = next((k for k in result["links"] if k["hypothesis_id"] == hid), None)
        rate = {(r["condition"], r["alpha"]): r["behaviour_rate"] for r in result["scaling"]
                if r["hypothesis_id"] == hid}
        said = [f"{hid}: best matched by feature {best['latent']} (AUC {best['auc']:.2f})"
                if best else f"{hid}: no feature matches it"]
        raw, off = rate.get(("raw", None)), rate.get(("all delta latents", 0.0))
        if raw is not None and off is not None:
            said.append(f"with B's delta features at 0 its behaviour rate goes from {raw:.2f} "
                        f"to {off:.2f} (A: {rate.get(('A', None)) or 0:.2f})")
        lines.append("; ".join(said) + ".")
    return lines


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



def feature_caption(lens: dict) -> str:
    s = lens["settings"]
    return (f"Layer {lens['layer']} ({lens['layer_from']}). A top-k transcoder fitted to A's MLP "
            f"there, and a delta dictionary fitted to what B's MLP adds with A's frozen, on "
            f"{lens['n_fit_texts']} discovery texts; measured on {lens['n_texts']} held-out "
            f"texts paired by prompt. A feature is B-specific when its per-prompt rise on B's "
            f"texts passes a sign-flip test over prompts at Benjamini–Hochberg q < "
            f"{s.get('fdr', 0.05)}.")


def feature_tables(lens: dict, n_features: int = 10) -> dict:
    """Title -> (header, rows of strings) for the feature lens: the dictionaries' quality, the
    top B-specific features, each hypothesis' linked features and its scaling conditions.
    Model text in the rows (top texts, tokens) is the caller's to escape."""
    tables = {"Dictionary quality (held-out texts)": (
        ["dictionary", "model", "variance explained", "L0 and dead latents of", "L0",
         "dead latents", "LM loss increase (nats/token)"],
        [[q["dictionary"], q["model"], fmt_num(q["fve"], 3), q.get("code", ""),
          fmt_num(q["l0"], 1), f"{q['dead']}/{q['n_latents']}", f"{q['loss_increase']:+.4f}"]
         for q in lens["quality"]])}
    top = {t["latent"]: t for t in lens.get("top_features", [])}
    specific = [f for f in lens["features"] if f["b_specific"]][:n_features]
    if specific:
        none = {"promoted": [], "texts": []}  # a feature past the top ones kept
        tables["B-specific delta features"] = (
            ["feature", "freq A", "freq B", "effect", "q", "promotes", "top text"],
            [[str(f["latent"]), fmt_num(f["freq_a"]), fmt_num(f["freq_b"]),
              f"{f['effect']:+.3g}", fmt_p(f["q_value"]), " ".join(t["promoted"][:5]),
              short(t["texts"][0]["text"], 100) if t["texts"] else ""]
             for f in specific for t in [top.get(f["latent"], none)]])
    if lens.get("links"):
        tables["Features that best predict each hypothesis (AUC on held-out texts)"] = (
            ["hypothesis", "feature", "AUC"],
            [[r["hypothesis_id"], str(r["latent"]), fmt_num(r["auc"])] for r in lens["links"]])
    if lens.get("scaling"):
        tables["B with its delta scaled (error term kept; reconstructions alone drop it)"] = (
            ["hypothesis", "setting", "log-prob gap to A", "behaviour rate"],
            [[r["hypothesis_id"], scaling_setting(r), fmt_num(r["logprob_gap"], 3),
              fmt_num(r["behaviour_rate"])] for r in lens["scaling"]
             if r["alpha"] in (None, 0.0)])
    return tables


def scaling_setting(row: dict) -> str:
    """A feature-lens scaling row's setting in words."""
    names = {"A": "model A", "raw": "model B", "no delta": "B, MLP = base reconstruction",
             "full": "B, MLP = base + delta reconstruction"}
    if row["condition"] in names:
        return names[row["condition"]]
    return f"B, {row['condition']} × {row['alpha']:g}"


def report(store, run_id: str, hypothesis_set: str, run: dict) -> Optional[dict]:
    """The stored feature lens, without the per-token activations and with the B-specific
    features only (what the report's tables show)."""
    lens = store.method_result(run_id, "features", hypothesis_set)
    if lens is None:
        return None
    lens["features"] = [f for f in lens["features"] if f["b_specific"]]
    for t in lens["top_features"]:
        t["texts"] = [{k: v for k, v in x.items() if k != "tokens"} for x in t["texts"][:1]]
    return lens


def sections(lens: dict) -> list[Section]:
    return [Section("Feature lens", caption=feature_caption(lens),
                    notes=list(lens.get("notes", [])),
                    tables=[Table(head, rows, title, text_columns=2) for title, (head, rows)
                            in feature_tables(lens).items()])]
