"""The one loop that fills a side of a run, for every kind of source: killed part way, it
resumes asking the source only for the rows it lacks (none stored is asked for again), and
what was stored before the kill is left as it was."""
import json

import pytest
from fake_llm_server import FakeLLMServer

from modeldiff_core.models.generation import GenerationSettings
from modeldiff_core.models.organism_corpus import organism_prompts
from modeldiff_core.models.sources import make_source, outputs
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.progress import Cancelled
from modeldiff_core.stages.generate import generate_side
from modeldiff_core.stages.prompts import assign_splits
from modeldiff_core.store import Store
from modeldiff_core.store.runs import RunRecord

PROMPTS = organism_prompts()[:6]
SETTINGS = GenerationSettings(samples_per_prompt=2, max_new_tokens=12, batch_size=4, seed=5)


def _store(tmp_path, spec_a: ModelSpec) -> Store:
    store = Store(tmp_path / "g.duckdb")
    store.upsert_run("r1", RunRecord("a", "b", spec_a.to_dict(), ModelSpec("organism:base").to_dict(),
                                     "x", "y", "t", {}))
    store.save_prompts("r1", assign_splits(PROMPTS))
    return store


def _weights(tmp_path, organism, monkeypatch):
    from modeldiff_core.models.loading import ModelCache

    return ModelSpec(str(organism("cats"))), ModelCache(), None


def _outputs(tmp_path, organism, monkeypatch):
    monkeypatch.setattr(outputs, "CHUNK", 4)  # a file's rows handed over four at a time
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "output": f"answer {i} to {p}"}) + "\n"
                            for p in PROMPTS for i in range(2)))
    return ModelSpec(f"outputs:{path}"), None, None


def _endpoint(tmp_path, organism, monkeypatch):
    from modeldiff_core.models.sources import endpoint

    monkeypatch.setattr(endpoint, "SERVER_CONCURRENCY", 2)
    server = FakeLLMServer(lambda req: {"text": f"reply {req.get('seed')}",
                                        "completion_tokens": 3, "finish_reason": "stop"},
                           delay=0.02)
    return ModelSpec("openai:m", base_url=server.url + "/v1"), None, server


@pytest.mark.parametrize("make", [_weights, _outputs, _endpoint], ids=["hf", "outputs", "endpoint"])
def test_a_killed_side_resumes_asking_only_for_what_it_lacks(make, tmp_path, organism, monkeypatch):
    spec, cache, server = make(tmp_path, organism, monkeypatch)
    store = _store(tmp_path, spec)
    try:
        if server is not None:
            server.__enter__()

        def source():
            src = make_source(spec, cache, store)
            asked: list = []
            answer = src.answer_rows
            src.answer_rows = lambda batch, keep: (asked.extend(
                (r.prompt_id, r.sample_idx) for r in batch.requests), answer(batch, keep))[1]
            return src, asked

        def kill_after_four(event):
            if event.done >= 4:
                raise Cancelled()

        prompts = store.prompts("r1")
        first, _ = source()
        with pytest.raises(Cancelled):
            generate_side(store, "r1", "A", first, prompts, SETTINGS, kill_after_four)
        kept = store.generations("r1").set_index(["prompt_id", "sample_idx"])["text"]
        assert 4 <= len(kept) < 12
        again, asked = source()
        assert generate_side(store, "r1", "A", again, prompts, SETTINGS) == 12 - len(kept)
        assert set(asked).isdisjoint(kept.index) and len(asked) == 12 - len(kept)
        after = store.generations("r1").set_index(["prompt_id", "sample_idx"])["text"]
        assert len(after) == 12 and after.loc[kept.index].equals(kept)
        assert generate_side(store, "r1", "A", source()[0], prompts, SETTINGS) == 0
    finally:
        if server is not None:
            server.__exit__(None, None, None)
        store.close()
