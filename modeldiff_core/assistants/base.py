"""The assistant protocol: propose hypotheses from contrasting texts, judge held-out texts
given a hypothesis, and write texts for the generative test. Three kinds implement it:
offline (statistics, the default), anthropic and openai."""
from __future__ import annotations

from abc import ABC, abstractmethod
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


class Assistant(ABC):
    kind: str

    @abstractmethod
    def propose(self, texts_a: list[str], texts_b: list[str], source: str,
                max_hypotheses: int = 5) -> list[Hypothesis]:
        """Hypotheses about how the B texts differ from the A texts (discovery split only)."""

    @abstractmethod
    def judge(self, hypothesis: Hypothesis, texts: list[str]) -> list[float]:
        """For each text, a score in [0, 1]: how likely it was written by B, given the hypothesis."""

    @abstractmethod
    def write_pairs(self, hypothesis: Hypothesis, texts: list[str], prompts: list[str],
                    examples: list[str], n: int) -> list[GeneratedPair]:
        """Texts that should be likelier under B if the hypothesis holds, each with a contrast.
        `texts`/`prompts` are held-out texts to start from; `examples` are discovery texts."""
