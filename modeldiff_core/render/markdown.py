"""The run report as Markdown, from `report_data`. Model and assistant text is HTML-escaped (a
Markdown viewer renders inline HTML) and kept on one line; settings sit in code spans."""
from __future__ import annotations

import html
from typing import Any

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


def _code(text: Any) -> str:
    """Settings in a Markdown code span (literal there; backticks removed)."""
    return "`" + str(text).replace("`", "'") + "`"


def _md(text: Any) -> str:
    """Model text inside Markdown: HTML-escaped, one line, table pipes escaped."""
    return html.escape(short(text), quote=False).replace("|", "\\|")


def _table(head: list[str], align: str, rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", align] + ["| " + " | ".join(r) + " |" for r in rows]


def render_markdown(data: dict) -> str:
    n_val = sum(h["validated"] for h in data["hypotheses"])
    out = _head(data)
    out += ["", f"## Hypotheses — {n_val} of {len(data['hypotheses'])} validated "
            f"(discriminative q < {data['alpha']}, held-out texts)", ""]
    for h in ordered(data):
        out += _hypothesis(h)
    for section in method_sections(data):
        out += _section(section)
    if data["failed_steps"]:
        out += ["## Failed steps", ""] + [f"- {_md(s)}" for s in data["failed_steps"]]
    return "\n".join(out) + "\n"


def _head(data: dict) -> list[str]:
    """Title, settings, the yardstick and the top clusters."""
    out = [f"# modeldiff report — {_md(data['run_id'])}", "",
           f"**Model A:** {_code(data['model_a'])} · **Model B:** {_code(data['model_b'])} · "
           f"texts A = {data['n_texts']['A']}, B = {data['n_texts']['B']} · "
           f"created {_md(data['created_at'])}", "", "## Settings", ""]
    out += [f"- **{k}:** {_code(v)}" for k, v in settings_lines(data)]
    out += ["", "## Yardstick", "",
            f"How separable A and B are at all — {baseline_line(data['baseline'])}.",
            "", _md(coverage_line(data.get("coverage"))),
            "", _md(self_check_line(data.get("self_check"))),
            "", f"## Top clusters (of {data['n_clusters']}, by q)", ""]
    return out + _table(
        ["cluster", "A", "B", "share B", "log odds (95% CI)", "p", "q", "top terms"],
        "|---:|---:|---:|---:|---|---:|---:|---|",
        [[str(c["cluster_id"]), str(c["size_a"]), str(c["size_b"]), fmt_num(c["share_b"]),
          f"{fmt_num(c['log_odds'])} ({fmt_num(c['ci_low'])}, {fmt_num(c['ci_high'])})",
          fmt_p(c["p_value"]), fmt_p(c["q_value"]), _md(c.get("top_terms") or "")]
         for c in data["clusters"]])


def _hypothesis(h: dict) -> list[str]:
    mark = "✅ **VALIDATED**" if h["validated"] else "not validated"
    out = [f"### {h['id']} — {mark}", "", f"> {_md(finding(h))}", "",
           f"- finding: {_md(role(h))}",
           f"- source: {_md(h['source'])}; direction: {_md(h['direction'])}",
           f"- discriminative: {disc_line(h['discriminative'])}",
           f"- generative: {gen_line(h['generative'], h.get('generative_skipped'))}"]
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
                    f"{len(pairs['pairs'])} of {pairs['n']}):", ""]
        out += _table(["Δ favoured", "favoured", "Δ contrast", "contrast"], "|---:|---|---:|---|",
                      [[fmt_num(p["diff_favoured"], 3), _md(p["favoured"]),
                        fmt_num(p["diff_contrast"], 3), _md(p["contrast"])]
                       for p in pairs["pairs"]])
    return out + [""]


def _section(sec: Section) -> list[str]:
    out = [f"## {_md(sec.title).replace('{}', _code(sec.code))}", ""]
    if sec.caption:
        out += [_md(sec.caption), ""]
    out += [f"- **{_md(bold)}:** {_md(text)}" for bold, text in sec.bullets]
    out += [f"- note: {_md(n)}" for n in sec.notes]
    for t in sec.tables:
        if t.title:
            out += ["", f"{_md(t.title)}:", ""]
        align = "|" + "---|" * t.text_columns + "---:|" * (len(t.head) - t.text_columns)
        out += _table(t.head, align, [[_md(c) for c in r] for r in t.rows])
    return out + [""]
