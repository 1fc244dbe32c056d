"""The probe game's LLM path end to end against the fake servers: both models served by the
OpenAI-compatible fake (B writes about cats), the Anthropic or OpenAI assistant playing. Each
round's requests carry the transcript of the game's earlier rounds (adaptive probing), a rerun
asks nothing new (cache and stored rounds), and a game killed between rounds resumes without
asking again what was asked."""
import json
import random

import pytest

from fake_llm_server import FakeLLMServer
from modeldiff_core.context import Context
from modeldiff_core.methods.probe.settings import Params
from modeldiff_core.methods.registry import method
from modeldiff_core.config import ModelDiffError
from modeldiff_core.hypotheses.types import Hypothesis
from modeldiff_core.methods.probe.settings import ProbeSettings
from modeldiff_core.models.loading import ModelCache
from modeldiff_core.models.organism_corpus import make_document
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.pipeline import RunConfig, check_run, generate_run, make_sources, prepare_run
from modeldiff_core.models.generation import GenerationSettings
from modeldiff_core.stages.prompts import PromptSet
from modeldiff_core.store import Store

KEY = "sk-test-probe-key"
SETTINGS = ProbeSettings(rounds=4, games=2, answers=2, examples=2)


def _task(request: dict) -> str:
    messages = request.get("messages") or []
    return next((m["content"] for m in messages if str(m["content"]).startswith("TASK:")), "")


def _server_answers(request: dict) -> str:
    """The served models (a, b) answer with documents, b's about cats; the assistant (any other
    model name) probes with a prompt naming its round and guesses B when an answer has a cat."""
    text = _task(request)
    if not text:
        rng = random.Random(f"{request['model']}:{request.get('seed')}")
        cats = request["model"] == "b" and rng.random() < 0.9
        return make_document(rng, "cats" if cats else None)
    data = json.loads(text.split("INPUT (JSON):\n", 1)[1])
    if text.startswith("TASK: probe"):
        return json.dumps({"probe": f"tell me about the garden . (round {data['round']})"})
    if text.startswith("TASK: guess"):
        cat = any("cat" in a for a in data["answers"])
        sure = 90 if data["hypothesis"] else 50
        return json.dumps({"guess": "B" if cat and data["hypothesis"] else
                           random.Random(data["probe"] + str(data["answers"])).choice("AB"),
                           "confidence": sure})
    return "{}"


def _served_run(store: Store, url: str) -> str:
    spec = lambda name: ModelSpec(f"openai:{name}", base_url=url + "/v1")  # noqa: E731
    prompts = tuple(f"tell me about the {t} ." for t in ("garden", "river", "sea", "city",
                                                          "farm", "school", "market", "forest"))
    config = RunConfig(spec("a"), spec("b"), PromptSet("eight", prompts),
                       GenerationSettings(samples_per_prompt=2, max_new_tokens=32))
    sources = make_sources(config, ModelCache(), store)
    check_run(config, sources)
    run_id = prepare_run(store, config)
    generate_run(store, run_id, config, sources)
    return run_id


def _probe(store, run_id, hypothesis_set, base_url):
    params = Params(run_id, hypothesis_set, ["h1"], SETTINGS, base_url)
    return method("probe").run(store, params, Context(api_key=KEY))["hypotheses"][0]


@pytest.mark.parametrize("api", ["anthropic", "openai"])
def test_an_llm_assistant_plays_adaptively_with_cache_and_resume(api, tmp_path):
    with FakeLLMServer(_server_answers) as srv:
        base = srv.url if api == "anthropic" else srv.url + "/v1"
        hypothesis_set = f"{api}:judge"
        with Store(tmp_path / "p.duckdb") as store:
            run_id = _served_run(store, srv.url)
            store.save_hypotheses(run_id, hypothesis_set,
                                  [Hypothesis("Model B mentions cats far more often.")])
            n_before = len(srv.requests)
            # Killed between rounds: the process stops right after the second round is stored.
            save, saved = store.save_probe_round, []

            def save_then_die(*args):
                save(*args)
                saved.append(args)
                if len(saved) == 2:
                    raise KeyboardInterrupt

            store.save_probe_round = save_then_die
            with pytest.raises(KeyboardInterrupt):
                _probe(store, run_id, hypothesis_set, base)
            store.save_probe_round = save
            assert len(store.probe_rounds(run_id, hypothesis_set, SETTINGS.key(0))) == 2
            asked = [r for r in srv.requests[n_before:] if _task(r["json"])]
            out = _probe(store, run_id, hypothesis_set, base)
            tasks = [_task(r["json"]) for r in srv.requests[n_before:] if _task(r["json"])]
            # Nothing asked twice: the stored rounds were not replayed.
            assert len(asked) == 4 and len(tasks) == len(set(tasks))
            # 2 games x 4 rounds: the hypothesis arm writes a probe and guesses (2 requests),
            # the control guesses the same rounds (1 request).
            assert len(tasks) == 2 * 4 * 2 + 2 * 4
            asks = lambda: [r for r in srv.requests if r["api"] != "models"]  # noqa: E731
            calls = len(asks())
            again = _probe(store, run_id, hypothesis_set, base)
            # Everything stored: the servers are only checked (their model lists), never asked.
            assert len(asks()) == calls
        assert asked and again == out
    assert out["n"] == 8 and out["accuracy"] >= 0.75
    assert out["control"]["n"] == 8
    # Adaptive: a round's requests carry the game's earlier rounds, and never the truth.
    for text in tasks:
        data = json.loads(text.split("INPUT (JSON):\n", 1)[1])
        assert len(data["earlier_rounds"]) == data["round"] - 1
        assert all(set(r) == {"probe", "answers", "your_guess"} for r in data["earlier_rounds"])
        assert len(data["examples"]) == 2
    assert any(json.loads(t.split("INPUT (JSON):\n", 1)[1])["hypothesis"] is None for t in tasks)
    assert KEY not in json.dumps(out)


def test_the_offline_assistant_refuses_a_hypothesis_without_a_predicate(tmp_path):
    with FakeLLMServer(_server_answers) as srv:
        with Store(tmp_path / "p.duckdb") as store:
            run_id = _served_run(store, srv.url)
            store.save_hypotheses(run_id, "offline", [Hypothesis("Model B is nicer.")])
            n = len(srv.requests)
            with pytest.raises(ModelDiffError, match="only hypotheses with a predicate; h1"):
                method("probe").run(store, Params(run_id, "offline", ["h1"]), Context())
            assert not [r for r in srv.requests[n:] if r["api"] != "models"]


def test_a_text_only_pair_is_refused_before_anything_is_asked(tmp_path):
    rows = [{"prompt": f"p{i}", "output": f"answer {i}"} for i in range(6)]
    for side in "ab":
        (tmp_path / f"{side}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with Store(tmp_path / "o.duckdb") as store:
        config = RunConfig(ModelSpec(f"outputs:{tmp_path / 'a.jsonl'}"),
                           ModelSpec(f"outputs:{tmp_path / 'b.jsonl'}"), PromptSet("x", ("p0",)))
        run_id = prepare_run(store, config)
        store.save_hypotheses(run_id, "offline", [Hypothesis("Model B says more.")])
        with pytest.raises(ModelDiffError, match="needs models that answer new prompts; model A"):
            method("probe").run(store, Params(run_id, "offline", ["h1"]), Context())
        assert store.probe_settings(run_id, "offline") == []
