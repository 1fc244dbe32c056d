"""A first session as a new user has it, and the bad inputs found when it was tried: each case
answered before anything is built, loaded or stored, with exactly one line on stderr (exit 2)."""
import io
import json
import os
import subprocess
import sys

import cli_kit
import kept_row
import pytest

from modeldiff_core.config import ModelDiffError
from modeldiff_core.progress import ProgressBar, ProgressEvent
from modeldiff_core.store import Store

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(*args, env=None):
    return cli_kit.run(*args, env=env)


def _process(*args):
    """A real process: what the libraries print while loading weights (their bars, which a
    test session's earlier imports may have set going) must stay off its stderr."""
    return subprocess.run([sys.executable, "-m", "modeldiff_core", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def _exactly_one_line(proc, *needles):
    """Exit 2 and one line on stderr, nothing else: no traceback, no library chatter."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("modeldiff: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def db(tmp_path):
    """A database with one stored row: every refusal below must leave it (and nothing else)."""
    return kept_row.make(tmp_path / "keep.duckdb")


def _nothing_stored(path):
    kept_row.untouched(path, no_runs=True)


@pytest.fixture()
def cold_env(tmp_path):
    """An empty cache: any organism the command built would appear in it."""
    cache = tmp_path / "cold-cache"
    return cache, dict(os.environ, MODELDIFF_CACHE=str(cache))


def _nothing_built(cache):
    assert not (cache / "organisms").exists(), list(cache.rglob("*"))


# ------------------------------------------------------------------ checked up front
def test_answers_longer_than_the_context_are_refused_before_anything_runs(db, cold_env):
    cache, env = cold_env
    proc = _cli("demo", "--max-new-tokens", "1000", "--db", str(db), env=env)
    _exactly_one_line(proc, "128 positions", "at most 127")
    _nothing_stored(db)
    _nothing_built(cache)


@pytest.mark.parametrize("flag,value,needle", [
    ("--seed", "-1", "--seed must be a number from 0"),
    ("--temperature", "nan", "--temperature must be a number from 0"),
    ("--temperature", "inf", "(got inf)"),
    ("--samples", "0", "--samples"),
    ("--alpha", "nan", "--alpha"),
    ("--judge-prompts", "0", "--judge-prompts"),
    ("--clusters", "1", "--clusters"),
])
def test_every_number_is_range_checked_up_front(db, cold_env, flag, value, needle):
    cache, env = cold_env
    _exactly_one_line(_cli("demo", flag, value, "--db", str(db), env=env), needle)
    _nothing_stored(db)
    _nothing_built(cache)


def test_plant_numbers_are_checked_too(db, cold_env):
    cache, env = cold_env
    proc = _cli("plant", "--builtin-truths", "--lr", "nan", "--db", str(db), env=env)
    _exactly_one_line(proc, "--lr")
    _nothing_built(cache)


def test_a_prompts_file_with_nul_bytes_is_refused_before_any_training(tmp_path, db, cold_env):
    cache, env = cold_env
    bad = tmp_path / "p.jsonl"
    bad.write_bytes(b'{"prompt": "fine"}\n{"prompt": "bro\x00ken"}\n')
    proc = _cli("run", "--model-a", "organism:base", "--model-b", "organism:cats",
                "--prompts", str(bad), "--db", str(db), env=env)
    _exactly_one_line(proc, "p.jsonl line 2", "NUL")
    _nothing_stored(db)
    _nothing_built(cache)


def test_an_unwritable_out_is_refused_before_the_run(tmp_path, db, cold_env):
    cache, env = cold_env
    folder = tmp_path / "a-folder"
    folder.mkdir()
    _exactly_one_line(_cli("demo", "--out", str(folder), "--db", str(db), env=env),
                      "cannot write --out")
    _exactly_one_line(_cli("demo", "--out", str(tmp_path / "no" / "r.json"), "--db", str(db),
                           env=env), "folder does not exist")
    _nothing_stored(db)
    _nothing_built(cache)


def test_writing_out_at_the_end_says_the_results_are_stored(tmp_path):
    from modeldiff_core.cli_methods import write_out

    with pytest.raises(ModelDiffError, match="stored in my.duckdb"):
        write_out(str(tmp_path), "{}", "my.duckdb")


def test_a_database_folder_that_cannot_be_made(tmp_path, cold_env):
    cache, env = cold_env
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    proc = _cli("demo", "--db", str(blocker / "sub" / "m.duckdb"), env=env)
    _exactly_one_line(proc, "cannot create the folder of database")
    _nothing_built(cache)


def test_a_truncated_database_is_one_line_and_left_as_it_was(tmp_path, cold_env):
    cache, env = cold_env
    path = tmp_path / "t.duckdb"
    with Store(path) as store:
        store.save_result("kept", {"x": "y" * 500_000})
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    before = path.read_bytes()
    _exactly_one_line(_cli("demo", "--db", str(path), env=env), str(path))
    assert path.read_bytes() == before
    _nothing_built(cache)


def test_a_database_failing_mid_run_is_one_line_naming_the_file(tmp_path):
    import duckdb

    class Failing:  # the connection of a file that went bad after it opened
        def execute(self, *a, **k):
            raise duckdb.IOException("IO Error: Could not read enough bytes from file")

        def close(self):
            pass

    store = Store(tmp_path / "s.duckdb")
    store._con, real = Failing(), store._con
    try:
        with pytest.raises(ModelDiffError) as err:
            store.list_runs()
    finally:
        store._con = real
        store.close()
    msg = str(err.value)
    assert "s.duckdb" in msg and "nothing stored in it was changed" in msg and "\n" not in msg


def test_duckdb_errors_outside_the_store_are_one_line_too(tmp_path, capsys, monkeypatch):
    import duckdb

    from modeldiff_core import cli

    def boom(args):
        raise duckdb.InvalidInputException("Invalid Input Error: bad")
    monkeypatch.setattr(cli, "_main", boom)
    assert cli.main(["demo", "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "x.duckdb" in err[0] and "nothing stored" in err[0]


def _tiny_gpt2(path, n_embd):
    from transformers import GPT2Config, GPT2LMHeadModel

    from modeldiff_core.models.organisms import build_tokenizer

    tok = build_tokenizer()
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=n_embd, n_layer=1,
                                       n_head=2, n_positions=128))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return model


def test_a_garbage_adapter_config_is_one_line(tmp_path, db, cold_env):
    cache, env = cold_env
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{this is not json")
    proc = _cli("run", "--model-a", "organism:base", "--model-b", "organism:base",
                "--adapter-b", str(adapter), "--db", str(db), env=env)
    _exactly_one_line(proc, "adapter_config.json")
    _nothing_stored(db)
    _nothing_built(cache)


@pytest.mark.parametrize("var, value", [("MODELDIFF_ORGANISM_SEED", "-3"),
                                        ("MODELDIFF_ORGANISM_SEED", "seven"),
                                        ("MODELDIFF_ORGANISM_SIZE", "huge")])
@pytest.mark.parametrize("command", [["demo"], ["run", "--model-a", "organism:base",
                                                "--model-b", "organism:cats"]])
def test_a_bad_organism_environment_is_refused_before_the_database_opens(tmp_path, db, var,
                                                                        value, command):
    """Read from the environment, so checked with the arguments: neither a mistyped --db
    appears nor a stored one is opened."""
    env = dict(os.environ, **{var: value})
    typo = tmp_path / "typo.duckdb"
    _exactly_one_line(_cli(*command, "--db", typo, env=env), var)
    assert not typo.exists()
    _exactly_one_line(_cli(*command, "--db", db, env=env), var)
    _nothing_stored(db)


def test_a_bad_model_b_is_found_before_a_generates(tmp_path, db, organism):
    """Weights of another shape than B's config, and an adapter made for another model: both
    found when the pair is loaded, before A's texts or a run row exist."""
    from peft import LoraConfig, get_peft_model

    organism("base")  # built beforehand: its training progress is not what this test reads
    wrong = tmp_path / "wrong-weights"
    _tiny_gpt2(wrong, 48)
    config = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**config, "n_embd": 64}))
    proc = _process("run", "--model-a", "organism:base", "--model-b", str(wrong), "--db", str(db))
    _exactly_one_line(proc, "cannot load model")
    _nothing_stored(db)

    other = _tiny_gpt2(tmp_path / "other", 48)
    lora = get_peft_model(other, LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    lora.save_pretrained(tmp_path / "other-adapter")
    proc = _process("run", "--model-a", "organism:base", "--model-b", "organism:base",
                    "--adapter-b", str(tmp_path / "other-adapter"), "--db", str(db))
    _exactly_one_line(proc, "cannot apply adapter")
    _nothing_stored(db)


# ------------------------------------------------------------------------ prompt files
def test_byte_order_marks_are_accepted(tmp_path):
    from modeldiff_core.stages.prompts import load_prompt_file

    csv_file = tmp_path / "p.csv"
    csv_file.write_bytes("prompt,group\nhello there,g1\n".encode("utf-8-sig"))
    assert load_prompt_file(csv_file).prompts == ("hello there",)
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_bytes('{"prompt": "hi"}\n'.encode("utf-8-sig"))
    assert load_prompt_file(jsonl).prompts == ("hi",)


def test_a_csv_field_over_128_kib_is_read(tmp_path):
    from modeldiff_core.stages.prompts import load_prompt_file

    long = "word " * 40_000  # 200 KB, over the csv module's default field limit
    path = tmp_path / "long.csv"
    path.write_text(f'prompt\n"{long}"\nshort one\n')
    assert [len(p) for p in load_prompt_file(path).prompts] == [len(long.strip()), 9]


# ----------------------------------------------------------------------- progress
def _events(stage="train base", total=50, message="loss 1.234"):
    return [ProgressEvent(stage, i, total, 10.0, "steps", message) for i in range(total + 1)]


def test_progress_off_a_terminal_is_plain_lines_with_time_left():
    out = io.StringIO()
    bar = ProgressBar(out, every=0.0, terminal=False)
    events = _events()
    for ev in events:
        bar(ev)
    bar(ProgressEvent("generate A", 0, 8, 0.0, "texts"))
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "train base: 0/50 steps, loss 1.234 (started)"
    assert any("s left" in ln for ln in lines)
    assert lines[-2].startswith("train base: 50/50 steps, loss 1.234 (done in")
    assert lines[-1] == "generate A: 0/8 texts (started)"


def test_progress_off_a_terminal_is_throttled():
    out = io.StringIO()
    bar = ProgressBar(out, every=3600.0, terminal=False)
    for ev in _events(total=1000):
        bar(ev)
    assert len(out.getvalue().splitlines()) == 2  # started, done: nothing between in an hour


def test_work_that_reports_nothing_still_gets_a_line_every_period():
    """A stage that is silent between its start and end (fitting a map), and the work after a
    stage's last event, still print a line every `every` seconds; `stop` ends it."""
    import time

    out = io.StringIO()
    bar = ProgressBar(out, every=0.3, terminal=False)
    bar(ProgressEvent("cluster", 0, 1, 0.0, "steps"))
    time.sleep(1.2)
    lines = out.getvalue().splitlines()
    assert lines[0] == "cluster: 0/1 steps (started)"
    assert len(lines) >= 3 and all("still working" in ln and "into this stage" in ln
                                   for ln in lines[1:]), lines
    bar(ProgressEvent("cluster", 1, 1, 1.0, "steps"))
    time.sleep(0.8)
    after = out.getvalue().splitlines()[len(lines):]
    assert after[0].startswith("cluster: 1/1 steps (done in")
    assert "still working after cluster" in after[1:], after
    bar.stop()
    time.sleep(0.4)
    settled = out.getvalue()
    time.sleep(0.8)
    assert out.getvalue() == settled


def test_progress_on_a_terminal_is_a_bar_with_eta():
    out = io.StringIO()
    bar = ProgressBar(out, terminal=True)
    for ev in _events(total=20):
        bar(ev)
    text = out.getvalue()
    assert "train base" in text and "20/20" in text and "loss 1.234" in text


@pytest.mark.slow  # trains the base organism from scratch
def test_a_cold_demo_shows_training_on_stderr(tmp_path, cold_env):
    """Organisms are trained on first use with their progress on stderr; the run is stopped
    at training's first line (how the line goes on to its end is the progress printer's tests'),
    and the stop leaves no organism half built."""
    import signal
    import time

    cache, env = cold_env
    proc = subprocess.Popen([sys.executable, "-m", "modeldiff_core", "demo", "--db",
                             str(tmp_path / "c.duckdb")], cwd=REPO, env=env, text=True,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    lines, deadline = [], time.time() + 300
    try:
        for line in proc.stderr:
            lines.append(line.rstrip())
            if line.startswith("train base") or time.time() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert lines[0] == "train base: 0/400 steps (started)", lines
    assert proc.returncode != 0
    assert not list(cache.rglob("organism.json")), list(cache.rglob("*"))


# --------------------------------------------------------------- jobs and resumes
def test_an_interrupted_job_says_what_happened_and_what_resume_does(tmp_path):
    import pandas as pd

    from modeldiff_core.jobs import describe_stopped

    with Store(tmp_path / "j.duckdb") as store:
        store.create_job("job-1", "pipeline", "run-x", {})
        store.update_job("job-1", status="running", stage="generate A", done=64, total=240)
        store.create_job("job-2", "pipeline", None, {})
        store.save_generations("run-x", pd.DataFrame({
            "side": "A", "prompt_id": range(3), "sample_idx": 0, "text": "t", "n_tokens": 1,
            "finish_reason": "eos"}))
        assert store.mark_interrupted_jobs() == 2
        running, queued = store.get_job("job-1"), store.get_job("job-2")
        said = describe_stopped(store, running)
        assert "generate A (64/240)" in said and "restarted at" in said
        assert "3 texts of run run-x are stored" in said and "Resume" in said
        assert "while the job was queued" in describe_stopped(store, queued)


def test_job_progress_in_words():
    from modeldiff_core.jobs import job_line

    line = job_line({"stage": "train base", "done": 100, "total": 400, "rate": 20.0,
                     "message": "loss 2.100"})
    assert line == "train base · 100/400 · 20.0/s, about 15 s left in this stage · loss 2.100"
    assert job_line({"stage": None, "done": 0, "total": 0, "rate": 0.0}) == "starting"


def test_changed_cluster_settings_propose_anew_and_keep_the_old_set(demo_run, demo_run_master,
                                                                    capsys):
    """The stale-hypotheses bug: hypotheses citing "cluster 1" of another clustering. The old
    set is kept under a label naming its settings; the run's set is proposed anew."""
    from modeldiff_core.cli import main

    db, first = demo_run[0], demo_run_master[1]
    args = ["demo", "--samples", "2", "--db", str(db), "--quiet"]
    assert main([*args, "--clusters", "12"]) == 0
    err = capsys.readouterr().err
    assert "kept as the set 'offline [kmeans, auto clusters" in err, err
    with Store(db) as store:
        run_id = first["run_id"]
        sets = store.hypothesis_sets(run_id)
        old = [s for s in sets if s != "offline"]
        assert len(sets) == 2 and old[0].startswith("offline [kmeans, auto clusters")
        # (the result lists findings headline first; the store keeps them as proposed, h1 on)
        assert store.hypotheses(run_id, old[0])["text"].tolist() == \
            [h["text"] for h in sorted(first["hypotheses"], key=lambda h: int(h["id"][1:]))]
        assert store.proposal_settings(run_id, "offline")["clusters"]["n_clusters"] == 12
        assert store.proposal_settings(run_id, old[0])["clusters"]["n_clusters"] is None
        assert not store.validations(run_id, old[0]).empty
    assert main([*args, "--clusters", "12"]) == 0  # the same settings again: nothing moves
    assert "kept as the set" not in capsys.readouterr().err
    with Store(db) as store:
        assert len(store.hypothesis_sets(first["run_id"])) == 2


def test_the_validate_rate_on_resume_counts_only_work_done(demo_run):
    from modeldiff_core.cli import _config_from_args, build_parser
    from modeldiff_core.pipeline import run_pipeline

    db, _ = demo_run
    events = []
    config = _config_from_args(build_parser().parse_args(["demo", "--samples", "2"]))
    with Store(db) as store:
        run_pipeline(store, config, progress=events.append)
    validate = [e for e in events if e.stage == "validate"]
    assert validate and all(e.rate == 0 and e.done == e.total for e in validate)


def test_a_finished_run_started_again_maps_nothing_anew(demo_run, monkeypatch):
    """Its stored map and clusters are reused while the texts, the settings and the embedder
    are the same; another setting maps again."""
    from modeldiff_core.cli import _config_from_args, build_parser
    from modeldiff_core.stages import cluster
    from modeldiff_core.embedders import make_embedder

    db, run_id = demo_run
    config = _config_from_args(build_parser().parse_args(["demo", "--samples", "2"]))
    fits = []
    real = cluster.umap_project
    monkeypatch.setattr(cluster, "umap_project", lambda *a, **k: fits.append(1) or real(*a, **k))
    with Store(db) as store:
        before = store.points(run_id)
        seed = config.generation.seed
        table = cluster.cluster_run(store, run_id, config.clustering, seed, make_embedder())
        assert fits == [] and store.points(run_id).equals(before)
        assert table.equals(store.clusters(run_id))
        config.clustering.n_clusters = 3
        cluster.cluster_run(store, run_id, config.clustering, seed, make_embedder())
        assert fits == [1] and len(store.clusters(run_id)) == 3
        assert store.get_run(run_id)["cluster_settings"]["n_clusters"] == 3


def test_pages_read_a_finished_runs_stored_result_and_build_a_running_ones(demo_run):
    """The Hypotheses page's result: the stored one (its baseline and coverage are refits) for a
    finished run's own set; built from the rows while a job works on the run."""
    from modeldiff_core.results import build_result, current_result

    db, run_id = demo_run
    with Store(db) as store:
        stored = store.result(run_id)
        assert "notes" in stored and current_result(store, run_id, "offline") == stored
        store.set_run_status(run_id, "hypotheses")
        built = current_result(store, run_id, "offline")
        assert "notes" not in built and built == build_result(store, run_id, "offline")
        assert built["hypotheses"] == stored["hypotheses"]


# ------------------------------------------------------------------------ assistants
@pytest.mark.parametrize("api,missing", [("anthropic", "content"), ("openai", "choices")])
def test_a_wrongly_shaped_api_answer_names_the_field_and_the_exchange(api, missing, tmp_path):
    from fake_llm_server import FakeLLMServer

    from modeldiff_core.llm import AssistantAnswerError, CallPath, make_client

    with FakeLLMServer() as srv:
        srv.queue(api, 200, {"id": "x", "model": "m"})
        base = srv.url if api == "anthropic" else srv.url + "/v1"
        path = CallPath(make_client(api, base_url=base, api_key="sk-test"))
        with pytest.raises(AssistantAnswerError) as err:
            path.complete_json("system", [{"role": "user", "content": "hi"}],
                               purpose="propose cluster 3")
    msg = str(err.value)
    assert f"'{missing}'" in msg and "'propose cluster 3'" in msg and "NoneType" not in msg
