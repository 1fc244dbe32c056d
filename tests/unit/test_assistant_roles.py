"""The assistant's roles: each kind's class is every role the registry says it offers, each
role is a small base class a stage can ask for, and a role left out cannot be made."""
import pytest

from modeldiff_core.assistants.base import Assistant, Judge, PairWriter, Prober, Proposer
from modeldiff_core.assistants.chat import ChatAssistant
from modeldiff_core.assistants.offline import OfflineAssistant
from modeldiff_core.assistants.registry import KINDS, OFFERS, ROLES, offers

CLASSES = {"offline": OfflineAssistant, "anthropic": ChatAssistant, "openai": ChatAssistant}
ROLE_CLASS = {"proposer": Proposer, "judge": Judge, "pair writer": PairWriter, "prober": Prober}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_the_roles_it_offers(kind):
    assert set(OFFERS[kind]) <= set(ROLES)
    for role in ROLES:
        assert issubclass(CLASSES[kind], ROLE_CLASS[role]) == offers(kind, role)


def test_a_role_is_small_and_left_out_it_cannot_be_made():
    abstract = {cls.__name__: sorted(cls.__abstractmethods__) for cls in ROLE_CLASS.values()}
    assert abstract == {"Proposer": ["propose"], "Judge": ["judge"],
                        "PairWriter": ["write_pairs"], "Prober": ["guess", "write_probe"]}

    class OnlyJudges(Assistant):  # proposes, judges, writes pairs, but plays no probe game
        kind = "test"

        def propose(self, *a, **k):
            return []

        def judge(self, hypothesis, texts):
            return [0.5] * len(texts)

        def write_pairs(self, *a, **k):
            return []

    with pytest.raises(TypeError, match="guess"):
        OnlyJudges()
