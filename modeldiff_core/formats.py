"""Plain-text formatting every shower shares (numbers, p-values, shortened text) and the neutral
shape of a report section, which each method's `show.sections` fills and `render/` draws as
Markdown or HTML. Plain text: each renderer escapes it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional


def fmt_p(x: Optional[float]) -> str:
    """p- and q-values: 0.032, 0.41, 3.2e-05."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.1e}" if x < 1e-3 else f"{x:.3f}" if x < 0.1 else f"{x:.2f}"


def fmt_num(x: Optional[float], digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}f}"


def sci(x: Optional[float]) -> str:
    return "—" if x is None else "0" if x == 0 else f"{x:.2e}"


def short(text: Any, width: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width] + "…"


@dataclass
class Table:
    head: list[str]
    rows: list[list[str]]
    title: str = ""
    text_columns: int = 1  # the leading columns hold text; the rest are figures


@dataclass
class Section:
    """A report section: `title` (a "{}" in it stands for `code`, a name set as code), a
    caption, bold-led bullets, notes, tables."""
    title: str
    code: str = ""
    caption: str = ""
    bullets: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
