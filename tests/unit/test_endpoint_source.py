"""`openai:MODEL` and `anthropic:MODEL` sources against the fake server on 127.0.0.1: generation
with the run's sampling, resume after an interruption without asking twice, the cache across
runs, retries, one-line refusals without the key, and log-probs through the Completions API."""
import socket

import pandas as pd
import pytest
from fake_llm_server import FakeLLMServer, token_logprob

from modeldiff_core.config import ModelDiffError
from modeldiff_core.models.sources import endpoint, make_source
from modeldiff_core.models.sources.base import sample_seed
from modeldiff_core.models.sources.endpoint import NO_LOGPROBS
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.models.generation import GenerationSettings
from modeldiff_core.stages.generate import generate_side
from modeldiff_core.store import Store
from modeldiff_core.store.runs import RunRecord

SECRET = "sk-test-SECRET-123"
SETTINGS = GenerationSettings(samples_per_prompt=2, max_new_tokens=16, temperature=0.7,
                              top_p=0.9, seed=3)
PROMPTS = ["say hi", "write a long story", "name a colour", "count to three", "a riddle",
           "a haiku"]


def _spec(kind, srv=None, name="m", **kw):
    base = None if srv is None else (srv.url + "/v1" if kind == "openai" else srv.url)
    return ModelSpec(f"{kind}:{name}", base_url=base, **kw)


def _answer(req):
    """Echo the prompt and the seed; a 'long' prompt runs out of tokens."""
    msg = req["messages"][-1]["content"]
    long = "long" in msg
    return {"text": f"  {msg} / {req.get('seed', '-')}  ", "completion_tokens": 16 if long else 4,
            "finish_reason": "length" if long else "stop"}


def _prompts(texts=PROMPTS):
    return pd.DataFrame({"prompt_id": range(len(texts)), "prompt": texts,
                         "prompt_group": texts, "split": "discovery"})


def _run(store, run_id="r1"):
    store.upsert_run(run_id, RunRecord(model_a="a", model_b="b", spec_a={}, spec_b={},
                                       fingerprint_a="x", fingerprint_b="y", prompt_set="t",
                                       settings={}))
    store.save_prompts(run_id, _prompts())
    return run_id


def _dump(store) -> str:
    tables = [r[0] for r in store._q("SELECT table_name FROM information_schema.tables").fetchall()]
    return "\n".join(str(store._q(f"SELECT * FROM {t}").fetchall()) for t in tables)


@pytest.fixture()
def store(tmp_path):
    with Store(tmp_path / "ep.duckdb") as st:
        yield st


# ---------------------------------------------------------------- generation
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_generation_sends_the_runs_sampling_and_stores_every_row(kind, store):
    with FakeLLMServer(_answer, models=["m"]) as srv:
        src = make_source(_spec(kind, srv), cache=None, store=store, api_key=SECRET)
        src.check(SETTINGS)
        run_id = _run(store)
        assert generate_side(store, run_id, "A", src, _prompts(), SETTINGS) == 12
        sent = [r["json"] for r in srv.calls(kind)]
    assert len(sent) == 12
    for req in sent:  # the prompt as the one user message, no system prompt
        assert req["messages"] == [{"role": "user", "content": req["messages"][0]["content"]}]
        assert "system" not in req and req["max_tokens"] == 16
    if kind == "openai":  # Anthropic's Messages API takes no sampling parameters
        assert all(r["top_p"] == 0.9 and r["temperature"] == 0.7 for r in sent)
        expected = {sample_seed(3, "A", p, s) for p in range(6) for s in range(2)}
        assert {r["seed"] for r in sent} == expected and len(expected) == 12
    gens = store.generations(run_id)
    assert len(gens) == 12 and set(zip(gens.prompt_id, gens.sample_idx)) == {
        (p, s) for p in range(6) for s in range(2)}
    row = gens[gens.prompt_id == 1].iloc[0]
    assert row.text == row.text.strip() and row.text.startswith("write a long story")
    assert (row.n_tokens, row.finish_reason) == (16, "length")
    short = gens[gens.prompt_id == 0].iloc[0]
    assert (short.n_tokens, short.finish_reason) == (4, "eos")
    usage = store.usage(run_id)
    assert usage["calls"] == 12 and usage["output_tokens"] == 2 * 16 + 10 * 4
    assert SECRET not in _dump(store) and SECRET not in repr(src)


def test_an_interrupted_run_resumes_without_asking_twice(store, monkeypatch):
    monkeypatch.setattr(endpoint, "SERVER_CONCURRENCY", 2)  # so most requests are still queued

    def stop_after_three(event):
        if event.done >= 3:
            raise KeyboardInterrupt

    with FakeLLMServer(_answer, delay=0.02) as srv:
        run_id = _run(store)
        src = make_source(_spec("openai", srv), cache=None, store=store)
        with pytest.raises(KeyboardInterrupt):
            generate_side(store, run_id, "A", src, _prompts(), SETTINGS, progress=stop_after_three)
        first = len(srv.calls("openai"))
        kept = store.count_generations(run_id)
        assert 3 <= kept == first < 12  # what arrived is stored, what was queued was not sent
        again = make_source(_spec("openai", srv), cache=None, store=store)
        assert generate_side(store, run_id, "A", again, _prompts(), SETTINGS) == 12 - kept
        seeds = [r["json"]["seed"] for r in srv.calls("openai")]
    assert len(seeds) == 12 == len(set(seeds)) == store.count_generations(run_id)


def test_replies_that_arrived_but_were_not_stored_come_from_the_cache(store, monkeypatch):
    """A kill between the reply and the store write: the rerun asks nothing it asked before."""
    monkeypatch.setattr(endpoint, "SERVER_CONCURRENCY", 2)
    real_save = store.save_generations

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with FakeLLMServer(_answer) as srv:
        run_id = _run(store)
        monkeypatch.setattr(store, "save_generations", killed)
        with pytest.raises(KeyboardInterrupt):
            generate_side(store, run_id, "A", make_source(_spec("openai", srv), cache=None,
                                                          store=store), _prompts(), SETTINGS)
        assert store.count_generations(run_id) == 0
        asked = len(srv.calls("openai"))
        monkeypatch.setattr(store, "save_generations", real_save)
        generate_side(store, run_id, "A", make_source(_spec("openai", srv), cache=None,
                                                      store=store), _prompts(), SETTINGS)
        seeds = [r["json"]["seed"] for r in srv.calls("openai")]
    assert asked >= 1 and len(seeds) == 12 == len(set(seeds)) == store.count_generations(run_id)


def test_a_second_run_makes_no_calls(tmp_path):
    db = tmp_path / "cache.duckdb"
    with FakeLLMServer(_answer) as srv:
        with Store(db) as st:
            generate_side(st, _run(st, "r1"), "B",
                          make_source(_spec("openai", srv), cache=None, store=st), _prompts(),
                          SETTINGS)
        with Store(db) as st:  # another run, another process's store: the cache answers
            src = make_source(_spec("openai", srv), cache=None, store=st)
            assert generate_side(st, _run(st, "r2"), "B", src, _prompts(), SETTINGS) == 12
            assert st.usage("r2") == {"calls": 12, "cached": 12, "input_tokens": 0,
                                      "output_tokens": 0, "cost_usd": 0.0}
            assert list(st.generations("r2").text) == list(st.generations("r1").text)
        assert len(srv.calls("openai")) == 12
        # Another server under the same model name is another model: not answered from the cache.
        with FakeLLMServer(_answer) as other, Store(db) as st:
            generate_side(st, _run(st, "r3"), "B",
                          make_source(_spec("openai", other), cache=None, store=st), _prompts(),
                          SETTINGS)
            assert len(other.calls("openai")) == 12


def test_a_429_is_retried(store):
    with FakeLLMServer(_answer) as srv:
        srv.queue("openai", 429, "slow down")
        src = make_source(_spec("openai", srv), cache=None, store=store)
        sleeps = []
        src.call_path()._sleep = sleeps.append
        assert generate_side(store, _run(store), "A", src, _prompts(), SETTINGS) == 12
        assert len(srv.calls("openai")) == 13 and len(sleeps) == 1


def test_a_failure_mid_run_is_one_line_and_keeps_what_arrived(store, monkeypatch):
    monkeypatch.setattr(endpoint, "SERVER_CONCURRENCY", 1)
    with FakeLLMServer(_answer) as srv:
        for _ in range(3):
            srv.queue("openai", 200, "fine")
        srv.queue("openai", 401, f"Incorrect API key provided: {SECRET}")
        src = make_source(_spec("openai", srv), cache=None, store=store, api_key=SECRET)
        run_id = _run(store)
        with pytest.raises(ModelDiffError) as err:
            generate_side(store, run_id, "A", src, _prompts(), SETTINGS)
        answered = len(srv.calls("openai")) - 1  # the one in flight when it failed is kept too
    msg = str(err.value)
    assert "HTTP 401" in msg and "openai:m" in msg and SECRET not in msg and "\n" not in msg
    assert 3 <= store.count_generations(run_id) == answered < 12


# ---------------------------------------------------------------- checks
def _refusal(src) -> str:
    with pytest.raises(ModelDiffError) as err:
        src.check(SETTINGS)
    msg = str(err.value)
    assert "\n" not in msg and SECRET not in msg
    return msg


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("status", [401, 404, 500])
def test_a_refusing_server_is_one_line_with_its_reason(kind, status, store):
    with FakeLLMServer(_answer, models=["m"]) as srv:
        srv.queue("models", status, f"nope ({status}) for key {SECRET}")
        if status == 404:
            srv.queue(kind, 404, "The model `m` does not exist")  # openai's fallback probe
        msg = _refusal(make_source(_spec(kind, srv), cache=None, store=store, api_key=SECRET))
        assert not srv.calls(kind) or kind == "openai"
    assert f"HTTP {status}" in msg and f"{kind}:m" in msg
    assert ("does not exist" if (kind, status) == ("openai", 404) else f"nope ({status})") in msg
    assert SECRET not in _dump(store)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_an_unknown_model_is_refused(kind, store):
    with FakeLLMServer(_answer, models=["llama", "qwen"]) as srv:
        msg = _refusal(make_source(_spec(kind, srv, name="gpt"), cache=None, store=store,
                                   api_key=SECRET))
    assert "gpt" in msg and (("llama, qwen" in msg) if kind == "openai" else "HTTP 404" in msg)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_base_url_that_does_not_answer(kind, store):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    spec = ModelSpec(f"{kind}:m", base_url=f"http://127.0.0.1:{port}/v1")
    msg = _refusal(make_source(spec, cache=None, store=store, api_key=SECRET))
    assert "does not answer" in msg and str(port) in msg


def test_a_server_without_a_model_list_is_asked_for_one_token(store):
    with FakeLLMServer(_answer) as srv:
        srv.queue("models", 404, "no route")
        make_source(_spec("openai", srv), cache=None, store=store).check(SETTINGS)
        assert [r["json"]["max_tokens"] for r in srv.calls("openai")] == [1]


def _header(request: dict, name: str) -> str:
    return {k.lower(): v for k, v in request["headers"].items()}.get(name, "")


def test_keys(monkeypatch, tmp_path, store):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with FakeLLMServer(_answer, models=["m"]) as srv:
        # A local server without a key: vLLM's placeholder is sent.
        make_source(_spec("openai", srv), cache=None, store=store).check(SETTINGS)
        assert _header(srv.calls("models")[0], "authorization") == "Bearer EMPTY"
        key_file = tmp_path / "key"
        key_file.write_text(SECRET + "\n")
        make_source(_spec("anthropic", srv, key_file=str(key_file)), cache=None,
                    store=store).check(SETTINGS)
        assert SECRET in (_header(srv.calls("models")[1], "x-api-key")
                          or _header(srv.calls("models")[1], "authorization"))
        requests = len(srv.requests)
        with pytest.raises(ModelDiffError, match="ANTHROPIC_API_KEY"):
            make_source(_spec("anthropic", srv), cache=None, store=store).check(SETTINGS)
        assert len(srv.requests) == requests  # refused before asking anything
    with pytest.raises(ModelDiffError, match="OPENAI_API_KEY"):  # OpenAI itself needs one
        make_source(_spec("openai"), cache=None, store=store).check(SETTINGS)


def test_cheap_checks_come_before_the_network(store):
    bad = ModelSpec("openai:m", base_url="localhost:8000/v1")
    with pytest.raises(ModelDiffError, match="not an http"):
        make_source(bad, cache=None, store=store, api_key=SECRET).check(SETTINGS)
    with pytest.raises(ModelDiffError, match="needs a model name"):
        make_source(ModelSpec("openai:"), cache=None, store=store, api_key=SECRET).check(SETTINGS)


# ---------------------------------------------------------------- log-probs
def test_the_completions_scorer_sums_the_texts_tokens(store):
    with FakeLLMServer(models=["m"]) as srv:
        src = make_source(_spec("openai", srv), cache=None, store=store)
        scorer = src.scorer()
        assert scorer is not None and src.lacks_logprobs() is None
        got = scorer.sum_logprobs(["hello there friend", "well"], ["Say hi", "Again"])
        # After "Say hi\n\n": the token that carries the first word (and the blank line), the
        # rest of the text; not the prompt's tokens, nor the one generated after the text.
        want = [sum(map(token_logprob, ["\n\nhello", " there", " friend"])),
                token_logprob("\n\nwell")]
        assert got.tolist() == pytest.approx(want)
        # Without a prompt the first token has nothing before it: no log-prob, counted 0.
        assert scorer.sum_logprobs(["hello there"], None).tolist() == pytest.approx(
            [token_logprob(" there")])
        sent = srv.calls("completions")[1]["json"]
        assert sent["echo"] is True and sent["max_tokens"] == 1 and sent["logprobs"] == 1
        asked = len(srv.calls("completions"))
        assert scorer.sum_logprobs(["hello there friend"], ["Say hi"]).tolist() == pytest.approx(
            want[:1])
        assert len(srv.calls("completions")) == asked  # cached


def test_a_server_without_logprobs_has_no_scorer(store):
    with FakeLLMServer(models=["m"], logprobs=False) as srv:
        src = make_source(_spec("openai", srv), cache=None, store=store)
        assert src.scorer() is None
        assert src.lacks_logprobs() == f"{NO_LOGPROBS}: the server returned none"
        src.scorer()
        assert len(srv.calls("completions")) == 1  # probed once
    with FakeLLMServer(models=["m"]) as srv:
        srv.queue("completions", 404, "This is a chat model")
        src = make_source(_spec("openai", srv), cache=None, store=store)
        assert src.scorer() is None and "This is a chat model" in src.lacks_logprobs()


def test_anthropic_gives_no_logprobs(store):
    src = make_source(ModelSpec("anthropic:claude"), cache=None, store=store, api_key=SECRET)
    assert src.scorer() is None
    assert src.lacks_logprobs() == f"{NO_LOGPROBS}: the Anthropic API gives none"


def test_a_404_without_v1_suggests_it(store):
    with FakeLLMServer(_answer) as srv:
        srv.queue("models", 404, "Not Found")
        srv.queue("openai", 404, "Not Found")
        msg = _refusal(make_source(ModelSpec("openai:m", base_url=srv.url), cache=None,
                                   store=store))
    assert "HTTP 404" in msg and f"is the base URL {srv.url}/v1?" in msg


def test_calls_count_under_the_run_even_for_a_source_made_without_a_store(store):
    with FakeLLMServer(_answer, models=["m"]) as srv:
        src = make_source(_spec("openai", srv), cache=None)  # as the checks make them
        src.check(SETTINGS)
        run_id = _run(store)
        generate_side(store, run_id, "B", src, _prompts(), SETTINGS)
        assert store.usage(run_id)["calls"] == 12
        src.scorer().sum_logprobs(["hello there"], ["p"])
        assert store.usage(run_id)["calls"] == 13  # the score; the probe counts under no run
        assert store.usage()["calls"] == 14


def test_a_resumed_run_with_every_text_stored_still_counts_its_scoring_calls(store):
    """A run started again (or another assistant's set added to it) asks for no text, and the
    generative test's scoring calls still count under the run."""
    with FakeLLMServer(_answer, models=["m"]) as srv:
        run_id = _run(store)
        generate_side(store, run_id, "B", make_source(_spec("openai", srv), cache=None,
                                                      store=store), _prompts(), SETTINGS)
        again = make_source(_spec("openai", srv), cache=None, store=store)
        assert generate_side(store, run_id, "B", again, _prompts(), SETTINGS) == 0
        before = store.usage(run_id)["calls"]
        again.scorer().sum_logprobs(["hello there"], ["p"])
        assert store.usage(run_id)["calls"] == before + 1
