"""Bad model sources are refused in one line before anything is read whole, embedded, built or
stored: answer files that pair too few prompts, `outputs:` without a path, an answers file at
the size limit, a server whose model list is not one, and a HF id the hub cannot be asked for
or does not have."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import kept_row
import pytest
from fake_llm_server import FakeLLMServer
from huggingface_hub import constants

from modeldiff_core.cli import main
from modeldiff_core.config import ModelDiffError
from modeldiff_core.models import organisms
from modeldiff_core.models.sources import make_source, outputs_file
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core import embedders
from modeldiff_core.stages import embed
from modeldiff_core.models.generation import GenerationSettings


def _answers(path: Path, rows: list[tuple]) -> Path:
    """(prompt, output) or (prompt, output, group) rows as a JSONL file of answers."""
    path.write_text("".join(json.dumps(dict(zip(("prompt", "output", "group"), r))) + "\n"
                            for r in rows))
    return path


@pytest.fixture()
def db(tmp_path):
    return kept_row.make(tmp_path / "keep.duckdb")


def _boom(*args, **kwargs):
    raise AssertionError("expensive work started before the input was refused")


class _NoEmbedding(embed.Embedder):
    name = "none"
    embed = _boom


@pytest.fixture()
def nothing_expensive(monkeypatch):
    """Embedding a text or building an organism fails the test: the refusal comes first."""
    monkeypatch.setattr(embedders, "make_embedder", lambda *args, **kwargs: _NoEmbedding())
    monkeypatch.setattr(organisms, "ensure_organism", _boom)


def _refused(capsys, db, *args) -> str:
    """Run the CLI in-process; it must exit 2 with one stderr line and leave `db` as it was."""
    code = main(["run", *args, "--db", str(db), "--quiet"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("modeldiff: error: ")
    kept_row.untouched(db, no_runs=True)
    return lines[0]


# ------------------------------------------------------------- too few paired prompts
@pytest.mark.parametrize("rows_a,rows_b,expected", [
    ([("p1", "a1"), ("p2", "a2")], [("p1", "b1"), ("p3", "b3")],
     "outputs:a.jsonl and outputs:b.jsonl share 1 prompt; a comparison needs at least 2 "
     "(one to find differences on, one held out to test them)"),
    ([("p1", "a1", "g"), ("p2", "a2", "g")], [("p1", "b1"), ("p2", "b2")],
     "outputs:a.jsonl and outputs:b.jsonl share 2 prompts, all in one group; a comparison "
     "needs at least 2 groups"),
])
def test_answer_files_that_pair_too_few_prompts_are_refused_before_anything_is_stored(
        tmp_path, capsys, db, nothing_expensive, rows_a, rows_b, expected):
    a, b = _answers(tmp_path / "a.jsonl", rows_a), _answers(tmp_path / "b.jsonl", rows_b)
    line = _refused(capsys, db, "--model-a", f"outputs:{a}", "--model-b", f"outputs:{b}")
    assert expected in line


def test_one_answer_file_with_one_prompt_is_refused_before_the_organism_is_built(
        tmp_path, capsys, db, nothing_expensive):
    a = _answers(tmp_path / "a.jsonl", [("p1", "x"), ("p1", "y")])
    line = _refused(capsys, db, "--model-a", f"outputs:{a}", "--model-b", "organism:cats")
    assert "outputs:a.jsonl has 1 prompt; a comparison needs at least 2" in line


def test_a_prompt_file_with_one_prompt_is_refused_before_the_organisms_are_built(
        tmp_path, capsys, db, nothing_expensive):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "only one"}\n')
    line = _refused(capsys, db, "--model-a", "organism:base", "--model-b", "organism:cats",
                    "--prompts", str(prompts))
    assert "the prompt set has 1 prompt; a comparison needs at least 2" in line


# ------------------------------------------------------------- outputs: without a path
@pytest.mark.parametrize("blank", ["outputs:", "outputs:  "])
def test_outputs_without_a_path_is_refused(tmp_path, capsys, db, nothing_expensive, blank):
    b = _answers(tmp_path / "b.jsonl", [("p1", "b1"), ("p2", "b2")])
    line = _refused(capsys, db, "--model-a", blank, "--model-b", f"outputs:{b}")
    assert "outputs: needs a file path" in line


# ------------------------------------------------------------- a file at the size limit
def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:  # no data written: instant, and no disk used
        f.truncate(size)
    return path


def test_an_answers_file_at_the_size_limit_is_refused_unread(tmp_path, capsys, db, monkeypatch,
                                                              nothing_expensive):
    big = _sparse(tmp_path / "big.jsonl", outputs_file.MAX_OUTPUTS_FILE_BYTES)
    b = _answers(tmp_path / "b.jsonl", [("p1", "b1"), ("p2", "b2")])

    def unread(path, *args):
        assert path != str(big.resolve()), "the file was read before its size was checked"
        return read(path, *args)

    read = outputs_file._read_cached
    monkeypatch.setattr(outputs_file, "_read_cached", unread)
    start = time.monotonic()
    line = _refused(capsys, db, "--model-a", f"outputs:{big}", "--model-b", f"outputs:{b}")
    assert "big.jsonl is 2,048 MiB; a file of answers must be under 2,048 MiB" in line
    assert time.monotonic() - start < 5


def test_a_binary_file_under_the_limit_is_refused_from_its_start(tmp_path, capsys, db,
                                                                 monkeypatch, nothing_expensive):
    big = _sparse(tmp_path / "zeros.jsonl", outputs_file.MAX_OUTPUTS_FILE_BYTES - 1)
    b = _answers(tmp_path / "b.jsonl", [("p1", "b1"), ("p2", "b2")])

    def read_bytes(self):
        assert self != big.resolve(), "the whole file was read"
        return read(self)

    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    line = _refused(capsys, db, "--model-a", f"outputs:{big}", "--model-b", f"outputs:{b}")
    assert "zeros.jsonl line 1: contains a NUL byte (a binary file?)" in line


# ------------------------------------------------------------- a model list that is not one
@pytest.mark.parametrize("body", ["<html><body>Welcome to nginx!</body></html>", "not json",
                                  '{"detail": "ok"}', '{"data": [{"name": "m"}]}', "[1, 2]", ""])
def test_a_model_list_that_is_not_one_is_one_line(tmp_path, capsys, db, nothing_expensive, body):
    b = _answers(tmp_path / "b.jsonl", [("p1", "b1"), ("p2", "b2")])
    with FakeLLMServer(models=["m"]) as srv:
        srv.queue("models", 200, body)
        line = _refused(capsys, db, "--model-a", "openai:m", "--base-url-a", f"{srv.url}/v1",
                        "--model-b", f"outputs:{b}")
    assert (f"openai:m @ {srv.url}/v1: the server answered /v1/models with something that is "
            f"not a model list: ") in line
    assert (repr(body) if body else "an empty body") in line


def test_an_anthropic_model_that_is_not_one_is_one_line():
    with FakeLLMServer(models=["m"]) as srv:
        srv.queue("models", 200, "<html>a login page</html>")
        source = make_source(ModelSpec("anthropic:m", base_url=srv.url), None, api_key="k")
        with pytest.raises(ModelDiffError) as err:
            source.check(GenerationSettings())
    assert str(err.value) == (f"anthropic:m @ {srv.url}: the server answered /v1/models/m with "
                              "something that is not a model: '<html>a login page</html>'")


# ------------------------------------------------------------- a HF id: offline or missing
@pytest.fixture()
def no_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture()
def online(monkeypatch, no_hf_cache):
    """Online from here: huggingface_hub reads HF_HUB_OFFLINE and HF_ENDPOINT once, at import
    (the tests set the first), so its constants are what a test sets."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def _endpoint(monkeypatch, url: str) -> None:
    """What HF_ENDPOINT=url gives when set before huggingface_hub is imported."""
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        url + "/{repo_id}/resolve/{revision}/{filename}")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on return: nothing listens there


class _FakeHub:
    """A hub on 127.0.0.1 that answers every request with one status (and error code, as the
    hub sends X-Error-Code: RepoNotFound for a missing repo, with 401 when not logged in)."""

    def __init__(self, status: int, error_code=None, body=None):
        raw = json.dumps(body or {"error": "Repository not found"}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error_code:
                    self.send_header("X-Error-Code", error_code)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_an_uncached_hf_id_with_the_hub_offline_is_refused_at_once(tmp_path, capsys, db,
                                                                    monkeypatch, no_hf_cache,
                                                                    nothing_expensive):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    b = _answers(tmp_path / "b.jsonl", [("p1", "b1"), ("p2", "b2")])
    from transformers import AutoConfig  # noqa: F401 - its import is not what is timed

    start = time.monotonic()
    line = _refused(capsys, db, "--model-a", "nobody-here/x", "--model-b", f"outputs:{b}")
    assert time.monotonic() - start < 5
    assert ("offline: cannot reach the hub to find nobody-here/x (HF_HUB_OFFLINE is set, and "
            "it is not in the local cache)") in line


def test_an_unreachable_hub_is_offline_within_seconds(tmp_path, capsys, db, monkeypatch, online,
                                                      nothing_expensive):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    _endpoint(monkeypatch, endpoint)
    b = _answers(tmp_path / "b.jsonl", [("p1", "b1"), ("p2", "b2")])
    from transformers import AutoConfig  # noqa: F401 - its import is not what is timed

    start = time.monotonic()
    line = _refused(capsys, db, "--model-a", "nobody-here/x", "--model-b", f"outputs:{b}")
    assert time.monotonic() - start < 5
    assert f"offline: cannot reach the hub to find nobody-here/x at {endpoint}" in line


@pytest.mark.parametrize("status,code", [(404, "RepoNotFound"), (401, "RepoNotFound"),
                                         (404, None)])
def test_a_hf_id_the_hub_does_not_have_is_no_such_model(tmp_path, capsys, db, monkeypatch,
                                                        online, nothing_expensive, status, code):
    b = _answers(tmp_path / "b.jsonl", [("p1", "b1"), ("p2", "b2")])
    with _FakeHub(status, code) as hub:
        _endpoint(monkeypatch, hub.url)
        line = _refused(capsys, db, "--model-a", "nobody-here/x", "--model-b", f"outputs:{b}")
    assert f"no such model: nobody-here/x on the hub at {hub.url}" in line
    assert "offline" not in line


def test_a_hf_id_the_hub_has_or_the_cache_holds_passes_the_lookup(tmp_path, monkeypatch,
                                                                  online):
    from modeldiff_core.models.hub import find_on_hub

    with _FakeHub(200, body={"id": "somebody/model", "sha": "0" * 40}) as hub:
        _endpoint(monkeypatch, hub.url)
        find_on_hub("somebody/model")
    snapshot = Path(constants.HF_HUB_CACHE) / "models--somebody--cached" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    find_on_hub("somebody/cached")  # offline, but transformers can read it from the cache


def test_the_models_page_says_the_same_line(tmp_path, monkeypatch, no_hf_cache):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MODELDIFF_DB", str(tmp_path / "fresh.duckdb"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    page = Path(__file__).resolve().parents[2] / "views" / "models.py"
    at = AppTest.from_file(str(page), default_timeout=120).run()
    at.radio(key="src-A").set_value("HF id").run()
    at.text_input(key="model-A").set_value("nobody-here/x").run()
    next(b for b in at.button if b.label == "Check and use this pair").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Model A: offline: cannot reach the hub to find nobody-here/x (HF_HUB_OFFLINE is set, "
        "and it is not in the local cache)"]
