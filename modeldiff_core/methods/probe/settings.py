"""The probe game's parameters (`Params`, with how it plays: `ProbeSettings`): the only place
their defaults live."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from ...config import ModelDiffError
from ...params import Declared, nested, option


@dataclass(frozen=True)
class ProbeSettings(Declared):
    rounds: int = option(12, bounds=(1, 10_000), help="rounds per game")
    games: int = option(3, bounds=(1, 1_000), help="games per hypothesis (and as many for the "
                        "control)")
    answers: int = option(4, bounds=(1, 1_000), help="answers of the hidden model to each probe")
    examples: int = option(3, bounds=(0, 100),
                           help="labelled discovery examples shown to an LLM assistant")
    # probe-validated: q < alpha over the probed hypotheses
    alpha: float = option(0.05, help="significance level for q-values")

    def check(self) -> None:
        for name in ("rounds", "games", "answers"):
            if getattr(self, name) < 1:
                raise ModelDiffError(f"probe {name} must be at least 1")
        if self.examples < 0:
            raise ModelDiffError("probe examples must be 0 or more")
        if not 0 < self.alpha < 1:
            raise ModelDiffError("alpha must lie in (0, 1)")

    def key(self, seed: int) -> str:
        """What a stored round depends on besides its hypothesis, arm, game and round: more
        rounds or games extend what is stored, other answers or examples start afresh."""
        return json.dumps({"answers": self.answers, "examples": self.examples, "seed": seed},
                          sort_keys=True)


@dataclass
class Params(Declared):
    run_id: str
    hypothesis_set: str = "offline"  # whose hypotheses; that set's assistant plays
    hypothesis_ids: Optional[list] = None  # None: the set's validated hypotheses
    settings: ProbeSettings = nested(ProbeSettings)
    assistant_base_url: Optional[str] = None
    assistant_key_file: Optional[str] = None
