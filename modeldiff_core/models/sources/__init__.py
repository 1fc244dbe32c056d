"""Model sources: where one side's texts come from, and what else it can give (log-probs, new
answers). `make_source` picks the kind from the spec: local weights, a file of answers
(`outputs:PATH`), or an endpoint (`openai:MODEL`, `anthropic:MODEL`)."""
from __future__ import annotations

from typing import Optional

from .base import Source


def make_source(spec, cache, store=None, api_key: Optional[str] = None) -> Source:
    """`cache`: the ModelCache that holds loaded weights; `store`: where an endpoint's calls are
    cached and counted; `api_key`: a session's key for an endpoint (used, never stored)."""
    if spec.kind == "outputs":
        from .outputs import OutputsSource

        return OutputsSource(spec, cache)
    if spec.kind in ("openai", "anthropic"):
        from .endpoint import EndpointSource

        return EndpointSource(spec, store, api_key)
    from .weights import WeightsSource

    return WeightsSource(spec, cache)
