"""One prompt's answers from both models side by side (LLM Comparator's core view): samples
paired by their index, the words each answer has that its pair lacks marked, and the hypotheses
that fire on each answer. Data and escaped HTML only; the page lays them out."""
from __future__ import annotations

import difflib
import html
import re
from typing import Optional

import pandas as pd

from ..hypotheses.predicates import predicate_fires

_PIECE = re.compile(r"\s+|\w+|[^\w\s]")
MARK = "<mark style='background:{};padding:0 1px'>{}</mark>"
COLOURS = {"A": "#cfe3f5", "B": "#f8d0d0"}  # the map's model colours (blue, red), lightened


def word_diff(a: str, b: str) -> tuple[str, str]:
    """Both texts as HTML (escaped; line breaks kept) with the words that are not in the
    other text's matching stretch marked: A's in A's colour, B's in B's."""
    pa, pb = _PIECE.findall(a), _PIECE.findall(b)
    ka, kb = [p.lower() for p in pa], [p.lower() for p in pb]
    out_a, out_b = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        marked = op != "equal"
        out_a.append(_pieces(pa[i1:i2], marked and COLOURS["A"]))
        out_b.append(_pieces(pb[j1:j2], marked and COLOURS["B"]))
    return "".join(out_a), "".join(out_b)


def _pieces(pieces: list[str], colour) -> str:
    """A stretch of pieces as HTML: one mark around its words (not the spaces at its ends)."""
    text = "".join(pieces)
    core = text.strip()
    if not colour or not core:
        return _escaped(text)
    lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    return _escaped(lead) + MARK.format(colour, _escaped(core)) + _escaped(trail)


def _escaped(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def prompt_table(gens: pd.DataFrame, query: str = "") -> pd.DataFrame:
    """The run's prompts (prompt_id, prompt, split, texts of A and of B), those whose prompt or
    answers contain `query` (case-insensitive) when one is given."""
    gens = gens.assign(prompt_id=gens["prompt_id"].astype(int))
    if query:
        q = query.lower()
        hit = gens["text"].str.lower().str.contains(q, regex=False) | gens["prompt"].str.lower(
        ).str.contains(q, regex=False)
        gens = gens[gens["prompt_id"].isin(gens.loc[hit, "prompt_id"])]
    counts = gens.pivot_table(index="prompt_id", columns="side", values="text", aggfunc="count",
                              fill_value=0).reindex(columns=["A", "B"], fill_value=0)
    first = gens.drop_duplicates("prompt_id").set_index("prompt_id")[["prompt", "split"]]
    return first.join(counts.rename(columns={"A": "A texts", "B": "B texts"})).reset_index()


def paired_samples(gens: pd.DataFrame, prompt_id: int) -> list[dict]:
    """The prompt's answers paired by sample index: [{sample, A, B}] (None where a side has no
    answer of that index)."""
    rows = gens[gens["prompt_id"].astype(int) == int(prompt_id)]
    by_side = {side: dict(zip(part["sample_idx"].astype(int), part["text"]))
               for side, part in rows.groupby("side")}
    samples = sorted(set().union(*(d.keys() for d in by_side.values()))) if by_side else []
    return [{"sample": k, "A": by_side.get("A", {}).get(k), "B": by_side.get("B", {}).get(k)}
            for k in samples]


def firing(hypotheses: list[dict], text: Optional[str]) -> list[str]:
    """The ids of the hypotheses (result rows) whose predicate fires on a text, validated ones
    first; an LLM's hypothesis (no predicate) is not marked here: its judge is not re-asked."""
    if not text:
        return []
    fired = [h for h in hypotheses if h.get("predicate") and predicate_fires(h["predicate"], text)]
    return [h["id"] for h in sorted(fired, key=lambda h: not h.get("validated"))]
