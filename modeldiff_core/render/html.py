"""The run report as one self-contained HTML file (inline CSS and SVG, no scripts, no external
requests), the map as an SVG scatter, and a text's token strip. Every piece of model or
assistant text is HTML-escaped."""
from __future__ import annotations

import base64
import html
from typing import Any, Optional

import numpy as np
import pandas as pd

from ..formats import Section
from .fmt import (
    baseline_line,
    coverage_line,
    disc_line,
    finding,
    role,
    fmt_num,
    fmt_p,
    gen_line,
    ordered,
    self_check_line,
    settings_lines,
    short,
)
from .report import method_sections

MAX_MAP_POINTS = 5000
SIDE_COLOURS = {"A": "#1f77b4", "B": "#d62728"}
_SVG_NS = ' xmlns="http://www.w3.org/2000/svg"'  # needed only by a standalone SVG image
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


def _table(head: Optional[list[str]], rows: list[list[str]], numeric=frozenset()) -> str:
    th = "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>" if head else ""
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table>{th}<tbody>{body}</tbody></table>"


# ------------------------------------------------------------------------------- map
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


# ---------------------------------------------------------------------------- report
def render_html(data: dict, map_points: Optional[pd.DataFrame] = None,
                map_as_image: bool = False) -> str:
    """One self-contained HTML file: inline CSS and SVG, no scripts, no external requests."""
    n_val = sum(h["validated"] for h in data["hypotheses"])
    body = [*_head(data), "<h2>Map</h2>",
            '<p class="muted">Map not included.</p>' if map_points is None
            else map_svg(map_points, as_image=map_as_image),
            f"<h2>Top clusters (of {data['n_clusters']}, by q)</h2>", _clusters(data),
            f"<h2>Hypotheses — {n_val} of {len(data['hypotheses'])} validated</h2>",
            f'<p class="muted">Validated = discriminative q &lt; {data["alpha"]} '
            "(Benjamini–Hochberg across the run's hypotheses), tested on held-out texts only.</p>",
            *[_hypothesis(h) for h in ordered(data)]]
    for section in method_sections(data):
        body += _section(section)
    if data["failed_steps"]:
        body.append("<h2>Failed steps</h2><ul>"
                    + "".join(f"<li>{_e(s)}</li>" for s in data["failed_steps"]) + "</ul>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>modeldiff report {_e(data['run_id'])}</title></head><body>"
            f'<style>{_CSS}</style><div class="mdr">{"".join(body)}</div></body></html>\n')


def _head(data: dict) -> list[str]:
    """Title, the pair, settings and the yardstick."""
    settings = _table(None, [[_e(k), f"<code>{_e(v)}</code>"] for k, v in settings_lines(data)])
    return [
        f"<h1>modeldiff report — {_e(data['run_id'])}</h1>",
        f'<p><span class="A">Model A</span>: <code>{_e(data["model_a"])}</code> · '
        f'<span class="B">Model B</span>: <code>{_e(data["model_b"])}</code><br>'
        f"texts A = {data['n_texts']['A']}, B = {data['n_texts']['B']} · created "
        f"{_e(data['created_at'])} · status {_e(data['status'])}</p>",
        "<h2>Settings</h2>", settings,
        "<h2>Yardstick</h2>",
        '<p class="yard">How separable A and B are at all — '
        f'{_e(baseline_line(data["baseline"]))}. '
        "A hypothesis explains the difference to the extent its accuracy approaches this.</p>",
        f'<p class="yard">{_e(coverage_line(data.get("coverage")))}</p>',
        f'<p class="yard">{_e(self_check_line(data.get("self_check")))}</p>']


def _clusters(data: dict) -> str:
    return _table(
        ["cluster", "A", "B", "share B", "log odds (95% CI)", "p", "q", "top terms"],
        [[str(c["cluster_id"]), str(c["size_a"]), str(c["size_b"]), fmt_num(c["share_b"]),
          f"{fmt_num(c['log_odds'])} ({fmt_num(c['ci_low'])}, {fmt_num(c['ci_high'])})",
          fmt_p(c["p_value"]), fmt_p(c["q_value"]), _e(c.get("top_terms") or "")]
         for c in data["clusters"]], {0, 1, 2, 3, 5, 6})


def _hypothesis(h: dict) -> str:
    ok = h["validated"]
    parts = [f'<div class="hyp{" ok" if ok else ""}"><h3>{_e(h["id"])} '
             f'<span class="badge">{"✔ VALIDATED" if ok else "not validated"}</span></h3>',
             f"<blockquote>{_e(finding(h))}</blockquote>",
             f'<p class="muted">finding: {_e(role(h))} · source: {_e(h["source"])} · '
             f'direction: {_e(h["direction"])}</p>',
             f"<p><b>Discriminative</b> (held-out texts): {_e(disc_line(h['discriminative']))}<br>"
             f"<b>Generative</b>: {_e(gen_line(h['generative'], h.get('generative_skipped')))}</p>"]
    if h.get("verdict"):
        note = h["verdict"]["note"]
        parts.append(f"<p><b>Researcher's verdict</b>: {_e(h['verdict']['verdict'])}"
                     + (f" — {_e(note)}" if note else "") + "</p>")
    ex = h.get("examples")
    if ex:
        rows = [[label, fmt_num(r["score"]), _side(r["side"]), _e(short(r["text"]))]
                for label, rs in (("most B-like", ex["most"]), ("least B-like", ex["least"]))
                for r in rs]
        parts.append(f"<p>Held-out texts judged most and least B-like ({_e(ex['judge'])}, "
                     f"of {ex['n']}):</p>" + _table(["", "score", "written by", "text"], rows, {1}))
    pairs = h.get("pairs")
    if pairs:
        rows = [[fmt_num(p["diff_favoured"], 3), _e(short(p["favoured"])),
                 fmt_num(p["diff_contrast"], 3), _e(short(p["contrast"]))] for p in pairs["pairs"]]
        parts.append(f"<p>Generated pairs — log-prob difference B − A (summed, end of text "
                     f"included); the "
                     f"hypothesis predicts a larger Δ for the favoured text. Mean Δ favoured "
                     f"{fmt_num(pairs['mean_diff_favoured'], 3)} vs contrast "
                     f"{fmt_num(pairs['mean_diff_contrast'], 3)}; first {len(pairs['pairs'])} of "
                     f"{pairs['n']}:</p>"
                     + _table(["Δ favoured", "favoured", "Δ contrast", "contrast"], rows, {0, 2}))
    return "".join(parts) + "</div>"


def _section(sec: Section) -> list[str]:
    title = _e(sec.title).replace("{}", f"<code>{_e(sec.code)}</code>")
    out = [f"<h2>{title}</h2>"]
    if sec.caption:
        out.append(f'<p class="muted">{_e(sec.caption)}</p>')
    if sec.bullets:
        out.append("<ul>" + "".join(f"<li><b>{_e(bold)}</b>: {_e(text)}</li>"
                                    for bold, text in sec.bullets) + "</ul>")
    out += [f'<p class="muted">{_e(n)}</p>' for n in sec.notes]
    for t in sec.tables:
        if t.title:
            out.append(f"<p>{_e(t.title)}:</p>")
        out.append(_table([_e(h) for h in t.head], [[_e(c) for c in r] for r in t.rows],
                          set(range(t.text_columns, len(t.head)))))
    return out


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


def feature_tokens_html(tokens: list) -> str:
    """A text's tokens shaded by one feature's activation (darker: stronger; the value on
    hover). Token text is escaped."""
    top = max([a for _, a in tokens] + [1e-9])
    spans = []
    for tok, act in tokens:
        alpha = min(1.0, max(0.0, act) / top)
        spans.append(f'<span title="{act:.3f}" style="background:rgba(255,127,14,{alpha:.2f});'
                     f'padding:1px 1px;border-radius:3px;white-space:pre-wrap">{_e(tok)}</span>')
    return '<div style="line-height:1.9;font-family:monospace">' + "".join(spans) + "</div>"
