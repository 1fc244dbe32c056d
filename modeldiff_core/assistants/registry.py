"""The one place assistants and their call paths are made from settings: the pipeline, the
layer lens, planting and scoring all come through here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..config import ModelDiffError
from .base import Assistant

KINDS = ("offline", "anthropic", "openai")
ROLES = ("proposer", "judge", "pair writer", "prober")  # base.Proposer, Judge, PairWriter, Prober
# The roles each kind of assistant offers (tests/unit/test_assistant_roles.py checks each kind's
# class against its line).
OFFERS = {"offline": ROLES, "anthropic": ROLES, "openai": ROLES}


@dataclass(frozen=True)
class AssistantSettings:
    kind: str = "offline"  # offline / anthropic / openai
    model: Optional[str] = None  # None: the provider's default
    base_url: Optional[str] = None  # an OpenAI-compatible or Anthropic-compatible server
    key_file: Optional[str] = None  # a file holding the key (else the environment or session)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ModelDiffError(f"unknown assistant {self.kind!r}; choose offline, anthropic or openai")

    @property
    def hypothesis_set(self) -> str:
        """The name of the hypothesis set this assistant writes: a run may hold several."""
        if self.kind == "offline":
            return "offline"
        return f"{self.kind}:{self.model or 'default'}"

    @classmethod
    def for_set(cls, hypothesis_set: str, base_url: Optional[str] = None,
                key_file: Optional[str] = None) -> "AssistantSettings":
        """The assistant that wrote (and so judges) a hypothesis set; a set put aside is named
        after its settings ("offline [kmeans, ...]")."""
        kind, _, model = hypothesis_set.split(" [", 1)[0].partition(":")
        return cls(kind, None if model in ("", "default") else model, base_url, key_file)


def offers(kind: str, role: str) -> bool:
    return role in OFFERS.get(kind, ())


def make_call_path(settings: AssistantSettings, store=None, api_key: Optional[str] = None):
    """The provider's client wrapped once by the call path (retries, concurrency, cache, usage).
    `api_key` is a session's key: used, never stored."""
    from ..llm import CallPath, make_client

    if settings.kind == "offline":
        raise ModelDiffError("the offline assistant makes no calls")
    client = make_client(settings.kind, model=settings.model, base_url=settings.base_url,
                         key_file=settings.key_file, api_key=api_key)
    return CallPath(client, store=store)


def make_assistant(settings: AssistantSettings, store=None, run_id: Optional[str] = None,
                   seed: int = 0, api_key: Optional[str] = None,
                   embed: Optional[Callable] = None) -> Assistant:
    """`embed` (the run's embedder) lets the offline assistant group words that mean alike
    (sea, beach, harbour) into one theme."""
    if settings.kind == "offline":
        from .offline import OfflineAssistant

        return OfflineAssistant(seed=seed, embed=embed)
    from .chat import ChatAssistant

    return ChatAssistant(make_call_path(settings, store, api_key), run_id=run_id, seed=seed)


def judge_for(store, run_id: str, hypothesis_set: str, base_url: Optional[str] = None,
              key_file: Optional[str] = None, api_key: Optional[str] = None):
    """judge(hypothesis, texts) -> scores by the assistant that wrote `hypothesis_set`, for
    hypotheses without an offline predicate; None for the offline set (predicates suffice)."""
    if hypothesis_set == "offline":
        return None
    run = store.get_run(run_id)
    if run is None:
        raise ModelDiffError(f"no run {run_id}")
    seed = ((run["settings"] or {}).get("generation") or {}).get("seed", 0)
    settings = AssistantSettings.for_set(hypothesis_set, base_url, key_file)
    return make_assistant(settings, store, run_id, seed, api_key).judge
