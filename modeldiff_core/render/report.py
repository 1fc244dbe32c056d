"""A run summarised for presenting: pair and settings, map, top clusters, hypotheses with their
held-out evidence and validation figures — as data, Markdown, or one self-contained HTML file.

Reads only through `Store` methods. Every piece of model or assistant text is HTML-escaped."""
from __future__ import annotations

import base64
import html
import json
import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from ..config import ModelDiffError
from ..hypotheses.types import Hypothesis
from ..hypotheses.validation import judged_texts

TOP_CLUSTERS = 10
N_EXAMPLES = 3  # held-out texts shown as most / least B-like
N_PAIRS = 5  # generated pairs shown per hypothesis
MAX_MAP_POINTS = 5000
SIDE_COLOURS = {"A": "#1f77b4", "B": "#d62728"}
_SVG_NS = ' xmlns="http://www.w3.org/2000/svg"'  # needed only by a standalone SVG image


# ----------------------------------------------------------------------------- data
def _plain(x: Any) -> Any:
    """JSON-able Python values (numpy scalars, timestamps, NaN -> None)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def held_out_examples(gens: pd.DataFrame, h: dict, disc: Optional[dict]) -> Optional[dict]:
    """The held-out (validation) texts `gens` scored most and least B-like. Uses the scores
    stored with the discriminative test; without them, re-judges the texts with the offline
    assistant when the hypothesis has a predicate; otherwise None."""
    scored = judged_texts(gens, disc)
    if scored is not None:
        judge = "stored scores of the discriminative test"
    elif h.get("predicate") and not gens.empty:
        from ..assistants.offline import OfflineAssistant

        hyp = Hypothesis(h["text"], h["direction"], h["source"], h["predicate"], h["evidence"])
        scored = gens[["side", "text"]].copy()
        scored["score"] = OfflineAssistant().judge(hyp, scored["text"].tolist())
        judge = "re-judged with the offline assistant's predicate"
    else:
        return None
    if scored.empty:
        return None
    # A seeded shuffle before a stable sort: ties (0/1 scores) are broken neutrally.
    scored = scored.iloc[np.random.default_rng(0).permutation(len(scored))]
    scored = scored.sort_values("score", ascending=False, kind="stable")
    pick = lambda df: [{"side": r.side, "score": float(r.score), "text": r.text}  # noqa: E731
                       for r in df.itertuples()]
    return {"judge": judge, "n": int(len(scored)), "most": pick(scored.head(N_EXAMPLES)),
            "least": pick(scored.tail(N_EXAMPLES).iloc[::-1])}


def _generated_pairs(gen: Optional[dict]) -> Optional[dict]:
    if not gen or not gen.get("pairs") or not gen.get("diffs"):
        return None
    fav, con = gen["diffs"]["favoured"], gen["diffs"]["contrast"]
    rows = [{"favoured": p["favoured"], "contrast": p["contrast"], "prompt": p.get("prompt"),
             "diff_favoured": f, "diff_contrast": c}
            for p, f, c in zip(gen["pairs"], fav, con)]
    return {"n": len(rows), "mean_diff_favoured": gen.get("mean_diff_favoured"),
            "mean_diff_contrast": gen.get("mean_diff_contrast"), "pairs": rows[:N_PAIRS]}


def report_data(store, run_id: str, assistant: str = "offline") -> dict:
    """Everything the report shows, as JSON-able data. Raises ModelDiffError when the run does not
    exist or has no result yet."""
    run = store.get_run(run_id)
    if run is None:
        raise ModelDiffError(f"no run {run_id}")
    result = store.result(run_id)
    if result is None:
        raise ModelDiffError(f"run {run_id} has no result yet (its job may still be running)")
    if result.get("assistant", "offline") != assistant:
        from ..results import build_result  # another assistant's hypotheses on the same run

        result = build_result(store, run_id, assistant)
    hyps = store.hypotheses(run_id, assistant).set_index("hypothesis_id")
    val = store.validations(run_id, assistant)
    tests = {(r.hypothesis_id, r.test): r.result for r in val.itertuples()}
    alphas = val["alpha"].dropna() if not val.empty else pd.Series(dtype=float)
    held_out = store.generations(run_id, split="validation")
    verdicts = store.annotations(run_id, assistant)
    hypotheses = []
    for h in result["hypotheses"]:
        row = dict(h)
        stored = hyps.loc[h["id"]].to_dict() if h["id"] in hyps.index else None
        row["examples"] = (None if stored is None else held_out_examples(
            held_out, stored, tests.get((h["id"], "discriminative"))))
        row["pairs"] = _generated_pairs(tests.get((h["id"], "generative")))
        row["verdict"] = verdicts.get(h["id"])  # the researcher's, from the Hypotheses page
        hypotheses.append(row)
    clusters = sorted(result["clusters"], key=lambda c: (  # untested (noise) last
        c["q_value"] if c["q_value"] is not None and c["q_value"] == c["q_value"] else 2.0,
        c["cluster_id"]))
    return _plain({
        "run_id": run_id, "created_at": str(run["created_at"])[:19], "status": run["status"],
        "model_a": run["model_a"], "model_b": run["model_b"], "spec_a": run["spec_a"],
        "spec_b": run["spec_b"], "prompt_set": run["prompt_set"], "settings": run["settings"],
        "cluster_settings": run["cluster_settings"], "n_texts": result["n_texts"],
        "baseline": result["baseline"], "coverage": result.get("coverage"),
        "assistant": assistant,
        "alpha": float(alphas.iloc[0]) if len(alphas) else 0.05,
        "n_clusters": len(clusters), "clusters": clusters[:TOP_CLUSTERS],
        "hypotheses": hypotheses, "failed_steps": result.get("failed_steps", []),
        "quantization": quantization_for(store, [run["spec_a"]["model"], run["spec_b"]["model"]]),
        "layer_lens": store.layer_lens(run_id, assistant)})


def quantization_for(store, models: list[str]) -> list[dict]:
    """The newest quantization study of each of the run's models, when one was measured."""
    from ..methods.quant.study import quant_result

    studies = store.quant_studies(list(dict.fromkeys(models)))
    studies = studies[studies["n_levels"] > 0].drop_duplicates("model")
    return [quant_result(store, sid) for sid in studies["study_id"]]


# ------------------------------------------------------------------------ formatting
def fmt_p(x: Optional[float]) -> str:
    """p- and q-values: 0.032, 0.41, 3.2e-05."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.1e}" if x < 1e-3 else f"{x:.3f}" if x < 0.1 else f"{x:.2f}"


def fmt_num(x: Optional[float], digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}f}"


def _short(text: str, width: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width] + "…"


def _settings_lines(data: dict) -> list[tuple[str, str]]:
    gen = (data["settings"] or {}).get("generation", {})
    return [
        ("Model A", json.dumps(data["spec_a"], sort_keys=True)),
        ("Model B", json.dumps(data["spec_b"], sort_keys=True)),
        ("Prompt set", str(data["prompt_set"])),
        ("Generation", json.dumps(gen, sort_keys=True)),
        ("Validation fraction", str((data["settings"] or {}).get("validation_fraction"))),
        ("Clustering", json.dumps(data["cluster_settings"], sort_keys=True)),
        ("Assistant", data["assistant"]),
        ("Alpha", str(data["alpha"])),
    ]


def _disc_line(d: Optional[dict]) -> str:
    if not d:
        return "not tested"
    return (f"accuracy {fmt_num(d.get('accuracy'))} (95% CI {fmt_num(d.get('ci_low'))}–"
            f"{fmt_num(d.get('ci_high'))}), AUC {fmt_num(d.get('auc'))}, n = {d.get('n')} texts "
            f"of {d.get('n_prompts')} prompts, p = {fmt_p(d.get('p_value'))}, "
            f"q = {fmt_p(d.get('q_value'))} (prompt-level)")


def _gen_line(g: Optional[dict]) -> str:
    if not g:
        return "not run (no pairs)"
    return (f"AUC {fmt_num(g.get('auc'))}, n = {g.get('n')} pairs of {g.get('n_prompts')} prompts, "
            f"p = {fmt_p(g.get('p_value'))}, q = {fmt_p(g.get('q_value'))} (paired, prompt-level)")


def coverage_line(c: Optional[dict]) -> str:
    """How much of the separability the validated hypotheses explain, in one sentence."""
    if not c or c.get("share") is None:
        note = (c or {}).get("note") or "not applicable"
        return f"Coverage: {note}."
    return (f"Coverage: the validated hypotheses ({c.get('n_hypotheses')}) tell the models "
            f"apart at accuracy {fmt_num(c['accuracy'])} (AUC {fmt_num(c['auc'])}) where the "
            f"bag-of-words reaches {fmt_num(c['baseline_accuracy'])} (AUC "
            f"{fmt_num(c['baseline_auc'])}) on the same {c.get('n_texts')} held-out texts of "
            f"{c.get('n_prompts')} prompts: they explain {100 * c['share']:.0f}% of the "
            "separability" + (" — something unexplained remains." if c["share"] < 0.8 else "."))


def _baseline_line(b: dict) -> str:
    return (f"bag-of-words logistic regression on held-out texts: accuracy "
            f"{fmt_num(b.get('accuracy'))}, AUC {fmt_num(b.get('auc'))} (n = {b.get('n')}, "
            f"{b.get('folds', '?')} folds grouped by prompt)")


def _ordered(data: dict) -> list[dict]:
    """Validated hypotheses first, then by discriminative q."""
    def key(h):
        q = (h["discriminative"] or {}).get("q_value")
        return (not h["validated"], 2.0 if q is None else q)
    return sorted(data["hypotheses"], key=key)


# -------------------------------------------------------------------------- markdown
def _code(text: Any) -> str:
    """Settings in a Markdown code span (literal there; backticks removed)."""
    return "`" + str(text).replace("`", "'") + "`"


def _md(text: Any) -> str:
    """Model text inside Markdown: HTML-escaped, one line, table pipes escaped."""
    return html.escape(_short(text), quote=False).replace("|", "\\|")


def render_markdown(data: dict) -> str:
    n_val = sum(h["validated"] for h in data["hypotheses"])
    out = [f"# modeldiff report — {_md(data['run_id'])}", "",
           f"**Model A:** {_code(data['model_a'])} · **Model B:** {_code(data['model_b'])} · "
           f"texts A = {data['n_texts']['A']}, B = {data['n_texts']['B']} · "
           f"created {_md(data['created_at'])}", "", "## Settings", ""]
    out += [f"- **{k}:** {_code(v)}" for k, v in _settings_lines(data)]
    out += ["", "## Yardstick", "",
            f"How separable A and B are at all — {_baseline_line(data['baseline'])}.",
            "", _md(coverage_line(data.get("coverage"))),
            "", f"## Top clusters (of {data['n_clusters']}, by q)", "",
            "| cluster | A | B | share B | log odds (95% CI) | p | q | top terms |",
            "|---:|---:|---:|---:|---|---:|---:|---|"]
    for c in data["clusters"]:
        out.append(f"| {c['cluster_id']} | {c['size_a']} | {c['size_b']} | "
                   f"{fmt_num(c['share_b'])} | {fmt_num(c['log_odds'])} "
                   f"({fmt_num(c['ci_low'])}, {fmt_num(c['ci_high'])}) | {fmt_p(c['p_value'])} | "
                   f"{fmt_p(c['q_value'])} | {_md(c.get('top_terms') or '')} |")
    out += ["", f"## Hypotheses — {n_val} of {len(data['hypotheses'])} validated "
            f"(discriminative q < {data['alpha']}, held-out texts)", ""]
    for h in _ordered(data):
        mark = "✅ **VALIDATED**" if h["validated"] else "not validated"
        out += [f"### {h['id']} — {mark}", "", f"> {_md(h['text'])}", "",
                f"- source: {_md(h['source'])}; direction: {_md(h['direction'])}",
                f"- discriminative: {_disc_line(h['discriminative'])}",
                f"- generative: {_gen_line(h['generative'])}"]
        if h.get("verdict"):
            out.append(f"- researcher's verdict: **{_md(h['verdict']['verdict'])}**"
                       + (f" — {_md(h['verdict']['note'])}" if h["verdict"]["note"] else ""))
        ex = h.get("examples")
        if ex:
            out += ["", f"Held-out texts judged most / least B-like ({ex['judge']}, "
                        f"of {ex['n']}):", ""]
            for label, rows in (("most", ex["most"]), ("least", ex["least"])):
                out += [f"- {label} B-like: score {fmt_num(r['score'])}, written by {r['side']}: "
                        f"“{_md(r['text'])}”" for r in rows]
        pairs = h.get("pairs")
        if pairs:
            out += ["", f"Generated pairs (log-prob difference B − A per token; first "
                        f"{len(pairs['pairs'])} of {pairs['n']}):", "",
                    "| Δ favoured | favoured | Δ contrast | contrast |", "|---:|---|---:|---|"]
            out += [f"| {fmt_num(p['diff_favoured'], 3)} | {_md(p['favoured'])} | "
                    f"{fmt_num(p['diff_contrast'], 3)} | {_md(p['contrast'])} |"
                    for p in pairs["pairs"]]
        out.append("")
    for q in data.get("quantization") or []:
        out += [f"## Quantization — {_code(q['model'])} against {q['reference']}", "",
                f"{q['n_texts']} texts of {_md(q['eval_set'])}; KL(reference ‖ level) per token.",
                "", "| level | KL mean | KL median | KL p99 | top-1 agreement | ppl (ref) | "
                "answer flips | tokens |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        out += [f"| {r['level']} | {_sci(r['kl_mean'])} | {_sci(r['kl_median'])} | "
                f"{_sci(r['kl_p99'])} | {fmt_num(r['top1_agreement'], 3)} | "
                f"{fmt_num(r['ppl'], 3)} ({fmt_num(r['ppl_ref'], 3)}) | {r['flips']} of "
                f"{r['n_mc']} | {r['n_tokens']} |" for r in q["levels"]]
        out.append("")
    lens = data.get("layer_lens")
    if lens:
        out += ["## Layer lens", ""]
        out += [f"- **{_md(hid)}:** {_md(text)}" for hid, text in lens["conclusions"].items()]
        out += [f"- note: {_md(n)}" for n in lens.get("notes", [])]
        for title, (head, rows) in _lens_tables(lens).items():
            out += ["", f"{title}:", "", "| " + " | ".join(head) + " |",
                    "|" + "---:|" * len(head)]
            out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
        out.append("")
    if data["failed_steps"]:
        out += ["## Failed steps", ""] + [f"- {_md(s)}" for s in data["failed_steps"]]
    return "\n".join(out) + "\n"


def _lens_tables(lens: dict) -> dict:
    """Title -> (header, rows of strings) for the layer lens tables."""
    tables = {}
    modules = list(dict.fromkeys(r["module"] for r in lens["weight_delta"]))
    layers = list(dict.fromkeys(r["layer"] for r in lens["weight_delta"]))
    value = {(r["layer"], r["module"]): r["rel_norm"] for r in lens["weight_delta"]}
    if layers:
        tables["Weight delta ‖W_B − W_A‖ / ‖W_A‖ by layer"] = (
            ["layer", *modules], [[str(layer), *[_sci(value.get((layer, m))) for m in modules]]
                                  for layer in layers])
    if lens["activation_diff"]:
        tables["Activation difference by layer (held-out texts)"] = (
            ["layer", "cosine distance", "relative L2"],
            [[str(r["layer"]), _sci(r["cosine"]), _sci(r["rel_l2"])]
             for r in lens["activation_diff"]])
    if lens.get("restoration"):
        tables["Share of B's effect restored by scaling these layers alone (α = 1)"] = (
            ["hypothesis", "layers", "log-prob gap", "behaviour rate"],
            [[r["hypothesis_id"], ", ".join(str(x) for x in r.get("layers") or [r["layer"]]),
              fmt_num(r.get("logprob_fraction")), fmt_num(r.get("predicate_fraction"))]
             for r in lens["restoration"]])
    return tables


def _sci(x: Optional[float]) -> str:
    return "—" if x is None else "0" if x == 0 else f"{x:.2e}"


# ------------------------------------------------------------------------------ html
_CSS = """
.mdr{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:1100px;
 margin:0 auto;padding:1em;line-height:1.45}
.mdr h1{font-size:1.6em}.mdr h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.mdr table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
.mdr th,.mdr td{border:1px solid #ddd;padding:.25em .5em;vertical-align:top;text-align:left}
.mdr td.n{text-align:right;font-variant-numeric:tabular-nums}
.mdr .hyp{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:1em 0}
.mdr .hyp.ok{border:2px solid #2e7d32;background:#f3faf3}
.mdr .badge{display:inline-block;padding:.1em .5em;border-radius:4px;font-size:.8em;
 font-weight:bold;background:#eee;color:#555}
.mdr .ok .badge{background:#2e7d32;color:#fff}
.mdr blockquote{margin:.4em 0;padding:.2em .8em;border-left:4px solid #bbb;background:#fafafa}
.mdr .yard{background:#fff8e1;border-left:4px solid #f9a825;padding:.5em 1em}
.mdr .A{color:#1f77b4;font-weight:bold}.mdr .B{color:#d62728;font-weight:bold}
.mdr code{font-size:.85em;word-break:break-all}.mdr .muted{color:#777;font-size:.9em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _side(side: str) -> str:
    return f'<span class="{_e(side)}">{_e(side)}</span>'


def _sample_points(points: pd.DataFrame, limit: int = MAX_MAP_POINTS) -> pd.DataFrame:
    """At most `limit` points, chosen by a fixed seed, in a shuffled (seeded) drawing order."""
    order = np.random.default_rng(0).permutation(len(points))[:limit]
    return points.iloc[order]


def map_svg(points: pd.DataFrame, width: int = 640, height: int = 440,
            as_image: bool = False) -> str:
    """The UMAP map as an inline SVG scatter, coloured by model. `as_image`: the same SVG as a
    data-URI <img>, for hosts whose sanitiser drops inline SVG (Streamlit's st.html)."""
    pts = _sample_points(points)
    if pts.empty:
        return '<p class="muted">No map stored for this run.</p>'
    x, y = pts["x"].to_numpy(float), pts["y"].to_numpy(float)
    pad = 10

    def scale(v, lo, hi, size):
        return pad + (v - lo) / ((hi - lo) or 1.0) * (size - 2 * pad)

    sx = scale(x, x.min(), x.max(), width)
    sy = height - scale(y, y.min(), y.max(), height)
    dots = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.2" fill="{SIDE_COLOURS.get(s, "#888")}"'
                   '/>' for a, b, s in zip(sx, sy, pts["side"]))
    legend = "".join(f'<circle cx="{16 + 90 * i}" cy="14" r="5" fill="{c}"/>'
                     f'<text x="{26 + 90 * i}" y="18" font-size="12" '
                     f'font-family="sans-serif">model {s}</text>'
                     for i, (s, c) in enumerate(SIDE_COLOURS.items()))
    svg = (f'<svg{_SVG_NS if as_image else ""} viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="UMAP map">'
           f'<rect width="100%" height="100%" fill="#fff" stroke="#ddd"/>'
           f'<g fill-opacity="0.6">{dots}</g>{legend}</svg>')
    if as_image:
        svg = (f'<img alt="UMAP map" width="{width}" height="{height}" '
               f'src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">')
    return svg + f'<p class="muted">{len(pts)} of {len(points)} texts shown (seeded sample).</p>'


def _table(head: Optional[list[str]], rows: list[list[str]], numeric=frozenset()) -> str:
    th = "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>" if head else ""
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table>{th}<tbody>{body}</tbody></table>"


def _hypothesis_html(h: dict) -> str:
    ok = h["validated"]
    parts = [f'<div class="hyp{" ok" if ok else ""}"><h3>{_e(h["id"])} '
             f'<span class="badge">{"✔ VALIDATED" if ok else "not validated"}</span></h3>',
             f"<blockquote>{_e(h['text'])}</blockquote>",
             f'<p class="muted">source: {_e(h["source"])} · direction: {_e(h["direction"])}</p>',
             f"<p><b>Discriminative</b> (held-out texts): {_e(_disc_line(h['discriminative']))}<br>"
             f"<b>Generative</b>: {_e(_gen_line(h['generative']))}</p>"]
    if h.get("verdict"):
        note = h["verdict"]["note"]
        parts.append(f"<p><b>Researcher's verdict</b>: {_e(h['verdict']['verdict'])}"
                     + (f" — {_e(note)}" if note else "") + "</p>")
    ex = h.get("examples")
    if ex:
        rows = [[label, fmt_num(r["score"]), _side(r["side"]), _e(_short(r["text"]))]
                for label, rs in (("most B-like", ex["most"]), ("least B-like", ex["least"]))
                for r in rs]
        parts.append(f"<p>Held-out texts judged most and least B-like ({_e(ex['judge'])}, "
                     f"of {ex['n']}):</p>" + _table(["", "score", "written by", "text"], rows, {1}))
    pairs = h.get("pairs")
    if pairs:
        rows = [[fmt_num(p["diff_favoured"], 3), _e(_short(p["favoured"])),
                 fmt_num(p["diff_contrast"], 3), _e(_short(p["contrast"]))] for p in pairs["pairs"]]
        parts.append(f"<p>Generated pairs — log-prob difference B − A (summed, end of text "
                     f"included); the "
                     f"hypothesis predicts a larger Δ for the favoured text. Mean Δ favoured "
                     f"{fmt_num(pairs['mean_diff_favoured'], 3)} vs contrast "
                     f"{fmt_num(pairs['mean_diff_contrast'], 3)}; first {len(pairs['pairs'])} of "
                     f"{pairs['n']}:</p>"
                     + _table(["Δ favoured", "favoured", "Δ contrast", "contrast"], rows, {0, 2}))
    return "".join(parts) + "</div>"


def render_html(data: dict, map_points: Optional[pd.DataFrame] = None,
                map_as_image: bool = False) -> str:
    """One self-contained HTML file: inline CSS and SVG, no scripts, no external requests."""
    n_val = sum(h["validated"] for h in data["hypotheses"])
    settings = _table(None, [[_e(k), f"<code>{_e(v)}</code>"] for k, v in _settings_lines(data)])
    clusters = _table(
        ["cluster", "A", "B", "share B", "log odds (95% CI)", "p", "q", "top terms"],
        [[str(c["cluster_id"]), str(c["size_a"]), str(c["size_b"]), fmt_num(c["share_b"]),
          f"{fmt_num(c['log_odds'])} ({fmt_num(c['ci_low'])}, {fmt_num(c['ci_high'])})",
          fmt_p(c["p_value"]), fmt_p(c["q_value"]), _e(c.get("top_terms") or "")]
         for c in data["clusters"]], {0, 1, 2, 3, 5, 6})
    body = [
        f"<h1>modeldiff report — {_e(data['run_id'])}</h1>",
        f'<p><span class="A">Model A</span>: <code>{_e(data["model_a"])}</code> · '
        f'<span class="B">Model B</span>: <code>{_e(data["model_b"])}</code><br>'
        f"texts A = {data['n_texts']['A']}, B = {data['n_texts']['B']} · created "
        f"{_e(data['created_at'])} · status {_e(data['status'])}</p>",
        "<h2>Settings</h2>", settings,
        "<h2>Yardstick</h2>",
        '<p class="yard">How separable A and B are at all — '
        f'{_e(_baseline_line(data["baseline"]))}. '
        "A hypothesis explains the difference to the extent its accuracy approaches this.</p>",
        f'<p class="yard">{_e(coverage_line(data.get("coverage")))}</p>',
        "<h2>Map</h2>",
        '<p class="muted">Map not included.</p>' if map_points is None
        else map_svg(map_points, as_image=map_as_image),
        f"<h2>Top clusters (of {data['n_clusters']}, by q)</h2>", clusters,
        f"<h2>Hypotheses — {n_val} of {len(data['hypotheses'])} validated</h2>",
        f'<p class="muted">Validated = discriminative q &lt; {data["alpha"]} (Benjamini–Hochberg '
        "across the run's hypotheses), tested on held-out texts only.</p>",
        *[_hypothesis_html(h) for h in _ordered(data)]]
    for q in data.get("quantization") or []:
        body += [f"<h2>Quantization — <code>{_e(q['model'])}</code> against "
                 f"{_e(q['reference'])}</h2>",
                 f'<p class="muted">{q["n_texts"]} texts of {_e(q["eval_set"])}; '
                 "KL(reference ‖ level) per token; answer flips on the multiple-choice set.</p>",
                 _table(["level", "KL mean", "KL median", "KL p99", "top-1 agreement",
                         "ppl (reference)", "answer flips", "tokens"],
                        [[_e(r["level"]), _sci(r["kl_mean"]), _sci(r["kl_median"]),
                          _sci(r["kl_p99"]), fmt_num(r["top1_agreement"], 3),
                          f"{fmt_num(r['ppl'], 3)} ({fmt_num(r['ppl_ref'], 3)})",
                          f"{r['flips']} of {r['n_mc']}", str(r["n_tokens"])]
                         for r in q["levels"]], {1, 2, 3, 4, 5, 7})]
    lens = data.get("layer_lens")
    if lens:
        body += ["<h2>Layer lens</h2><ul>"
                 + "".join(f"<li><b>{_e(hid)}</b>: {_e(text)}</li>"
                           for hid, text in lens["conclusions"].items())
                 + "".join(f'<li class="muted">{_e(n)}</li>' for n in lens.get("notes", []))
                 + "</ul>"]
        for title, (head, rows) in _lens_tables(lens).items():
            body += [f"<p>{_e(title)}:</p>",
                     _table([_e(h) for h in head], [[_e(c) for c in r] for r in rows],
                            set(range(1, len(head))))]
    if data["failed_steps"]:
        body.append("<h2>Failed steps</h2><ul>"
                    + "".join(f"<li>{_e(s)}</li>" for s in data["failed_steps"]) + "</ul>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>modeldiff report {_e(data['run_id'])}</title></head><body>"
            f'<style>{_CSS}</style><div class="mdr">{"".join(body)}</div></body></html>\n')


# ------------------------------------------------------------------------ token view
def token_strip_html(view, scale: Optional[float] = None) -> str:
    """A text's tokens coloured by log p_B − log p_A (red: B likes it more, blue: A does), each
    with its figures on hover. Token text is escaped."""
    diffs = view.diff
    scale = scale or max(1e-9, float(np.nanmax(np.abs(diffs))) if len(diffs) else 1.0)
    spans = []
    for j, tok in enumerate(view.tokens):
        d = float(diffs[j])
        alpha = min(1.0, abs(d) / scale)
        rgb = "214,39,40" if d > 0 else "31,119,180"
        tip = (f"log p A {view.logprob_a[j]:.2f} (rank {view.rank_a[j]}, top: {view.top_a[j]!r}) · "
               f"log p B {view.logprob_b[j]:.2f} (rank {view.rank_b[j]}, top: {view.top_b[j]!r}) · "
               f"B − A {d:+.2f}")
        spans.append(f'<span title="{_e(tip)}" style="background:rgba({rgb},{alpha:.2f});'
                     f'padding:1px 2px;margin:1px;border-radius:3px;white-space:pre-wrap">'
                     f"{_e(tok)}</span>")
    return ('<div style="line-height:2;font-family:monospace">' + "".join(spans) + "</div>")
