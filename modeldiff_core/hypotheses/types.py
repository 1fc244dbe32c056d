"""What a hypothesis is, and a pair of texts written to test one generatively."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional


@dataclass
class Hypothesis:
    text: str  # one plain, testable sentence about how B differs from A
    direction: str = "B"  # which model shows the behaviour more: "B" or "A"
    source: str = "corpus"  # what it was proposed from: "corpus" or "cluster N"
    predicate: Optional[dict] = None  # machine-checkable form (offline assistant)
    evidence: dict = field(default_factory=dict)  # discovery-split figures behind it

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GeneratedPair:
    """A text that should be likelier under the model the hypothesis favours, and its contrast."""
    favoured: str
    contrast: str
    prompt: Optional[str] = None
