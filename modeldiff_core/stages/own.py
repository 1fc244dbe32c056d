"""A researcher's own hypothesis, tested as the proposed ones are: typed as one sentence (with,
for the offline judge, the keywords or the regular expression that say when a text shows it),
stored in a hypothesis set beside the proposed ones (ids u1, u2, ...; source "yours"); the
command (`commands.hypothesis`) then starts the run again on its stored rows: nothing is
generated, embedded or proposed anew, only the new hypothesis' tests run on the held-out
texts, and it enters the run's ledger (the Benjamini-Hochberg family of every hypothesis
tested there)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..config import ModelDiffError
from ..hypotheses.types import Hypothesis
from ..params import Declared
from .settings import HypothesisSettings

OWN_SOURCE = "yours"  # a hypothesis' source when a researcher typed it


@dataclass
class OwnParams(Declared):
    run_id: str
    text: str
    hypothesis_set: str = "offline"  # the set it joins; its assistant judges it
    direction: str = "B"  # the model that shows the behaviour more
    keywords: tuple = ()  # the offline judge: a text shows it when it mentions any of these
    regex: Optional[str] = None  # or when this matches (case-insensitive)


def own_hypothesis(params: OwnParams) -> Hypothesis:
    """The hypothesis the researcher typed, with its predicate; a one-line reason when it
    cannot be one."""
    text = " ".join(params.text.split())
    if not text:
        raise ModelDiffError("type the hypothesis: one sentence on how B differs from A")
    if params.direction not in ("A", "B"):
        raise ModelDiffError(f"direction must be A or B, not {params.direction!r}")
    keywords = [k for k in (" ".join(w.lower().split()) for w in params.keywords) if k]
    regex = (params.regex or "").strip()
    if keywords and regex:
        raise ModelDiffError("give keywords or a regular expression, not both")
    predicate = None
    if regex:
        try:
            re.compile(regex)
        except re.error as err:
            raise ModelDiffError(f"the regular expression does not compile: {err}") from None
        predicate = {"type": "matches", "pattern": regex, "favours": params.direction}
    elif keywords:
        predicate = {"type": "mentions", "terms": keywords, "favours": params.direction}
    return Hypothesis(text, params.direction, OWN_SOURCE, predicate, {})


def set_settings(store, run_id: str, hypothesis_set: str) -> HypothesisSettings:
    """The settings a live set was proposed and tested with (its assistant from its name), so
    starting the run again keeps the set rather than putting it aside as made otherwise."""
    from ..assistants.registry import AssistantSettings

    if " [" in hypothesis_set:
        raise ModelDiffError(f"the set '{hypothesis_set}' was put aside (made with other "
                             "settings): add your hypothesis to a current set")
    assistant = AssistantSettings.for_set(hypothesis_set)
    stored = store.proposal_settings(run_id, hypothesis_set) or {}
    kept = {k: stored[k] for k in ("alpha", "refine_rounds", "max_judge_prompts", "n_pairs",
                                   "judge_mode") if k in stored}
    return HypothesisSettings(assistant.kind, assistant.model, **kept)


def check_own(store, params: OwnParams) -> Hypothesis:
    """Everything that can be checked before the run is started again."""
    h = own_hypothesis(params)
    run = store.get_run(params.run_id)
    if run is None:
        raise ModelDiffError(f"no run {params.run_id}")
    if store.generations(params.run_id, split="validation").empty:
        raise ModelDiffError("this run has no held-out texts yet: let its job finish")
    settings = set_settings(store, params.run_id, params.hypothesis_set)
    if settings.assistant == "offline" and h.predicate is None:
        raise ModelDiffError("the offline judge needs keywords or a regular expression that say "
                             "when a text shows the behaviour (or add it to an LLM "
                             "assistant's set)")
    return h
