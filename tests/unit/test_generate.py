"""Batched generation: left padding is right, rows are keyed and resumable, OOM halves the batch."""
import pandas as pd
import pytest
import torch

from modeldiff_core.models.loading import load
from modeldiff_core.models.organism_corpus import organism_prompts
from modeldiff_core.models.sources.weights import WeightsSource
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.progress import Cancelled
from modeldiff_core.models.generation import GenerationSettings, format_prompt, generate_batch
from modeldiff_core.stages.generate import generate_side
from modeldiff_core.stages.prompts import assign_splits
from modeldiff_core.store import Store
from modeldiff_core.store.runs import RunRecord


@pytest.fixture(scope="module")
def lm(organism):
    return load(ModelSpec(str(organism("cats"))))


def weights(lm) -> WeightsSource:
    """A source on an already loaded model (HF generate)."""
    class Loaded:
        def get(self, spec):
            return lm

    return WeightsSource(lm.spec, Loaded())


@pytest.fixture()
def run(tmp_path):
    store = Store(tmp_path / "g.duckdb")
    prompts = assign_splits(organism_prompts()[:12])
    store.upsert_run("r1", RunRecord(model_a="a", model_b="b", spec_a={}, spec_b={},
                                     fingerprint_a="x", fingerprint_b="y",
                                     prompt_set="builtin:organisms", settings={}))
    store.save_prompts("r1", prompts)
    yield store, prompts
    store.close()


def test_batched_greedy_equals_one_at_a_time(lm):
    # Left padding with an attention mask must not change what a prompt produces.
    prompts = ["tell me about the sea .", "write a short story about the city .",
               "what do you know about the farm ?"]
    formatted = [format_prompt(lm.tokenizer, p, True) for p in prompts]
    greedy = GenerationSettings(temperature=0.0, max_new_tokens=24)
    batched = generate_batch(lm, formatted, greedy, seed=0, chat_formatted=True)
    single = [generate_batch(lm, [f], greedy, seed=0, chat_formatted=True)[0] for f in formatted]
    assert batched == single
    for text, n_tokens, reason in batched:
        assert text and 0 < n_tokens <= 24 and reason in ("eos", "length")


def test_rows_are_stored_with_their_keys(lm, run):
    store, prompts = run
    settings = GenerationSettings(samples_per_prompt=3, max_new_tokens=32, batch_size=8)
    assert generate_side(store, "r1", "B", weights(lm), prompts, settings) == 36
    gens = store.generations("r1")
    assert len(gens) == 36 and set(gens.side) == {"B"}
    assert sorted(store.generation_keys("r1", "B")) == [(p, s) for p in range(12) for s in range(3)]
    assert (gens.text.str.len() > 0).all()
    # A second call finds every row stored and generates nothing.
    assert generate_side(store, "r1", "B", weights(lm), prompts, settings) == 0


def test_interrupted_generation_resumes_without_redoing_rows(lm, run):
    store, prompts = run
    settings = GenerationSettings(samples_per_prompt=2, max_new_tokens=16, batch_size=8)
    events = []

    def stop_after_first_batch(ev):
        events.append(ev)
        if ev.done >= 8:
            raise Cancelled()

    with pytest.raises(Cancelled):
        generate_side(store, "r1", "A", weights(lm), prompts, settings, stop_after_first_batch)
    first = store.generations("r1").set_index(["prompt_id", "sample_idx"]).text
    assert len(first) == 8
    resumed = []
    assert generate_side(store, "r1", "A", weights(lm), prompts, settings, resumed.append) == 16
    assert resumed[0].done == 8 and resumed[-1].done == resumed[-1].total == 24
    after = store.generations("r1").set_index(["prompt_id", "sample_idx"]).text
    pd.testing.assert_series_equal(after.loc[first.index], first)


def test_cuda_oom_halves_the_batch_and_retries(lm, run, monkeypatch):
    store, prompts = run
    seen = []
    real_generate = lm.model.generate

    def generate_with_small_memory(**kw):
        seen.append(kw["input_ids"].shape[0])
        if kw["input_ids"].shape[0] > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_generate(**kw)

    monkeypatch.setattr(lm.model, "generate", generate_with_small_memory)
    settings = GenerationSettings(samples_per_prompt=1, max_new_tokens=8, batch_size=16)
    assert generate_side(store, "r1", "A", weights(lm), prompts, settings) == 12
    assert seen == [12, 8, 4, 4, 4]  # 16 -> 8 -> 4, then the remaining rows at 4
    assert len(store.generation_keys("r1", "A")) == 12


def test_settings_are_checked():
    from modeldiff_core.config import ModelDiffError

    for bad in (dict(samples_per_prompt=0), dict(max_new_tokens=0), dict(temperature=-1),
                dict(top_p=0), dict(batch_size=0)):
        with pytest.raises(ModelDiffError):
            GenerationSettings(**bad).check()
