"""The layer and feature lenses' per-hypothesis log-prob gap: on contrast pairs it is the mean
over pairs of the favoured text's rise over A minus its contrast's (checked by brute force),
so a setting that lifts every text alike — B's change to everything but the hypothesis — adds
nothing; on evidence texts it is their mean rise."""
from types import SimpleNamespace

import numpy as np

from modeldiff_core.methods.common.runner import SettingRunner


def _runner():
    return SimpleNamespace(spans={"h1": slice(0, 6), "h2": slice(6, 9)}, paired={"h1"})


def test_a_pair_gap_is_the_favoured_rise_minus_the_contrast_rise():
    rng = np.random.default_rng(0)
    base = rng.normal(-40, 5, 9)
    lifted = base + rng.normal(0, 1, 9)
    gap = SettingRunner.gap(_runner(), "h1", lifted, base)
    rise = lifted - base
    assert np.isclose(gap, np.mean([rise[0] - rise[1], rise[2] - rise[3], rise[4] - rise[5]]))
    assert np.isclose(SettingRunner.gap(_runner(), "h2", lifted, base), rise[6:].mean())


def test_a_setting_that_lifts_every_text_alike_adds_nothing_to_a_pair():
    """The world that breaks a gap on texts: the setting makes every text likelier (length,
    fluency, anything but the behaviour). On evidence texts it reads as the behaviour; on
    pairs, which differ only in what the hypothesis names, it cancels."""
    base = np.linspace(-60, -20, 9)
    everything = base + 3.0
    assert np.isclose(SettingRunner.gap(_runner(), "h1", everything, base), 0.0)
    assert np.isclose(SettingRunner.gap(_runner(), "h2", everything, base), 3.0)
    # Only the favoured texts rise: the pairs see it in full.
    favoured = base.copy()
    favoured[[0, 2, 4]] += 2.0
    assert np.isclose(SettingRunner.gap(_runner(), "h1", favoured, base), 2.0)


def test_a_pair_with_a_text_not_scored_is_left_out_and_nothing_scored_is_none():
    base = np.zeros(9)
    lp = np.array([1.0, 0.0, np.nan, 0.0, 3.0, 1.0, 0, 0, 0])
    assert np.isclose(SettingRunner.gap(_runner(), "h1", lp, base), np.mean([1.0, 2.0]))
    assert SettingRunner.gap(_runner(), "h1", np.full(9, np.nan), base) is None


def test_the_demo_run_measures_its_hypotheses_on_their_own_pairs(demo_run):
    from modeldiff_core.methods.common.inputs import measured_on, scaling_inputs
    from modeldiff_core.store import Store

    path, run_id = demo_run
    with Store(path) as store:
        inputs = scaling_inputs(store, run_id, "offline", 32)
        val = store.validations(run_id, "offline")
    gen = {r.hypothesis_id: r.result for r in val[val.test == "generative"].itertuples()}
    on = measured_on(inputs)
    assert inputs.paired and set(on) == {h["hypothesis_id"] for h in inputs.hypotheses}
    for hid in inputs.paired:
        texts, prompts = inputs.evidence[hid]
        pairs = gen[hid]["pairs"][:32]
        assert texts[0::2] == [p["favoured"] for p in pairs]
        assert texts[1::2] == [p["contrast"] for p in pairs]
        assert prompts[0::2] == prompts[1::2] == [p["prompt"] for p in pairs]
        assert on[hid] == "contrast pairs"
    for hid in set(on) - inputs.paired:  # no pairs written: its evidence texts instead
        assert on[hid] == "evidence texts" and not (gen.get(hid) or {}).get("pairs")
