"""What a hypothesis is, a pair of texts written to test one generatively, and a round of the
probe game that tests one in conversation."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional


OWN_SOURCE = "yours"  # a hypothesis' source when a researcher typed it (not proposed)


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
    """A text that should be likelier under the model the hypothesis favours, and its contrast.
    An edit pair also carries `placebos`: the version with the hypothesis' term (`carrier`:
    "favoured" or "contrast") with the term swapped for words of its own frequency, the first
    of them the contrast (or the favoured text)."""
    favoured: str
    contrast: str
    prompt: Optional[str] = None
    placebos: list = field(default_factory=list)
    carrier: str = "favoured"


class NoPairs(Exception):
    """Raised by `write_pairs` when no pair can be written for a hypothesis, with the reason:
    the generative test is then stored as skipped, saying why, never as silently empty."""


@dataclass
class ProbeRound:
    """One round of the probe game: the assistant's probe, the hidden model's answers (A or B
    by a fair coin), and the assistant's guess of which model answered."""
    game: int
    round: int
    probe: str
    hidden: str  # "A" or "B": revealed only once the game is scored
    answers: list
    guess: str  # "A" or "B"
    confidence: float  # the assistant's belief in its guess, 0.5 to 1

    @property
    def correct(self) -> bool:
        return self.guess == self.hidden

    def same_trial(self, other: "ProbeRound") -> bool:
        """The same probe put to the same hidden model, with the same answers: the control
        guesses the hypothesis arm's rounds, and is paired with them only where this holds."""
        return (self.probe, self.hidden, list(self.answers)) == (other.probe, other.hidden,
                                                                 list(other.answers))


@dataclass
class ProbeContext:
    """What an assistant plays a round with beside the hypothesis and its game's earlier rounds:
    the run's discovery texts (text, side, prompt_id, prompt), labelled discovery examples
    (prompt, a, b) for an assistant that is shown some, where the round sits in the game, and a
    memo kept across the rounds of one hypothesis' games."""
    discovery: object  # a DataFrame
    examples: list
    game: int = 0
    round: int = 0
    rounds: int = 12
    seed: int = 0
    memo: dict = field(default_factory=dict)
