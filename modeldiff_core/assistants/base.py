"""What an assistant does, as four roles, each a small base class: a Proposer proposes
hypotheses from contrasting texts, a Judge judges held-out texts given a hypothesis, a
PairWriter writes texts for the generative test, a Prober plays the probe game. A stage asks
for the role it uses; `registry.ROLES` says which roles each kind offers (offline: statistics,
the default; anthropic and openai: an LLM)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional

from ..hypotheses.types import GeneratedPair, Hypothesis, ProbeContext, ProbeRound


class Proposer(ABC):
    kind: str

    @abstractmethod
    def propose(self, texts_a: list[str], texts_b: list[str], source: str,
                max_hypotheses: int = 5, prompts_a: Optional[list] = None,
                prompts_b: Optional[list] = None) -> list[Hypothesis]:
        """Hypotheses about how the B texts differ from the A texts (discovery split only).
        `prompts_a`/`prompts_b`: each text's prompt id, the unit a statistical proposer tests
        over (None: each text is its own unit)."""

    def refine(self, hypotheses: list[Hypothesis], judged, source: str,
               max_hypotheses: int = 5) -> list[Hypothesis]:
        """Revised or additional hypotheses from discovery texts the current ones misjudge.
        `judged`: a DataFrame of discovery texts (text, side, prompt_id) with `p_b`, the
        current hypotheses' combined belief that B wrote each. This default reruns the
        contrast within each region the hypotheses see alike: the texts they call A-like
        (B's there are the misjudged ones) and those they call B-like; comparing misjudged B
        texts with *all* of A's would make the explained behaviour look like A's."""
        out = []
        for called_b in (False, True):
            region = judged[(judged["p_b"] >= 0.5) == called_b]
            a, b = region[region["side"] == "A"], region[region["side"] == "B"]
            out += self.propose(a["text"].tolist(), b["text"].tolist(), source, max_hypotheses,
                                a["prompt_id"].tolist(), b["prompt_id"].tolist())
        return out


class Judge(ABC):
    kind: str
    # A judge that costs nothing per text (a predicate) scores every held-out text of every
    # held-out prompt; one that costs calls (an LLM) scores the run's budget.
    judge_is_free: bool = False

    @abstractmethod
    def judge(self, hypothesis: Hypothesis, texts: list[str]) -> list[float]:
        """For each text, a score in [0, 1]: how likely it was written by B, given the hypothesis."""

    def judge_needs_placebo(self, hypothesis: Hypothesis) -> bool:
        """Whether this assistant's judge needs the placebo control: any judge that reads texts
        for itself (an LLM) may separate the models by a cue the hypothesis does not name, so
        the hypothesis has to beat the same judge under a content-free hypothesis. A judge that
        is the hypothesis' own predicate needs none."""
        return True

    def judge_groups(self, hypothesis: Hypothesis, groups: list[list[str]]) -> list[list[float]]:
        """`judge` over groups of texts (one prompt's A and B texts each). An assistant whose
        calls can drift judges each group's texts together; this default judges them flat."""
        flat = self.judge(hypothesis, [t for g in groups for t in g])
        out, i = [], 0
        for g in groups:
            out.append(list(flat[i:i + len(g)]))
            i += len(g)
        return out

    def judge_pairs(self, hypothesis: Hypothesis,
                    pairs: list[tuple[str, str]]) -> list[Optional[int]]:
        """For each pair of texts (one by A, one by B, in unknown order): 0 or 1, the one B
        wrote given the hypothesis, or None when undecided. This default compares the two
        texts' scores; a tie is undecided."""
        scores = self.judge_groups(hypothesis, [list(p) for p in pairs])
        return [None if s0 == s1 else int(s1 > s0) for s0, s1 in scores]


class PairWriter(ABC):
    @abstractmethod
    def write_pairs(self, hypothesis: Hypothesis, texts: list[str], prompts: list[str],
                    examples_a: list[str], examples_b: list[str], n: int) -> list[GeneratedPair]:
        """Texts that should be likelier under B if the hypothesis holds, each with a contrast.
        `texts`/`prompts` are held-out texts to start from; `examples_a`/`examples_b` are each
        model's discovery texts. Material taken from examples never comes from the model the
        hypothesis says shows the behaviour: inserting a model's own text raises its
        likelihood whether or not the behaviour matters."""

class Prober(ABC):
    """The probe game: `hypothesis` None is the empty-hypothesis control. `history`: the
    earlier rounds of this game (their probes, answers and guesses; never the truth)."""

    @abstractmethod
    def write_probe(self, hypothesis: Optional[Hypothesis], history: list[ProbeRound],
                    ctx: ProbeContext) -> str:
        """A prompt meant to bring out the difference the hypothesis names."""

    @abstractmethod
    def guess(self, hypothesis: Optional[Hypothesis], history: list[ProbeRound], probe: str,
              answers: list[str], ctx: ProbeContext) -> tuple[str, float]:
        """Which model gave these answers to the probe, "A" or "B", and the belief in it (0.5-1)."""


class Assistant(Proposer, Judge, PairWriter, Prober, ABC):
    """An assistant of every role (the offline one and the chat one both are): what the run's
    pipeline makes, so one assistant proposes the hypotheses it then judges."""
    kind: str
