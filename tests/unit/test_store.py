"""The DuckDB store: schema/migrations, bulk inserts, joins, embeddings, clustering, jobs, locking."""
import json
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest

from modeldiff_core.config import ModelDiffError
from modeldiff_core.hypotheses.types import Hypothesis
from modeldiff_core.store import Store
from modeldiff_core.store.runs import RunRecord
from modeldiff_core.store.schema import HYPOTHESIS_SET_TABLES, MIGRATIONS, SCHEMA_VERSION


def _record(**fields) -> RunRecord:
    base = dict(model_a="a", model_b="b", spec_a={}, spec_b={}, fingerprint_a="",
                fingerprint_b="", prompt_set="", settings={})
    return RunRecord(**{**base, **fields})


def _run(st: Store, run_id: str) -> None:
    st.upsert_run(run_id, _record(spec_a={"model": "a"}, spec_b={"model": "b"}, fingerprint_a="fa",
                                  fingerprint_b="fb", prompt_set="builtin:chat", settings={"n": 1}))


def _gens(rows):
    return pd.DataFrame(rows, columns=["side", "prompt_id", "sample_idx", "text", "n_tokens",
                                       "finish_reason"])


def _prompts(rows):
    return pd.DataFrame(rows, columns=["prompt_id", "prompt", "split"])


# --- schema -------------------------------------------------------------------

def test_schema_version_set_and_reopen_is_idempotent(tmp_path):
    path = tmp_path / "sub" / "m.duckdb"  # parent directory is created
    with Store(path) as st:
        assert st.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
        _run(st, "r1")
        st.save_prompts("r1", _prompts([(0, "hi", "discovery")]))
    assert path.exists()
    # Reopening must not re-run CREATE TABLE (which would fail) nor lose data.
    for _ in range(2):
        with Store(path) as st:
            assert st.schema_version() == SCHEMA_VERSION
            assert st.get_run("r1")["model_a"] == "a"
            assert list(st.prompts("r1")["prompt"]) == ["hi"]
            n_meta = st._df("SELECT count(*) AS n FROM meta")["n"].iloc[0]
            assert n_meta == 1


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "m.duckdb"
    with Store(path) as st:
        st._q("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    with pytest.raises(ModelDiffError, match="newer"):
        Store(path)


def _schema_10_file(path) -> None:
    """A database as modeldiff wrote it at schema 10, with one hypothesis set ("offline")."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    for stmt in sum(MIGRATIONS[:10], []):
        con.execute(stmt)
    con.execute("INSERT INTO meta VALUES ('schema_version', '10')")
    con.execute("INSERT INTO hypotheses VALUES ('r', 'offline', 'h1', 0, 'B mentions cats', 'B', "
                "'corpus', '{\"type\": \"mentions\"}', '{}', now())")
    con.execute("INSERT INTO hypotheses VALUES ('r', 'offline', 'h2', 1, 'B asks', 'B', "
                "'corpus', 'null', '{}', now())")
    con.execute("INSERT INTO validations VALUES ('r', 'offline', 'h1', 'judge', '{\"n\": 4}', "
                "0.01, 4, 0.02, true, 0.05, now())")
    con.execute("INSERT INTO annotations VALUES ('r', 'offline', 'h1', 'accepted', 'yes', now())")
    con.execute("INSERT INTO run_failures VALUES ('r', 'offline', '[\"judge\"]', now())")
    con.execute("INSERT INTO assistant_calls VALUES ('c1', 'r', 'openai', 'm', 'propose', 1, 2, "
                "0.5, false, now())")
    con.close()


def test_a_file_of_schema_14_keeps_its_lenses_as_method_results(tmp_path):
    """The layer and feature lenses had a table each; opened now, each lens is the method's
    result, unchanged, and its set still moves with the rest of the set."""
    path = tmp_path / "v14.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    for stmt in sum(MIGRATIONS[:14], []):
        con.execute(stmt)
    con.execute("INSERT INTO meta VALUES ('schema_version', '14')")
    layers = {"scaling": [{"alpha": 0.5, "layer": 1}], "notes": ["a note"]}
    features = {"layer": 2, "features": [{"latent": 7, "b_specific": True}]}
    con.execute("INSERT INTO layer_lens VALUES ('r', 'offline', ?, now())", [json.dumps(layers)])
    con.execute("INSERT INTO feature_lens VALUES ('r', 'anthropic:m', ?, now())",
                [json.dumps(features)])
    con.execute("INSERT INTO self_checks VALUES ('r', 'offline', '{\"n\": 1}', now())")
    con.close()
    with Store(path) as st:
        assert st.schema_version() == SCHEMA_VERSION
        assert st.method_result("r", "layers", "offline") == layers
        assert st.method_result("r", "features", "anthropic:m") == features
        assert st.method_result("r", "features", "offline") is None
        assert st.self_check("r", "offline") == {"n": 1}
        assert {"layer_lens", "feature_lens"}.isdisjoint(st._q(
            "SELECT table_name FROM information_schema.tables").df()["table_name"])
        st.save_method_result("r", "layers", "offline", {"new": True}, {"window": 2})
        assert st.method_result("r", "layers", "offline") == {"new": True}
        assert set(st.method_results("r")["method"]) == {"layers", "features"}
        st.set_aside_hypotheses("r", "offline", "offline (old)")
        assert st.method_result("r", "layers", "offline (old)") == {"new": True}


def test_schema_10_file_reads_back_under_hypothesis_set(tmp_path):
    path = tmp_path / "v10.duckdb"
    _schema_10_file(path)
    with Store(path) as st:
        assert st.schema_version() == SCHEMA_VERSION == 16
        assert st.probe_settings("r", "offline") == []  # schema 12: the probe game's rounds
        assert st.method_result("r", "features", "offline") is None  # schema 15: methods' results
        assert st.self_check("r", "offline") is None  # schema 14: the self-check
        assert {"stage_started", "stage_times"} <= st._table_columns("jobs")  # schema 16
        for table in HYPOTHESIS_SET_TABLES:
            cols = st._table_columns(table)
            assert "hypothesis_set" in cols and "assistant" not in cols, table
        assert st.hypothesis_sets("r") == ["offline"]
        h = st.hypotheses("r", "offline")
        assert list(h.hypothesis_id) == ["h1", "h2"] and h.predicate[0] == {"type": "mentions"}
        v = st.validations("r", "offline")
        assert v.result[0] == {"n": 4} and bool(v.validated[0]) and v.alpha[0] == 0.05
        assert st.annotations("r", "offline") == {"h1": {"verdict": "accepted", "note": "yes"}}
        assert st.run_failures("r", "offline") == ["judge"]
        assert st.usage("r")["calls"] == 1  # the calls table keeps its own column names
        # The renamed key is still the key: a second save keeps the first text.
        st.save_hypotheses("r", "offline", [Hypothesis("other text")])
        assert list(st.hypotheses("r", "offline").text) == ["B mentions cats", "B asks"]
        st.set_aside_hypotheses("r", "offline", "offline (old)")
        assert st.hypothesis_sets("r") == ["offline (old)"]
        assert st.annotations("r", "offline (old)")["h1"]["verdict"] == "accepted"
    with Store(path) as st:  # reopening runs no migration twice
        assert st.schema_version() == SCHEMA_VERSION
        assert list(st.hypotheses("r", "offline (old)").hypothesis_id) == ["h1", "h2"]


def test_upsert_run_reports_resume_and_roundtrips_json():
    st = Store()
    assert st.upsert_run("r", _record(model_a="A", model_b="B", spec_a={"q": "8bit"},
                                      spec_b={"q": None}, fingerprint_a="x", fingerprint_b="y",
                                      prompt_set="p", settings={"temp": 0.7})) is False
    assert st.upsert_run("r", _record(model_a="other", model_b="B", fingerprint_a="x",
                                      fingerprint_b="y", prompt_set="p")) is True
    run = st.get_run("r")
    assert run["model_a"] == "A"  # the resume did not overwrite
    assert run["spec_a"] == {"q": "8bit"} and run["settings"] == {"temp": 0.7}
    assert run["cluster_settings"] is None and run["status"] == "created"
    st.set_run_status("r", "done")
    assert st.get_run("r")["status"] == "done"
    assert st.get_run("missing") is None


# --- generations --------------------------------------------------------------

def test_save_generations_ignores_duplicate_keys():
    st = Store()
    _run(st, "r")
    st.save_prompts("r", _prompts([(0, "p0", "discovery"), (1, "p1", "validation")]))
    st.save_generations("r", _gens([("A", 0, 0, "first", 3, "stop"),
                                    ("A", 0, 1, "second", 4, "length"),
                                    ("B", 0, 0, "b-first", 2, "stop")]))
    # Same key (A,0,0) again with a new text, plus one new row: the old text stays.
    st.save_generations("r", _gens([("A", 0, 0, "REPLACED", 9, "stop"),
                                    ("A", 1, 0, "third", 5, "stop")]))
    g = st.generations("r")
    assert len(g) == 4
    row = g[(g.side == "A") & (g.prompt_id == 0) & (g.sample_idx == 0)].iloc[0]
    assert row.text == "first" and row.n_tokens == 3
    assert st.generation_keys("r", "A") == {(0, 0), (0, 1), (1, 0)}
    assert st.generation_keys("r", "B") == {(0, 0)}
    assert st.generation_keys("other", "A") == set()
    # Empty frames are a no-op, not an error.
    st.save_generations("r", _gens([]))
    assert len(st.generations("r")) == 4


def test_generations_join_prompts_and_filter_split():
    st = Store()
    for run in ("r", "s"):
        _run(st, run)
    st.save_prompts("r", _prompts([(0, "p0", "discovery"), (1, "p1", "validation")]))
    st.save_prompts("s", _prompts([(0, "other-run prompt", "validation")]))
    st.save_generations("r", _gens([("B", 1, 0, "b1", 1, "stop"), ("A", 0, 0, "a0", 1, "stop"),
                                    ("A", 1, 0, "a1", 1, "stop"), ("A", 0, 1, "a0s1", 1, "stop")]))
    st.save_generations("s", _gens([("A", 0, 0, "s-a0", 1, "stop")]))

    g = st.generations("r")
    assert list(g.columns) == ["side", "prompt_id", "sample_idx", "text", "n_tokens",
                               "finish_reason", "prompt", "split"]
    # Ordered by side, prompt, sample; prompt text joined from this run only.
    assert list(g.text) == ["a0", "a0s1", "a1", "b1"]
    assert list(g.prompt) == ["p0", "p0", "p1", "p1"]
    assert list(g.split) == ["discovery", "discovery", "validation", "validation"]

    v = st.generations("r", split="validation")
    assert list(v.text) == ["a1", "b1"]
    d = st.generations("r", split="discovery")
    assert set(d.text) == {"a0", "a0s1"}
    assert list(st.generations("s").prompt) == ["other-run prompt"]
    assert st.generations("r", split="nope").empty


def test_list_runs_counts():
    st = Store()
    _run(st, "r")
    st.save_prompts("r", _prompts([(0, "p", "discovery")]))
    st.save_generations("r", _gens([("A", 0, 0, "x", 1, "stop"), ("B", 0, 0, "y", 1, "stop")]))
    runs = st.list_runs()
    assert list(runs.run_id) == ["r"]
    assert runs.n_texts.iloc[0] == 2 and runs.n_clusters.iloc[0] == 0


# --- embeddings ---------------------------------------------------------------

def test_embeddings_roundtrip_float32_exactly():
    st = Store()
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((5, 384)).astype(np.float32)
    vecs[0, 0] = np.float32(1.0000001)  # a value float32 keeps but a lossy path would change
    hashes = [f"h{i}" for i in range(5)]
    st.save_embeddings("emb", hashes, vecs)
    got = st.cached_embeddings("emb", hashes + ["h0", "unknown"])
    assert set(got) == set(hashes)
    for i, h in enumerate(hashes):
        assert got[h].dtype == np.float32
        assert got[h].shape == (384,)
        np.testing.assert_array_equal(got[h], vecs[i])
    # Keyed by embedder too.
    assert st.cached_embeddings("other-embedder", hashes) == {}
    assert st.cached_embeddings("emb", []) == {}
    # Duplicate keys are ignored: the first vector stays.
    st.save_embeddings("emb", ["h0"], np.zeros((1, 384), dtype=np.float32))
    np.testing.assert_array_equal(st.cached_embeddings("emb", ["h0"])["h0"], vecs[0])


# --- clustering ---------------------------------------------------------------

def _points(n, cluster):
    return pd.DataFrame({"side": ["A"] * n, "prompt_id": list(range(n)), "sample_idx": [0] * n,
                         "cluster_id": [cluster] * n, "x": np.arange(n, dtype=float),
                         "y": np.zeros(n)})


def _clusters(ids):
    k = len(ids)
    return pd.DataFrame({"cluster_id": ids, "size_a": [1] * k, "size_b": [2] * k,
                         "share_b": [0.5] * k, "log_odds": [0.0] * k, "ci_low": [-1.0] * k,
                         "ci_high": [1.0] * k, "p_value": [1.0] * k, "q_value": [1.0] * k,
                         "top_terms": ["cats"] * k})


def test_replace_clustering_only_touches_its_run():
    st = Store()
    for run in ("r", "s"):
        _run(st, run)
        st.save_prompts(run, _prompts([(i, f"p{i}", "discovery") for i in range(3)]))
        st.save_generations(run, _gens([("A", i, 0, f"{run}{i}", 1, "stop") for i in range(3)]))
    st.replace_clustering("r", _points(3, 7), _clusters([7, 8, 9]), {"method": "kmeans"})
    st.replace_clustering("s", _points(2, 1), _clusters([1]), {"method": "hdbscan"})

    st.replace_clustering("r", _points(3, 0), _clusters([0]), {"method": "kmeans", "k": 1})

    assert list(st.clusters("r").cluster_id) == [0]
    assert set(st.points("r").cluster_id) == {0}
    assert len(st.points("r")) == 3
    assert st.get_run("r")["cluster_settings"] == {"method": "kmeans", "k": 1}
    # The other run keeps its rows and settings.
    assert list(st.clusters("s").cluster_id) == [1]
    assert list(st.points("s").cluster_id) == [1, 1]
    assert st.get_run("s")["cluster_settings"] == {"method": "hdbscan"}
    # points() joins in the text and split.
    p = st.points("s")
    assert list(p.text) == ["s0", "s1"] and set(p.split) == {"discovery"}
    assert "run_id" not in st.clusters("r").columns


def test_replace_clustering_is_atomic_on_failure():
    st = Store()
    _run(st, "r")
    st.save_prompts("r", _prompts([(0, "p", "discovery")]))
    st.save_generations("r", _gens([("A", 0, 0, "t", 1, "stop")]))
    st.replace_clustering("r", _points(1, 5), _clusters([5]), {"v": 1})
    bad = _clusters([6]).assign(size_a=["not a number"])  # cannot be cast to INTEGER
    with pytest.raises(duckdb.Error):
        st.replace_clustering("r", _points(1, 6), bad, {"v": 2})
    # The failed swap rolled back: the old clustering is still whole.
    assert list(st.clusters("r").cluster_id) == [5]
    assert list(st.points("r").cluster_id) == [5]
    assert st.get_run("r")["cluster_settings"] == {"v": 1}


def test_bulk_insert_with_misnamed_column_is_an_error():
    st = Store()
    _run(st, "r")
    bad = _clusters([1]).rename(columns={"top_terms": "top_term"})
    with pytest.raises(ValueError, match="top_term"):
        st.replace_clustering("r", _points(0, 1), bad, {})


def test_results_roundtrip():
    st = Store()
    assert st.result("r") is None
    st.save_result("r", {"a": [1, 2]})
    st.save_result("r", {"a": [3]})
    assert st.result("r") == {"a": [3]}


# --- jobs ---------------------------------------------------------------------

def test_jobs_create_update_and_interrupt():
    st = Store()
    st.create_job("j1", "generate", "r", {"n": 3})
    st.create_job("j2", "cluster", None, {})
    st.create_job("j3", "embed", "r", {})
    j = st.get_job("j1")
    assert j["status"] == "queued" and j["params"] == {"n": 3} and j["done"] == 0
    assert j["kind"] == "generate" and j["run_id"] == "r"
    assert st.get_job("nope") is None

    st.update_job("j1", status="running", stage="generate", done=5, total=10, rate=2.5,
                  message="halfway")
    j = st.get_job("j1")
    assert (j["status"], j["stage"], j["done"], j["total"], j["rate"], j["message"]) == \
        ("running", "generate", 5, 10, 2.5, "halfway")
    assert j["updated_at"] >= j["created_at"]
    st.update_job("j3", status="done")

    assert set(st.list_jobs(["running", "queued"]).job_id) == {"j1", "j2"}
    assert len(st.list_jobs()) == 3

    assert st.mark_interrupted_jobs() == 2
    assert st.get_job("j1")["status"] == "interrupted"
    assert st.get_job("j2")["status"] == "interrupted"
    assert st.get_job("j3")["status"] == "done"
    assert st.mark_interrupted_jobs() == 0


def test_update_job_rejects_unknown_fields():
    st = Store()
    st.create_job("j", "generate", None, {})
    with pytest.raises(ValueError, match="created_at"):
        st.update_job("j", created_at="x")
    with pytest.raises(ValueError, match="params"):
        st.update_job("j", status="done", params="{}")
    with pytest.raises(ValueError, match="status; DROP"):
        st.update_job("j", **{"status; DROP TABLE jobs": 1})
    assert st.get_job("j")["status"] == "queued"


# --- a second process -----------------------------------------------------------

def test_second_process_holding_the_file_is_reported(tmp_path):
    path = str(tmp_path / "held.duckdb")
    with Store(path) as st:
        _run(st, "r")
        st.save_prompts("r", _prompts([(0, "kept", "validation")]))
    code = f"import duckdb,time; c=duckdb.connect({path!r}); print('ok',flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ok"
        with pytest.raises(ModelDiffError) as info:
            Store(path)
        msg = str(info.value)
        assert "in use" in msg
        assert str(proc.pid) in msg
        assert "\n" not in msg
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    with Store(path) as st:
        assert st.schema_version() == SCHEMA_VERSION
        assert st.get_run("r")["model_a"] == "a"
        assert list(st.prompts("r").prompt) == ["kept"]


# --- a read that leaves its result open must not block the next bulk write --------
# DuckDB 2.0: `.fetchone()` leaves a result unfinished and the next `register()` (every bulk
# insert) raises ResourceInUseException; these paths once did exactly that.
def test_reopened_file_store_accepts_bulk_writes(tmp_path):
    path = tmp_path / "m.duckdb"
    with Store(path) as st:
        _run(st, "r")
    with Store(path) as st:  # _migrate reads schema_version with fetchone() and stops there
        st.save_prompts("r", _prompts([(0, "p", "discovery")]))
        assert list(st.prompts("r").prompt) == ["p"]


def test_resumed_run_accepts_generations():
    st = Store()
    _run(st, "r")
    st.save_prompts("r", _prompts([(0, "p", "discovery")]))
    assert st.upsert_run("r", _record()) is True
    st.save_generations("r", _gens([("A", 0, 0, "t", 1, "stop")]))
    assert len(st.generations("r")) == 1


def test_schema_version_then_embeddings():
    st = Store()
    st.schema_version()
    st.save_embeddings("e", ["h"], np.ones((1, 3), dtype=np.float32))
    assert set(st.cached_embeddings("e", ["h"])) == {"h"}


def test_result_read_then_embeddings_lookup():
    st = Store()
    st.save_result("r", {"x": 1})
    assert st.result("r") == {"x": 1}
    assert st.cached_embeddings("e", ["h"]) == {}
