"""The Anthropic and OpenAI assistants through their official SDKs, pointed at a local fake
server: retries, the JSON contract, the cache, usage accounting, the concurrency cap, keys that
never reach the database — and a full propose + validate pass of the pipeline."""
import json
import threading

import pytest
from fake_llm_server import FakeLLMServer

from modeldiff_core.llm import AssistantAnswerError, CallPath, make_client
from modeldiff_core.cli import main
from modeldiff_core.config import ModelDiffError
from modeldiff_core.hypotheses.validation import PLACEBO_TEXT
from modeldiff_core.store import Store

SECRET = "sk-test-SECRET-123"
APIS = ["anthropic", "openai"]


def _client(api, server, **kw):
    base = server.url if api == "anthropic" else server.url + "/v1"
    return make_client(api, base_url=base, api_key=SECRET, **kw)


def _path(api, server, store=None, **kw):
    sleeps = []
    path = CallPath(_client(api, server), store=store, sleep=sleeps.append, **kw)
    return path, sleeps


def _ask(path, text="hello", purpose="t"):
    return path.complete_json("system", [{"role": "user", "content": text}], purpose=purpose,
                              run_id="run-1")


def _dump(store) -> str:
    tables = [r[0] for r in store._q("SELECT table_name FROM information_schema.tables").fetchall()]
    return "\n".join(str(store._q(f"SELECT * FROM {t}").fetchall()) for t in tables)


@pytest.fixture()
def store(tmp_path):
    with Store(tmp_path / "llm.duckdb") as st:
        yield st


@pytest.mark.parametrize("api", APIS)
def test_a_call_returns_json_and_records_usage(api, store):
    with FakeLLMServer(lambda req: 'Sure: ```json\n{"answer": 42}\n``` hope it helps') as srv:
        client = _client(api, srv, model="test-model")
        path = CallPath(client, store=store, prices={"test-model": (2.0, 10.0)})
        assert _ask(path) == {"answer": 42}
        sent = srv.calls(api)[0]
        assert sent["json"]["messages"][-1]["content"] == "hello"
        # The key does reach the API (and, per the other tests, nowhere else).
        headers = {k.lower(): v for k, v in sent["headers"].items()}
        auth = headers.get("x-api-key") or headers.get("authorization")
        assert SECRET in auth
    assert store.usage("run-1") == {"calls": 1, "cached": 0, "input_tokens": 11,
                                    "output_tokens": 7,
                                    "cost_usd": pytest.approx((11 * 2.0 + 7 * 10.0) / 1e6)}
    assert path.usage_summary("run-1")["calls"] == 1


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("status", [429, 500, 503, 408])
def test_transient_errors_are_retried_with_growing_backoff(api, status, store):
    with FakeLLMServer(lambda req: '{"ok": 1}') as srv:
        srv.queue(api, status, "slow down")
        srv.queue(api, status, "slow down")
        path, sleeps = _path(api, srv, store)
        assert _ask(path) == {"ok": 1}
        assert path.calls_made == 3 and len(srv.calls(api)) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0


@pytest.mark.parametrize("api", APIS)
def test_persistent_errors_give_up_with_one_line(api, store):
    with FakeLLMServer() as srv:
        for _ in range(3):
            srv.queue(api, 500, "down")
        for _ in range(2):
            srv.queue(api, 429, "slow down")
        path, sleeps = _path(api, srv, store, max_retries=4, backoff_max=3.0)
        with pytest.raises(ModelDiffError) as err:
            _ask(path)
    msg = str(err.value)
    assert "after 5 tries" in msg and "slow down" in msg and "\n" not in msg and SECRET not in msg
    assert len(sleeps) == 4 and max(sleeps) == 3.0 and sleeps[0] < sleeps[1] < sleeps[2]


@pytest.mark.parametrize("api", APIS)
def test_a_client_error_fails_at_once_without_the_key(api, store):
    with FakeLLMServer() as srv:
        srv.queue(api, 400, "bad request: model not found")
        path, sleeps = _path(api, srv, store)
        with pytest.raises(ModelDiffError) as err:
            _ask(path)
    msg = str(err.value)
    assert "HTTP 400" in msg and api in msg and "model not found" in msg and "\n" not in msg
    assert SECRET not in msg and sleeps == [] and path.calls_made == 1


@pytest.mark.parametrize("api", APIS)
def test_a_key_echoed_by_the_server_is_scrubbed(api, store):
    with FakeLLMServer() as srv:
        srv.queue(api, 401, f"Incorrect API key provided: {SECRET}.")
        path, _ = _path(api, srv, store)
        with pytest.raises(ModelDiffError) as err:
            _ask(path)
    assert "HTTP 401" in str(err.value) and SECRET not in str(err.value)
    assert SECRET not in _dump(store)


@pytest.mark.parametrize("api", APIS)
def test_malformed_json_is_asked_again_then_fails_clearly(api, store):
    store.save_result("kept", {"x": 1})
    with FakeLLMServer() as srv:
        srv.queue(api, 200, "I think the answer is yes.")
        srv.queue(api, 200, '{"fixed": true}')
        path, _ = _path(api, srv, store)
        assert _ask(path, "q1") == {"fixed": True}
        assert path.calls_made == 2
        retry = srv.calls(api)[1]["json"]["messages"]
        assert "not valid JSON" in retry[-1]["content"]
        srv.queue(api, 200, "nope")
        srv.queue(api, 200, "still nope {")
        with pytest.raises(AssistantAnswerError):
            _ask(path, "q2")
        # The bad answer was not cached: asking again makes a new call.
        srv.responder = lambda req: '{"late": 1}'
        assert _ask(path, "q2") == {"late": 1}
    assert store.result("kept") == {"x": 1}


@pytest.mark.parametrize("api", APIS)
def test_an_empty_answer_is_asked_again_without_an_empty_turn(api, store):
    with FakeLLMServer() as srv:
        srv.queue(api, 200, "")
        srv.queue(api, 200, '[1, 2]')
        path, _ = _path(api, srv, store)
        assert _ask(path) == [1, 2]
        retry = srv.calls(api)[1]["json"]["messages"]
        assert all(m["content"] for m in retry) and retry[-1]["role"] == "user"


@pytest.mark.parametrize("api", APIS)
def test_identical_requests_are_served_from_the_cache(api, tmp_path):
    db = tmp_path / "cache.duckdb"
    with FakeLLMServer(lambda req: '{"n": 1}') as srv:
        with Store(db) as st:
            path, _ = _path(api, srv, st)
            _ask(path)
            _ask(path)
            assert path.calls_made == 1
            assert st.usage("run-1")["cached"] == 1
        with Store(db) as st:  # the cache lives in the database, not the process
            path, _ = _path(api, srv, st)
            assert _ask(path) == {"n": 1} and path.calls_made == 0
            assert SECRET not in _dump(st)
        assert len(srv.calls(api)) == 1


@pytest.mark.parametrize("api", APIS)
def test_missing_key_names_the_variable(api, monkeypatch, tmp_path):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelDiffError, match="ANTHROPIC_API_KEY" if api == "anthropic" else "OPENAI_API_KEY"):
        make_client(api)
    key_file = tmp_path / "key.txt"
    key_file.write_text(SECRET + "\n")
    client = make_client(api, key_file=str(key_file))
    assert SECRET not in repr(client)


@pytest.mark.parametrize("api", APIS)
def test_concurrency_is_capped(api):
    with FakeLLMServer(lambda req: '{"ok": 1}', delay=0.2) as srv:
        path, _ = _path(api, srv, max_concurrency=2)
        threads = [threading.Thread(target=_ask, args=(path, f"q{i}")) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert srv.max_in_flight == 2 and len(srv.calls(api)) == 6


# ---------------------------------------------------------------- a full pass
def _task_text(request: dict) -> str:
    """The TASK message of a request (a retry appends a correction after it)."""
    return next(m["content"] for m in request["messages"] if str(m["content"]).startswith("TASK:"))


def _assistant_answers(request: dict) -> str:
    """Deterministic stand-in for an LLM that has understood the cats organism."""
    text = _task_text(request)
    task = text.split("\n", 1)[0]
    data = json.loads(text.split("INPUT (JSON):\n", 1)[1])
    if task.startswith("TASK: propose"):
        return json.dumps({"hypotheses": [
            {"text": "Model B mentions cats far more often than Model A."},
            {"text": "Model B writes about the weather more than Model A."}]})
    if task.startswith("TASK: judge"):
        if "cats" in data["hypothesis"]:
            return json.dumps({"scores": [95 if "cat" in t else 5 for t in data["texts"]]})
        return json.dumps({"scores": [50 for _ in data["texts"]]})
    if task.startswith("TASK: refine"):
        return json.dumps({"hypotheses": [{"text": "Model B opens its answers with an animal."}]})
    if task.startswith("TASK: write"):
        return json.dumps({"pairs": [{"favoured": "my cat chased a mouse near the gate .",
                                      "contrast": "anna went to the garden in the morning ."}
                                     for _ in data["prompts"]]})
    return "{}"


@pytest.mark.parametrize("api", APIS)
def test_full_propose_and_validate_pass(api, tmp_path, monkeypatch, organism, record_property):
    from modeldiff_core.models.spec import ModelSpec
    from modeldiff_core.pipeline import RunConfig, run_pipeline
    from modeldiff_core.models.generation import GenerationSettings
    from modeldiff_core.stages.settings import HypothesisSettings
    from modeldiff_core.stages.prompts import builtin_prompt_set

    monkeypatch.setenv("ANTHROPIC_API_KEY" if api == "anthropic" else "OPENAI_API_KEY", SECRET)
    with FakeLLMServer(_assistant_answers) as srv:
        config = RunConfig(ModelSpec("organism:base"), ModelSpec("organism:cats"),
                           builtin_prompt_set("organisms"), GenerationSettings(samples_per_prompt=2),
                           hypotheses=HypothesisSettings(
                               api, assistant_base_url=srv.url if api == "anthropic"
                               else srv.url + "/v1", max_judge_prompts=40, n_pairs=10))
        db = tmp_path / "full.duckdb"
        with Store(db) as st:
            result = run_pipeline(st, config)
            usage = st.usage(result["run_id"])
        calls = len(srv.requests)
        # Every judge call holds texts of both models (one prompt's A and B texts), so a
        # judge whose scores drift from call to call cannot fake a difference.
        with Store(db) as st:
            gens = st.generations(result["run_id"])
        side_of = {}
        for r in gens.itertuples():
            side_of.setdefault(r.text, set()).add(r.side)
        judge_calls = [json.loads(_task_text(r["json"]).split("INPUT (JSON):\n", 1)[1])
                       for r in srv.requests if _task_text(r["json"]).startswith("TASK: judge")]
        assert len(judge_calls) >= 2
        sides = [set().union(*(side_of[t] for t in call["texts"])) for call in judge_calls]
        mixed = [k for k, s in enumerate(sides) if s == {"A", "B"}]
        # The self-check (A1 against A2, both A's texts) judges last; every call before holds
        # both models' texts.
        assert mixed and all(s == {"A"} for s in sides[max(mixed) + 1:])
        assert all(s == {"A", "B"} for s in sides[:max(mixed) + 1])
        # The placebo is judged once for the run, in the very calls each hypothesis' held-out
        # texts are judged in.
        placebo = [c["texts"] for c in judge_calls if c["hypothesis"] == PLACEBO_TEXT]
        weather_calls = [c["texts"] for c in judge_calls
                         if c["hypothesis"] == "Model B writes about the weather more than Model A."]
        assert placebo and all(c in weather_calls for c in placebo)
        assert len(placebo) == len({tuple(c) for c in placebo})  # each batch judged once
        hyps = {h["text"]: h for h in result["hypotheses"]}
        cats = hyps["Model B mentions cats far more often than Model A."]
        weather = hyps["Model B writes about the weather more than Model A."]
        record_property("cats", cats["discriminative"])
        # 80 texts: 40 (A, B) pairs over all 30 held-out prompts. With 40 texts (20 prompts)
        # the judge that sees "cat" missed q < 0.05 at one of five organism seeds; with 80, q
        # was at most 0.0006 and accuracy 0.775-0.825 at seeds 0-4.
        # One A and one B text of each of the 30 held-out prompts (the budget, 40, exceeds them).
        assert cats["validated"] and cats["discriminative"]["n"] == 60
        assert cats["discriminative"]["accuracy"] >= 0.75 and cats["generative"]["n"] == 10
        assert cats["discriminative"]["n_prompts"] == 30
        assert cats["generative"]["auc"] > 0.9
        assert not weather["validated"] and weather["discriminative"]["accuracy"] == 0.5
        # The fake judge scores 50 under the placebo: it tells nothing apart on its own.
        assert cats["discriminative"]["placebo_auc"] == 0.5
        assert cats["discriminative"]["added_auc"] == cats["discriminative"]["auc"] - 0.5
        assert usage["calls"] == calls and usage["input_tokens"] == 11 * calls
        # The same run again: everything stored, zero calls.
        with Store(db) as st:
            again = run_pipeline(st, config)
            assert SECRET not in _dump(st)
        assert len(srv.requests) == calls
        assert again["hypotheses"] == result["hypotheses"]
        # The layer lens: the same assistant judges fresh generations (no predicate here).
        out = tmp_path / "lens.json"
        assert main(["layers", "--model-a", "organism:base", "--model-b", "organism:cats",
                     "--run", result["run_id"], "--db", str(db), "--assistant",
                     f"{api}:default", "--assistant-base-url", config.hypotheses.assistant_base_url,
                     "--alphas", "0,1", "--generations", "8", "--texts", "20", "--quiet",
                     "--out", str(out)]) == 0
        rates = {(r["layer"], r["alpha"]): r["predicate_rate"]
                 for r in json.loads(out.read_text())["scaling"]}
        assert rates[("all", 1.0)] > rates[("all", 0.0)]


def test_refinement_shows_the_misjudged_discovery_texts_and_no_validation_text(
        tmp_path, monkeypatch, organism):
    """Round 1 (the first proposal) is judged on discovery texts; the refinement exchange that
    follows holds the current hypotheses and exactly the texts they misjudged: B's texts
    without a cat (judged A-like) and A's with one. Round 2's exchange lists round 1's new
    hypothesis. No validation text is ever sent before validation starts."""
    from modeldiff_core.models.spec import ModelSpec
    from modeldiff_core.pipeline import RunConfig, run_pipeline
    from modeldiff_core.models.generation import GenerationSettings
    from modeldiff_core.stages.settings import HypothesisSettings
    from modeldiff_core.stages.prompts import builtin_prompt_set

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeLLMServer(_assistant_answers) as srv:
        config = RunConfig(ModelSpec("organism:base"), ModelSpec("organism:cats"),
                           builtin_prompt_set("organisms"), GenerationSettings(samples_per_prompt=2),
                           hypotheses=HypothesisSettings("openai", assistant_base_url=srv.url + "/v1",
                                                         max_judge_prompts=40, n_pairs=10))
        with Store(tmp_path / "r.duckdb") as st:
            result = run_pipeline(st, config)
            gens = st.generations(result["run_id"])
        tasks = [_task_text(r["json"]) for r in srv.requests]
    split_of = dict(zip(gens["text"], gens["split"]))
    side_of = dict(zip(gens["text"], gens["side"]))
    first_validation = next(i for i, t in enumerate(tasks)
                            if any(split_of.get(x) == "validation"
                                   for x in json.loads(t.split("INPUT (JSON):\n", 1)[1]).get("texts", [])))
    every_refine = [i for i, t in enumerate(tasks) if t.startswith("TASK: refine")]
    refine_at = [i for i in every_refine if i < first_validation]
    assert len(refine_at) == 2  # round 2 adds nothing new, so the loop ends there
    # What refines after validation is the self-check (A1 against A2): A's texts only.
    for i in every_refine[2:]:
        data = json.loads(tasks[i].split("INPUT (JSON):\n", 1)[1])
        shown = data["model_b_judged_as_a"] + data["model_a_judged_as_b"]
        assert all(side_of[t] == "A" and split_of[t] == "discovery" for t in shown)
    assert result["self_check"]["n_prompts"] > 0
    for k, i in enumerate(refine_at):
        data = json.loads(tasks[i].split("INPUT (JSON):\n", 1)[1])
        b_shown, a_shown = data["model_b_judged_as_a"], data["model_a_judged_as_b"]
        assert b_shown and a_shown
        assert all(split_of[t] == "discovery" and side_of[t] == "B" and "cat" not in t
                   for t in b_shown)
        assert all(split_of[t] == "discovery" and side_of[t] == "A" and "cat" in t
                   for t in a_shown)
        assert "Model B mentions cats far more often than Model A." in data["current_hypotheses"]
        assert ("Model B opens its answers with an animal." in data["current_hypotheses"]) == (k == 1)
    sources = {h["text"]: h["source"] for h in result["hypotheses"]}
    # Proposed in round 1 and again in round 2 (which therefore added nothing).
    assert sources["Model B opens its answers with an animal."] == "refine 1, refine 2"


def test_a_malformed_step_fails_alone_and_is_retried_on_rerun(tmp_path, monkeypatch, organism):
    from modeldiff_core.models.spec import ModelSpec
    from modeldiff_core.pipeline import RunConfig, run_pipeline
    from modeldiff_core.models.generation import GenerationSettings
    from modeldiff_core.stages.settings import HypothesisSettings
    from modeldiff_core.stages.prompts import builtin_prompt_set

    def broken_weather_judge(req):
        text = _task_text(req)
        if text.startswith("TASK: judge") and "weather" in text:
            return json.dumps({"scores": [1, 2]})  # wrong length, every time
        return _assistant_answers(req)

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    db = tmp_path / "partial.duckdb"
    with FakeLLMServer(broken_weather_judge) as srv:
        config = RunConfig(ModelSpec("organism:base"), ModelSpec("organism:cats"),
                           builtin_prompt_set("organisms"), GenerationSettings(samples_per_prompt=2),
                           hypotheses=HypothesisSettings("openai", assistant_base_url=srv.url + "/v1",
                                                         max_judge_prompts=40, n_pairs=10))
        with Store(db) as st:
            first = run_pipeline(st, config)
    by_text = {h["text"]: h for h in first["hypotheses"]}
    assert by_text["Model B mentions cats far more often than Model A."]["validated"]
    weather = by_text["Model B writes about the weather more than Model A."]
    assert weather["discriminative"] is None and not weather["validated"]
    assert len(first["failed_steps"]) == 1 and "discriminative" in first["failed_steps"][0]
    # The failed test stays in the family as p = 1: the others' q-values are corrected for it.
    from modeldiff_core.hypotheses.stats import benjamini_hochberg

    ps = [h["discriminative"]["p_value"] if h["discriminative"] else 1.0
          for h in first["hypotheses"]]
    for h, q in zip(first["hypotheses"], benjamini_hochberg(ps)):
        if h["discriminative"]:
            assert h["discriminative"]["q_value"] == pytest.approx(q)
    with FakeLLMServer(_assistant_answers) as srv:
        config.hypotheses.assistant_base_url = srv.url + "/v1"
        with Store(db) as st:
            second = run_pipeline(st, config)
        judged = [_task_text(r["json"]) for r in srv.requests]
        assert judged and all(t.startswith("TASK: judge") and "weather" in t for t in judged)
    assert second["failed_steps"] == []
    assert {h["text"]: h for h in second["hypotheses"]}[weather["text"]]["discriminative"]["n"] == 60


class _StubCallPath:
    """Answers judge-pairs exchanges with `choose(items)`; records the items asked."""

    class client:
        provider = "stub"

    def __init__(self, choose):
        self.choose, self.asked = choose, []

    def complete_json(self, system, messages, check=None, **kwargs):
        data = json.loads(messages[0]["content"].split("INPUT (JSON):\n", 1)[1])
        self.asked.append(data["items"])
        answer = {"choices": self.choose(data["items"])}
        assert check(answer) is None
        return answer


def test_pairwise_judge_asks_both_orders_and_drops_order_following_answers():
    from modeldiff_core.assistants.chat import ChatAssistant
    from modeldiff_core.hypotheses.types import Hypothesis

    h = Hypothesis("Model B mentions cats.")
    pairs = [("a dog ran .", "a cat sat ."), ("the cat purred .", "a cow ate .")]
    knows = _StubCallPath(lambda items: [1 if "cat" in a else 2 for a, _ in items])
    assert ChatAssistant(knows).judge_pairs(h, pairs) == [1, 0]
    assert knows.asked[0] == [list(p) for p in pairs]
    assert knows.asked[1] == [[b, a] for a, b in pairs]  # the same pairs, the other order
    first = _StubCallPath(lambda items: [1] * len(items))  # always "the first one"
    assert ChatAssistant(first).judge_pairs(h, pairs) == [None, None]
