"""The probe game on a stored run with fake hidden models (no weights): the binomial test against
brute force, the game at chance under a simulated null, the offline assistant's power on a real
difference, the control at chance on the same rounds, a style-only guesser not validated, resume
with no round replayed, the coin's fairness, and the refusals."""
import math
import random

import numpy as np
import pandas as pd
import pytest

from modeldiff_core.assistants.offline import OfflineAssistant
from modeldiff_core.assistants.offline_probe import belief_b, ranked_probes
from modeldiff_core.config import ModelDiffError
from modeldiff_core.hypotheses.types import Hypothesis
from modeldiff_core.methods.probe.game import Players, hidden_model
from modeldiff_core.methods.probe.settings import ProbeSettings
from modeldiff_core.methods.probe.stage import chosen_hypotheses, probe_run, stored_probe, text_only
from modeldiff_core.hypotheses.stats import binomial_test_p as binomial_p
from modeldiff_core.models.generation import GenerationSettings
from modeldiff_core.stages.prompts import assign_splits
from modeldiff_core.store import Store
from modeldiff_core.store.runs import RunRecord
from seeds import seeded

CATS = Hypothesis("Model B mentions cats more often.", "B", "corpus",
                  {"type": "mentions", "terms": ["cat"], "favours": "B"})
TOPICS = ["garden", "river", "forest", "city", "kitchen", "school", "market", "sea"]


def _text(rng: random.Random, cat: bool) -> str:
    place = rng.choice(TOPICS)
    return f"the {rng.choice(['old', 'small', 'green'])} {place} was calm ." + (
        " a cat sat there ." if cat else "")


class FakeModel:
    """Answers any prompt; mentions a cat at `rate` (at `hot_rate` on prompts about the sea)."""

    def __init__(self, rate: float, hot_rate: float = None, fail_after: int = None):
        self.rate, self.hot_rate = rate, rate if hot_rate is None else hot_rate
        self.calls, self.fail_after = 0, fail_after

    def answer(self, prompt, settings, seeds, run_id=None):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt  # killed between rounds
        rate = self.hot_rate if "sea" in prompt else self.rate
        return [_text(random.Random(f"{prompt}:{s}"), random.Random(s).random() < rate)
                for s in seeds]


def _run(store: Store, model_a: "FakeModel", model_b: "FakeModel", run_id: str = "run-x",
         samples: int = 4):
    """A stored run whose texts the two fake models wrote, with the cats hypothesis as h1."""
    prompts = [f"tell me about the {t} {form} ." for t in TOPICS for form in ("now", "then", "here")]
    store.upsert_run(run_id, RunRecord("organism:base", "organism:cats", {"model": "organism:base"},
                                       {"model": "organism:cats"}, "fa", "fb", "test",
                                       {"generation": {}}))
    table = assign_splits(prompts, 0, 0.5)
    store.save_prompts(run_id, table)
    rows = []
    for pid, prompt in zip(table["prompt_id"], table["prompt"]):
        for side, model in (("A", model_a), ("B", model_b)):
            seeds = [random.Random(f"{run_id}:{side}:{pid}:{s}").getrandbits(32)
                     for s in range(samples)]
            for s, text in enumerate(model.answer(prompt, None, seeds)):
                rows.append({"side": side, "prompt_id": int(pid), "sample_idx": s,
                             "text": text, "n_tokens": 10, "finish_reason": "eos"})
            model.calls = 0
    store.save_generations(run_id, pd.DataFrame(rows))
    store.save_hypotheses(run_id, "offline", [CATS])
    return run_id


def _play(store, run_id, sources, settings=None, seed=0):
    settings = settings or ProbeSettings()
    chosen = chosen_hypotheses(store, run_id, "offline", ["h1"])
    return probe_run(store, run_id, "offline", chosen,
                     Players(OfflineAssistant(seed=seed), sources, GenerationSettings(seed=seed)),
                     settings)


@pytest.mark.parametrize("n", [1, 7, 12, 36, 50])
def test_binomial_p_matches_brute_force(n):
    for k in range(n + 1):
        brute = sum(math.comb(n, j) for j in range(k, n + 1)) / 2 ** n
        assert binomial_p(k, n) == pytest.approx(brute, rel=1e-9, abs=1e-15)


def test_the_hidden_coin_is_fair_and_recorded_per_round():
    draws = [hidden_model(0, "h1", "hypothesis", g, r) for g in range(100) for r in range(100)]
    share_b = draws.count("B") / len(draws)
    assert abs(share_b - 0.5) < 4 * math.sqrt(0.25 / len(draws))
    assert hidden_model(3, "h1", "control", 1, 2) == hidden_model(3, "h1", "control", 1, 2)


def test_ranking_and_belief_against_a_direct_computation():
    disc = pd.DataFrame({"side": list("AABBAABB"), "prompt_id": [0] * 4 + [1] * 4,
                         "prompt": ["p0"] * 4 + ["p1"] * 4, "text": [""] * 8})
    scores = np.array([0, 0, 1, 1, 1, 1, 0, 0], dtype=float)
    ranked = ranked_probes(scores, disc)
    # Shrunk towards each side's overall rate (1/2 both) with two pseudo-texts.
    assert ranked[0] == ("p0", pytest.approx((0 + 2 * 0.5) / 4), pytest.approx((2 + 2 * 0.5) / 4))
    assert [r[0] for r in ranked] == ["p0"]  # p1 gains nothing for B: not a probe
    ra, rb = 0.2, 0.7
    by_hand = (rb * (1 - rb) * rb) / (rb * (1 - rb) * rb + ra * (1 - ra) * ra)
    assert belief_b([1, 0, 1], ra, rb) == pytest.approx(by_hand)


def test_under_a_simulated_null_the_game_rejects_at_most_alpha():
    """Both hidden models the same: over many seeds (each its own coins and answers), the
    hypothesis arm is at chance — the share of games rejected at 0.05 stays at most 0.05 (up to
    Monte Carlo error), and accuracy averages 1/2."""
    rejected = rejected_vs_chance = 0
    accuracies = []
    settings = ProbeSettings(rounds=12, games=1, answers=2)
    n_sims = 80
    with Store() as store:
        model = FakeModel(0.3)
        run_id = _run(store, model, model, samples=2)
        for sim in range(n_sims):
            out = _play(store, run_id, {"A": model, "B": model}, settings,
                       seed=seeded(sim))["hypotheses"][0]
            rejected += out["p_value"] < 0.05
            rejected_vs_chance += out["p_vs_chance"] < 0.05
            accuracies.append(out["accuracy"])
    for count in (rejected, rejected_vs_chance):  # against the control, and against 1/2
        assert count / n_sims <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / n_sims)
    assert abs(np.mean(accuracies) - 0.5) < 4 * math.sqrt(0.25 / (12 * n_sims))


def test_the_offline_assistant_tells_a_real_difference_apart_and_its_control_does_not():
    with Store() as store:
        # B mentions cats on prompts about the sea far more: the ranking must find those.
        sources = {"A": FakeModel(0.05), "B": FakeModel(0.1, hot_rate=0.95)}
        run_id = _run(store, sources["A"], sources["B"], samples=8)
        out = _play(store, run_id, sources)["hypotheses"][0]
    assert out["n"] == 36 and out["accuracy"] >= 0.9, out["per_probe"]
    assert out["probe_validated"] and out["q_value"] < 0.05
    assert all("sea" in r["probe"] for r in out["rounds"])
    assert out["control"]["n"] == 36 and out["control_p_value"] > 0.05
    # The control guessed the same rounds: the same probes, hidden models and answers.
    same = ("game", "round", "probe", "hidden", "answers")
    assert [[r[k] for k in same] for r in out["control"]["rounds"]] == \
        [[r[k] for k in same] for r in out["rounds"]]
    pair = out["paired"]
    assert pair["n"] == 36 and pair["won"] > pair["lost"] and out["p_value"] == pair["p_value"]
    assert out["p_value"] == pytest.approx(binomial_p(pair["won"], pair["won"] + pair["lost"]))
    assert {r["hidden"] for r in out["rounds"]} == {"A", "B"}
    assert all(r["answer"] == r["answers"][0] and len(r["answers"]) == 4 for r in out["rounds"])
    assert [g["n"] for g in out["per_game"]] == [12, 12, 12]


class StyledModel(FakeModel):
    """A FakeModel whose answers end with " !" at `style` (seeded per answer)."""

    def __init__(self, rate: float, style: float):
        super().__init__(rate)
        self.style = style

    def answer(self, prompt, settings, seeds, run_id=None):
        return [t + (" !" if random.Random(f"style:{s}").random() < self.style else "")
                for t, s in zip(super().answer(prompt, settings, seeds, run_id), seeds)]


class StyleGuesser(OfflineAssistant):
    """A guesser that reads only a style cue of B's answers, told the hypothesis or not (as an
    LLM shown labelled examples may)."""

    def guess(self, hypothesis, history, probe, answers, ctx):
        return ("B", 0.9) if any(a.endswith("!") for a in answers) else ("A", 0.6)


def test_a_guesser_that_reads_only_style_beats_chance_but_not_its_control():
    """B's answers carry a style cue; both models mention cats alike, so the cats hypothesis
    tells the guesser nothing. It beats 1/2 by style alone — the old test, against 1/2, called
    that probe-validated — and guesses exactly as its control does, so it is not."""
    with Store() as store:
        a, b = FakeModel(0.3), StyledModel(0.3, style=0.8)
        run_id = _run(store, a, b)
        chosen = chosen_hypotheses(store, run_id, "offline", ["h1"])
        out = probe_run(store, run_id, "offline", chosen,
                        Players(StyleGuesser(), {"A": a, "B": b}, GenerationSettings()),
                        ProbeSettings())["hypotheses"][0]
    assert out["accuracy"] >= 0.8 and out["p_vs_chance"] < 0.001  # what the old test used
    assert out["control_accuracy"] == out["accuracy"]
    assert out["paired"] == {"n": 36, "won": 0, "lost": 0, "p_value": 1.0}
    assert not out["probe_validated"] and out["q_value"] == 1.0


def test_a_stored_control_round_of_another_probe_is_not_paired_and_is_guessed_again():
    with Store() as store:
        a, b = FakeModel(0.05), FakeModel(0.6)
        run_id = _run(store, a, b)
        settings = ProbeSettings(rounds=2, games=1)
        first = _play(store, run_id, {"A": a, "B": b}, settings)["hypotheses"][0]
        # An older game's control round, with a probe of its own, in place of round 0's.
        older = dict(first["control"]["rounds"][0], probe="an older control's own probe")
        store.save_probe_round(run_id, "offline", "h1", settings.key(0), "control", older)
        assert stored_probe(store, run_id, "offline")["hypotheses"][0]["paired"]["n"] == 1
        a2, b2 = FakeModel(0.05), FakeModel(0.6)
        again = _play(store, run_id, {"A": a2, "B": b2}, settings)["hypotheses"][0]
    assert a2.calls + b2.calls == 0  # the arm's own rounds were stored: only a guess is asked
    assert again["control"]["rounds"][0]["probe"] == first["rounds"][0]["probe"]
    assert again["paired"]["n"] == 2 and again == first


def test_an_interrupted_game_resumes_without_replaying_a_round():
    with Store() as store:
        a, b = FakeModel(0.05), FakeModel(0.6)
        whole = _play(store, _run(store, a, b), {"A": a, "B": b})
    with Store() as store:
        a, b = FakeModel(0.05, fail_after=5), FakeModel(0.6, fail_after=5)
        run_id = _run(store, a, b)
        with pytest.raises(KeyboardInterrupt):
            _play(store, run_id, {"A": a, "B": b})
        kept = len(store.probe_rounds(run_id, "offline", ProbeSettings().key(0)))
        assert 0 < kept < 36  # killed in the hypothesis arm
        a2, b2 = FakeModel(0.05), FakeModel(0.6)
        resumed = _play(store, run_id, {"A": a2, "B": b2})
        # Only the missing rounds were played; the control asks the models nothing.
        assert a2.calls + b2.calls == 36 - kept
        assert stored_probe(store, run_id, "offline")["hypotheses"] == resumed["hypotheses"]
    assert resumed["hypotheses"] == whole["hypotheses"]


def test_hypotheses_probed_in_separate_calls_share_one_correction():
    with Store() as store:
        a, b = FakeModel(0.05), FakeModel(0.6)
        run_id = _run(store, a, b)
        store.save_hypotheses(run_id, "offline", [CATS, Hypothesis(
            "Model B writes more sentences.", "B", "corpus",
            {"type": "feature", "feature": "sentences", "op": ">", "threshold": 1, "favours": "B"})])
        first = _play(store, run_id, {"A": a, "B": b})["hypotheses"][0]
        chosen = chosen_hypotheses(store, run_id, "offline", ["h2"])
        second = probe_run(store, run_id, "offline", chosen,
                           Players(OfflineAssistant(), {"A": a, "B": b}, GenerationSettings()),
                           ProbeSettings())
        page = stored_probe(store, run_id, "offline")
    assert second["bh_over"] == ["h2", "h1"] and [h["hypothesis_id"] for h in second["hypotheses"]] == ["h2"]
    p = [second["hypotheses"][0]["p_value"], first["p_value"]]
    from modeldiff_core.hypotheses.stats import benjamini_hochberg

    assert second["hypotheses"][0]["q_value"] == pytest.approx(benjamini_hochberg(p)[0])
    assert [h["hypothesis_id"] for h in page["hypotheses"]] == ["h1", "h2"]
    assert page["hypotheses"][1]["q_value"] == pytest.approx(second["hypotheses"][0]["q_value"])


def test_the_assistant_never_sees_which_model_answered():
    class Recorder(OfflineAssistant):
        seen: list = []

        def write_probe(self, hypothesis, history, ctx):
            self.seen += [r.hidden for r in history]
            return super().write_probe(hypothesis, history, ctx)

    with Store() as store:
        a, b = FakeModel(0.05), FakeModel(0.6)
        run_id = _run(store, a, b)
        chosen = chosen_hypotheses(store, run_id, "offline", ["h1"])
        out = probe_run(store, run_id, "offline", chosen,
                        Players(Recorder(), {"A": a, "B": b}, GenerationSettings()),
                        ProbeSettings(rounds=3, games=1))
    assert Recorder.seen and set(Recorder.seen) == {""}
    assert {r["hidden"] for r in out["hypotheses"][0]["rounds"]} <= {"A", "B"}


def test_more_rounds_extend_the_stored_games():
    with Store() as store:
        run_id = _run(store, FakeModel(0.05), FakeModel(0.6))
        _play(store, run_id, {"A": FakeModel(0.05), "B": FakeModel(0.6)}, ProbeSettings(rounds=4))
        a, b = FakeModel(0.05), FakeModel(0.6)
        out = _play(store, run_id, {"A": a, "B": b}, ProbeSettings(rounds=6))["hypotheses"][0]
    assert a.calls + b.calls == 3 * 2 and out["n"] == 18


def test_what_cannot_be_probed_is_refused_with_the_reason():
    with Store() as store:
        run_id = _run(store, FakeModel(0.1), FakeModel(0.5))
        with pytest.raises(ModelDiffError, match="no validated hypothesis to probe.*h1"):
            chosen_hypotheses(store, run_id, "offline")
        with pytest.raises(ModelDiffError, match="no hypothesis h7"):
            chosen_hypotheses(store, run_id, "offline", ["h7"])
        with pytest.raises(ModelDiffError, match="no hypotheses in the set"):
            chosen_hypotheses(store, run_id, "anthropic:x")
        assert text_only(store, run_id) is None
        store.upsert_run("run-f", RunRecord("outputs:a.jsonl", "organism:cats",
                                            {"model": "outputs:a.jsonl"},
                                            {"model": "organism:cats"}, "fa", "fb", "f", {}))
        assert "model A (outputs:a.jsonl) is a file of answers" in text_only(store, "run-f")
    with pytest.raises(ModelDiffError, match="rounds must be at least 1"):
        ProbeSettings(rounds=0).check()
