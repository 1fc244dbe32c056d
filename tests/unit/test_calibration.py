"""The held-out tests on simulated nulls (modeldiff_core.calibration; the full table is
bench/calibration.py): each new prompt-level test holds its level where the old text-level
test it replaced does not, on the same simulated worlds."""
import numpy as np
import pytest

from modeldiff_core.calibration import METHODS, rejection_rate, simulate
from seeds import seeded

REPS = 400


@pytest.mark.parametrize("test, scenario, old_method", [
    ("discriminative", "heterogeneous", "old"),   # B's effect varies by prompt, mean zero
    ("discriminative", "judge drift", "old"),     # every judge call shifts its scores
    ("discriminative", "style cue", "old-prompt"),  # the judge reads a cue no hypothesis names
    ("discriminative", "skewed", "old-prompt"),   # B's effect by prompt: mean zero, skewed
    ("cluster", "heterogeneous", "old"),
    ("generative", "donors 90% B", "old-paired"),  # donor sentences mostly B's own text
    ("generative", "tempered 10% flatter", "unmatched"),  # B is A at a higher temperature
    ("features", "B 1.5x as long", "old"),  # per-token activations alike, B's texts longer
    ("probe", "style only", "old"),  # the guesser reads B's style, with or without the hypothesis
])
def test_new_test_holds_its_level_where_the_old_does_not(test, scenario, old_method):
    p = simulate(test, scenario, REPS, seed=seeded(1))
    methods = METHODS[test]
    new, _, n = rejection_rate(p[:, methods.index("new")])
    old, _, _ = rejection_rate(p[:, methods.index(old_method)])
    assert n == REPS
    assert new < 0.08, f"new {test} test rejects {new:.3f} of true nulls"
    assert old > 0.08, f"old {test} test rejects only {old:.3f}: the scenario shows nothing"


def test_generative_heterogeneous_null_and_planted_power():
    p = simulate("generative", "heterogeneous", REPS, seed=seeded(2))
    assert rejection_rate(p[:, -1])[0] < 0.08
    planted = simulate("generative", "planted", 100, seed=seeded(2))
    assert rejection_rate(planted[:, -1])[0] > 0.8


def test_rejection_rate_counts_untestable_as_not_rejected():
    rate, se, n = rejection_rate(np.array([0.01, np.nan, 0.5, 0.04]))
    assert (rate, n) == (0.5, 4) and se == pytest.approx(0.25)
