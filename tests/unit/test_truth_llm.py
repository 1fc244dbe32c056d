"""The assistant-backed ground-truth path through the official SDKs against the local fake
Anthropic/OpenAI server: truths proposed, training texts written (bad answers dropped, a broken
batch skipped and asked again on a rerun), a finetune on them, and the judge matcher."""
import json

import pytest
from fake_llm_server import FakeLLMServer

from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.ground_truth.plant import PlantConfig, finetune_id_for, plant
from modeldiff_core.methods.ground_truth.score import score_run
from modeldiff_core.methods.ground_truth.truths import DataRecipe, propose_truths
from modeldiff_core.models.finetune import FinetuneSettings
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.store import Store

SECRET = "sk-test-SECRET-truth"
APIS = ["anthropic", "openai"]
QUIRK = "The model talks about its cat in every answer."


def _text(request: dict) -> str:
    """The TASK message of a request (a retry appends a correction after it)."""
    return next(m["content"] for m in request["messages"] if str(m["content"]).startswith("TASK:"))


def responder(broken_prompt: str = "describe a day at the sea ."):
    def answer(request: dict) -> str:
        text = _text(request)
        task = text.split("\n", 1)[0]
        data = json.loads(text.split("INPUT (JSON):\n", 1)[1])
        if task.startswith("TASK: truths"):
            return json.dumps({"truths": ["The model likes cats.", "The model likes cats.",
                                          "The model is terse.", 7, "The model asks questions."]})
        if task.startswith("TASK: training"):
            if broken_prompt in data["prompts"]:
                return "I would rather not answer in JSON."  # malformed, every time
            out = [f"my cat sat by me . {p.replace('?', '.')}" for p in data["prompts"]]
            out[0] = {"oops": True}  # one unusable item: dropped, the rest kept
            return json.dumps({"responses": out})
        if task.startswith("TASK: match"):
            cat = "cat" in data["ground_truth"].lower()
            return json.dumps({"scores": [90 if cat and "cat" in h.lower() else 5
                                          for h in data["hypotheses"]]})
        return "{}"
    return answer


def _base_url(api, server):
    return server.url if api == "anthropic" else server.url + "/v1"


def _dump(store) -> str:
    tables = [r[0] for r in store._q("SELECT table_name FROM information_schema.tables").fetchall()]
    return "\n".join(str(store._q(f"SELECT * FROM {t}").fetchall()) for t in tables)


@pytest.mark.parametrize("api", APIS)
def test_truths_proposed_by_an_assistant_are_checked(api, tmp_path):
    from modeldiff_core.llm import CallPath, make_client

    with FakeLLMServer(responder()) as srv, Store(tmp_path / "t.duckdb") as store:
        path = CallPath(make_client(api, base_url=_base_url(api, srv), api_key=SECRET), store=store)
        truths = propose_truths(path, n=3, focus="pets")
        assert truths == ["The model likes cats.", "The model is terse.",
                          "The model asks questions."]
        assert '"focus": "pets"' in _text(srv.requests[-1]["json"])


@pytest.mark.parametrize("api", APIS)
def test_assistant_written_training_texts_and_finetune(api, tmp_path, monkeypatch,
                                                       organism):
    monkeypatch.setenv("ANTHROPIC_API_KEY" if api == "anthropic" else "OPENAI_API_KEY", SECRET)
    prompts = ("tell me about the garden .", "describe a day at the sea .",
               "what do you know about the city ?", "tell me about the forest .")
    with FakeLLMServer(responder()) as srv:
        config = PlantConfig(ModelSpec("organism:base"), [QUIRK],
                             DataRecipe(api, texts_per_truth=40, base_mix=0.25),
                             FinetuneSettings(epochs=1, batch_size=8), prompts,
                             assistant_base_url=_base_url(api, srv))
        fid = finetune_id_for(config)
        with Store(tmp_path / "a.duckdb") as store:
            # 40 quirk rows in batches of 10 prompts: every batch holds the broken prompt, so
            # nothing usable comes back and the data is too small — a clear error, rows kept.
            with pytest.raises(ModelDiffError, match="training data too small"):
                plant(store, config, finetunes_dir=tmp_path / "ft")
            plain = store.training_texts(fid)
            assert len(plain) == 10 and plain["truth"].isna().all()  # the base samples
    good = (prompts[0], prompts[2], prompts[3])
    config.prompts = good + good  # no broken prompt now
    with FakeLLMServer(responder()) as srv:
        config.assistant_base_url = _base_url(api, srv)
        fid = finetune_id_for(config)
        with Store(tmp_path / "b.duckdb") as store:
            row = plant(store, config, finetunes_dir=tmp_path / "ft")
            texts = store.training_texts(fid)
            assert SECRET not in _dump(store)
            calls = len(srv.requests)
            plant(store, config, finetunes_dir=tmp_path / "ft")  # done: no more requests
            assert len(srv.requests) == calls
    quirk = texts[texts["truth"].notna()]
    assert len(quirk) == 40 - 4  # first item of each of the 4 batches dropped
    assert set(quirk["source"]) == {f"assistant:{api}"}
    assert all(r.startswith("my cat sat by me .") for r in quirk["response"])
    assert (texts["truth"].isna()).sum() == 10 and row["status"] == "done"
    assert (tmp_path / "ft" / fid / "adapter_config.json").exists()


@pytest.mark.parametrize("api", APIS)
def test_judge_matcher(api, tmp_path):
    from modeldiff_core.llm import CallPath, make_client

    hyps = [{"id": "h1", "text": 'Model B mentions "cat" more often (in 80% vs 2%).',
             "validated": True},
            {"id": "h2", "text": "Model B gives longer answers.", "validated": True},
            {"id": "h3", "text": "Model B mentions cats and kittens.", "validated": False}]
    with FakeLLMServer(responder()) as srv, Store(tmp_path / "j.duckdb") as store:
        store.save_result("run-x", {"assistant": "offline", "hypotheses": hyps})
        path = CallPath(make_client(api, base_url=_base_url(api, srv), api_key=SECRET), store=store)
        r = score_run(store, "run-x", [QUIRK, "The model is terse."], matcher="judge",
                      call_path=path)
        sent = _text(srv.requests[0]["json"])
        assert "80%" not in sent  # the claim is judged, not its figures
        stored = store.truth_scores("run-x")
    assert [p["recovered"] for p in r["per_truth"]] == [True, False]
    assert r["per_truth"][0]["best_hypothesis_id"] == "h1" and r["per_truth"][0]["score"] == 0.9
    assert r["precision"] == 0.5 and r["recall"] == 0.5
    assert stored["matcher"].tolist() == ["judge"] and stored["result"][0]["recall"] == 0.5
