"""A grid of scales as a researcher types it ("0, 0.5, 1"), read and checked."""
from __future__ import annotations

import math
from typing import Sequence

from ...config import ModelDiffError


def parse_scales(text: str) -> list[float]:
    """'0, 0.5, 1' -> [0.0, 0.5, 1.0] (typed by a researcher on the CLI or the page)."""
    try:
        scales = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ModelDiffError(f"scales must be comma-separated numbers, got {text!r}") from None
    return check_scales(scales)


def check_scales(scales: Sequence[float]) -> list[float]:
    """The scales sorted, without repeats; refuses an empty list and non-finite numbers."""
    out = [float(s) for s in scales]
    if not out or not all(math.isfinite(s) for s in out):
        raise ModelDiffError("scales must be a non-empty list of finite numbers")
    return sorted(set(out))
