"""Jobs in worker threads: progress in the jobs table, two at once without corrupting each
other, cancel, and resume of a job interrupted by a dead server."""
import time

import pytest

from modeldiff_core.cli import _config_from_args, build_parser
from modeldiff_core.jobs import JobManager
from modeldiff_core.pipeline import config_from_dict, config_to_dict, run_id_for
from modeldiff_core.store import Store


def _params(organism, samples="2"):
    config = _config_from_args(build_parser().parse_args(["demo", "--organism", organism,
                                                          "--samples", samples]))
    return config_to_dict(config), config


def test_config_round_trips_through_json():
    import json

    params, config = _params("cats")
    back = config_from_dict(json.loads(json.dumps(params)))
    assert back == config and run_id_for(back) == run_id_for(config)


def test_two_jobs_at_once_each_write_their_own_rows(tmp_path, organism):
    store = Store(tmp_path / "j.duckdb")
    jobs = JobManager(store, max_workers=2)
    try:
        (pa, ca), (pb, cb) = _params("cats"), _params("short")
        ja, jb = jobs.submit("pipeline", pa), jobs.submit("pipeline", pb)
        a, b = jobs.wait(ja, timeout=600), jobs.wait(jb, timeout=600)
        assert a["status"] == b["status"] == "done", (a["error"], b["error"])
        assert a["run_id"] == run_id_for(ca) != b["run_id"] == run_id_for(cb)
        assert a["done"] == a["total"] > 0 and a["stage"]
        for run_id, organism in ((a["run_id"], "cats"), (b["run_id"], "short")):
            gens = store.generations(run_id)
            assert len(gens) == 240 and not gens.duplicated(["side", "prompt_id", "sample_idx"]).any()
            assert store.get_run(run_id)["model_b"] == f"organism:{organism}"
            assert store.result(run_id)["n_texts"] == {"A": 120, "B": 120}
        # Each run's texts come from its own model B.
        short_b = store.generations(b["run_id"]).query("side == 'B'").text
        assert (short_b.str.count(r"[.?!]") <= 1).mean() > 0.8
    finally:
        jobs.shutdown()
        store.close()


def test_cancel_then_resume_continues_from_stored_rows(tmp_path, organism):
    store = Store(tmp_path / "c.duckdb")
    jobs = JobManager(store, min_interval=0.0)
    try:
        params, config = _params("questions")
        job = jobs.submit("pipeline", params)
        run_id = run_id_for(config)
        deadline = time.time() + 300
        while time.time() < deadline and len(store.generation_keys(run_id, "A")) < 16:
            time.sleep(0.05)
        jobs.cancel(job)
        assert jobs.wait(job, timeout=300)["status"] == "cancelled"
        kept = len(store.generation_keys(run_id, "A"))
        assert 16 <= kept < 120
        again = jobs.resume(job)
        done = jobs.wait(again, timeout=600)
        assert done["status"] == "done" and store.get_job(job)["status"] == "resumed"
        assert len(store.generations(run_id)) == 240
    finally:
        jobs.shutdown()
        store.close()


def test_jobs_left_running_by_a_dead_server_are_interrupted_and_resumable(tmp_path, organism):
    path = tmp_path / "dead.duckdb"
    params, config = _params("cats")
    with Store(path) as store:  # what a crashed server leaves behind
        store.create_job("job-dead", "pipeline", None, params)
        store.update_job("job-dead", status="running", stage="generate A", done=8, total=120)
    with Store(path) as store:
        jobs = JobManager(store)
        try:
            assert jobs.interrupted_at_start == 1
            assert store.get_job("job-dead")["status"] == "interrupted"
            new = jobs.resume("job-dead")
            assert jobs.wait(new, timeout=600)["status"] == "done"
            with pytest.raises(Exception, match="still"):
                store.update_job(new, status="running")
                jobs.resume(new)
        finally:
            jobs.shutdown()
