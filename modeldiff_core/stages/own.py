"""A researcher's own hypothesis, tested as the proposed ones are: typed as one sentence (with,
for the offline judge, the keywords or the regular expression that say when a text shows it),
stored in a hypothesis set beside the proposed ones (ids u1, u2, ...; source "yours"); the
command (`commands.hypothesis`) then starts the run again on its stored rows: nothing is
generated, embedded or proposed anew, only the new hypothesis' tests run on the held-out
texts, and it enters the run's ledger (the Benjamini-Hochberg family of every hypothesis
tested there)."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Optional

from ..config import ModelDiffError
from ..hypotheses.types import OWN_SOURCE, Hypothesis
from ..params import Declared
from .settings import HypothesisSettings

__all__ = ["OWN_SOURCE", "OwnParams", "busy_with", "check_own", "own_hypothesis", "set_settings"]


@dataclass
class OwnParams(Declared):
    run_id: str
    text: str
    hypothesis_set: str = "offline"  # the set it joins; its assistant judges it
    direction: str = "B"  # the model that shows the behaviour more
    keywords: tuple = ()  # the offline judge: a text shows it when it mentions any of these
    regex: Optional[str] = None  # or when this matches (case-insensitive)
    assistant_base_url: Optional[str] = None  # an LLM set's server, when not the provider's


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


def set_settings(store, run_id: str, hypothesis_set: str,
                 base_url: Optional[str] = None) -> HypothesisSettings:
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
    return HypothesisSettings(assistant.kind, assistant.model, base_url, **kept)


def check_own(store, params: OwnParams, api_key: Optional[str] = None) -> OwnParams:
    """Everything that can be checked before the run is started again; returns the params
    with the set named as the run names it ("openai" is "openai:default")."""
    from ..assistants.registry import AssistantSettings
    from ..llm import KEY_VARS, read_key

    h = own_hypothesis(params)
    run = store.get_run(params.run_id)
    if run is None:
        raise ModelDiffError(f"no run {params.run_id}")
    if run["status"] != "done":
        raise ModelDiffError(f"run {params.run_id} is {run['status']}: test your hypothesis once "
                             "its job has finished")
    if store.generations(params.run_id, split="validation").empty:
        raise ModelDiffError("this run has no held-out texts yet: let its job finish")
    name = params.hypothesis_set
    if " [" not in name:
        name = AssistantSettings.for_set(name).hypothesis_set
    settings = set_settings(store, params.run_id, name)
    sets = store.hypothesis_sets(params.run_id)
    # A set that does not exist would be proposed anew first: an LLM's costs money.
    if name not in sets and name != "offline":
        raise ModelDiffError(f"run {params.run_id} has no hypothesis set '{name}' (its sets: "
                             f"{', '.join(sets) or 'none'}): propose with that assistant first")
    if settings.assistant == "offline" and h.predicate is None:
        raise ModelDiffError("the offline judge needs keywords or a regular expression that say "
                             "when a text shows the behaviour (or add it to an LLM "
                             "assistant's set)")
    if settings.assistant in KEY_VARS:  # before anything is stored: no untested entry left
        read_key(settings.assistant, api_key, None, "the set's assistant")
    return dataclasses.replace(params, hypothesis_set=name)


def busy_with(store, run_id: str) -> Optional[str]:
    """A job queued or running on the run (its id), which a test of one more hypothesis would
    race: the same stage run twice, the ledger applied by both. None when there is none."""
    live = store.list_jobs(["queued", "running"])
    mine = live[live["run_id"] == run_id]
    return None if mine.empty else str(mine["job_id"].iloc[0])
