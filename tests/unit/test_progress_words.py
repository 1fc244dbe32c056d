"""A job's progress in words: numbered stages from the kind's plan (never going back), the time
in a stage, no extrapolation from a few coarse steps, and an overall estimate only where every
stage to come has a stored time from earlier jobs of the kind (a median, checked by hand)."""
import json
import threading
from datetime import datetime, timedelta

from modeldiff_core.jobs import JobManager, job_line
from modeldiff_core.pipeline import RUN_STAGES
from modeldiff_core.progress import ProgressEvent, StagePlan
from modeldiff_core.store import Store


def test_a_plan_numbers_stages_and_never_goes_back():
    plan = StagePlan(("generate A", "import A"), "embed", "propose", "self-check")
    assert plan.place("train base", 0) == (0, "preparing: train base")
    assert plan.place("import A", 0) == (1, "1/4 import A")
    assert plan.place("embed", 1) == (2, "2/4 embed")
    # The self-check proposes on its own: still stage 4, its inner stage named.
    assert plan.place("self-check (A1 vs A2)", 3) == (4, "4/4 self-check (A1 vs A2)")
    assert plan.place("propose", 4) == (4, "4/4 self-check · propose")
    assert plan.place("load model", 2) == (2, "2/4 embed · load model")


def _job(stage, done, total, rate, started=None):
    return {"stage": stage, "done": done, "total": total, "rate": rate, "message": "",
            "stage_started": started}


def test_the_line_says_the_time_in_the_stage_and_left_in_all_only_when_known():
    now = datetime(2026, 1, 1, 12, 0, 0)
    job = _job("3/5 embed", 100, 400, 20.0, now - timedelta(seconds=25))
    history = {"4": 30.0, "5": 60.0}
    assert job_line(job, history, now) == ("3/5 embed · 100/400 · 25 s in this stage · "
                                           "20.0/s, about 15 s left in this stage · about 2 min "
                                           "left in all (earlier jobs' stage times)")
    # A stage to come that no earlier job has timed: no overall estimate rather than a low one.
    assert "in all" not in job_line(job, {"5": 60.0}, now)
    # Three coarse steps: one done in 5 s says little of the next two.
    coarse = job_line(_job("1/3 feature dictionaries", 1, 3, 0.2, now - timedelta(seconds=5)),
                      {"1": 45.0, "2": 10.0, "3": 20.0}, now)
    # Its own time left: as earlier jobs took the stage (45 s), less the 5 s it has run.
    assert "left in this stage" not in coarse and "about 70 s left in all" in coarse
    assert "in all" not in job_line(_job("1/3 feature dictionaries", 1, 3, 0.2, now),
                                    {"2": 10.0, "3": 20.0}, now)


def test_a_job_stores_its_stage_times_and_later_jobs_read_their_median(tmp_path):
    store = Store(tmp_path / "j.duckdb")
    jobs = JobManager(store, min_interval=0.0)
    try:
        for job_id in ("job-1", "job-2", "job-3"):
            store.create_job(job_id, "run", None, {})
            jobs._cancel[job_id] = threading.Event()
            report = jobs._progress(job_id, "run")
            for stage in ("train base", "generate A", "generate B", "embed"):
                report(ProgressEvent(stage, 1, 1, 1.0))
            row = store.get_job(job_id)
            assert row["stage"] == "3/7 embed" and row["stage_started"] is not None
            report.finish()
            store.update_job(job_id, status="done")
            times = json.loads(store.get_job(job_id)["stage_times"])
            assert set(times) == {"0", "1", "2", "3"} and all(t >= 0 for t in times.values())
        by_hand = {"0": 1.0, "1": 3.0, "2": 5.0}
        for i, job_id in enumerate(("job-1", "job-2", "job-3")):
            store.update_job(job_id, stage_times=json.dumps(
                {k: v * (i + 1) for k, v in by_hand.items()}))
        assert store.stage_history("run") == {k: v * 2 for k, v in by_hand.items()}
        assert store.stage_history("layers") == {}
        assert len(RUN_STAGES.stages) == 7
    finally:
        jobs.shutdown()
        store.close()
