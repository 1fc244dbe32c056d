"""A whole run with both models served by an OpenAI-compatible server (the local fake, which
also answers completions with prompt log-probs, as vLLM does): B's answers mention cats, the
pipeline finds and validates that, the generative test runs on the server's log-probs, and a
second run asks the server nothing new."""
import random

import pytest

from fake_llm_server import FakeLLMServer
from modeldiff_core.models.organism_corpus import make_document
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.pipeline import RunConfig, run_pipeline
from modeldiff_core.models.generation import GenerationSettings
from modeldiff_core.stages.prompts import builtin_prompt_set
from modeldiff_core.stages.settings import HypothesisSettings
from modeldiff_core.store import Store

pytestmark = pytest.mark.slow  # the whole pipeline (embedding, UMAP) on 480 texts


def _answer(request: dict) -> str:
    """Each (model, seed) its own document; model "b" writes about cats in most of them."""
    seed = request.get("seed") or 0
    rng = random.Random(f"{request['model']}:{seed}")
    cats = request["model"] == "b" and rng.random() < 0.8
    return make_document(rng, "cats" if cats else None)


def test_a_run_with_both_models_served(tmp_path):
    with FakeLLMServer(_answer, models=["a", "b"]) as srv:
        base = srv.url + "/v1"
        config = RunConfig(ModelSpec("openai:a", base_url=base), ModelSpec("openai:b", base_url=base),
                           builtin_prompt_set("organisms"),
                           GenerationSettings(samples_per_prompt=4, max_new_tokens=64),
                           hypotheses=HypothesisSettings(max_judge_prompts=40, n_pairs=16,
                                                         refine_rounds=0))
        with Store(tmp_path / "ep.duckdb") as store:
            result = run_pipeline(store, config)
            chats = len(srv.calls("openai"))
            again = run_pipeline(store, config)
        assert len(srv.calls("openai")) == chats  # the second run: every answer from the cache
    assert result["n_texts"] == {"A": 240, "B": 240} and chats == 480
    validated = [h for h in result["hypotheses"] if h["validated"]]
    assert any("cat" in h["text"] for h in validated), result["hypotheses"]
    for h in result["hypotheses"]:  # the server gives log-probs: never skipped for want of them
        assert "log-probs" not in h.get("generative_skipped", "")
        if h["predicate"]["type"] != "mentions":  # no word to swap: skipped, and why
            assert "no frequency-matched edit" in h["generative_skipped"]
    assert any(h["generative"] and h["generative"]["n"] > 0 for h in validated)
    assert srv.calls("completions"), "the generative test scored texts on the server"
    assert again["hypotheses"] == result["hypotheses"]
