"""Long work as jobs in worker threads of one process (the dashboard's server), with progress
in the `jobs` table. DuckDB allows one writer process; the threads share its Store.

A job is a kind plus JSON params; `run_job` turns them into work, so a job interrupted by a
crash (marked 'interrupted' at start-up) is resumed by submitting the same params again, and
the pipeline's stored rows make the resume cheap."""
from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

from .config import ModelDiffError, first_line
from .models.loading import ModelCache
from .progress import Cancelled, ProgressEvent

_import_lock = threading.Lock()


def _warm_imports() -> None:
    """transformers resolves its names lazily, and two threads resolving them at once can fail
    (ImportError on AutoConfig); the first job resolves them under a lock."""
    with _import_lock:
        import sentence_transformers  # noqa: F401
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig  # noqa: F401


class JobManager:
    def __init__(self, store, max_workers: int = 2, min_interval: float = 0.3):
        self.store = store
        self.cache = ModelCache()
        self._embedder_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="modeldiff-job")
        self._cancel: dict[str, threading.Event] = {}
        self._futures: dict = {}
        self.min_interval = min_interval
        self.interrupted_at_start = store.mark_interrupted_jobs()

    def embedder(self, choice: str = "default"):
        from .embedders import make_embedder

        with self._embedder_lock:  # two jobs starting at once share one
            return make_embedder(choice)

    # ------------------------------------------------------------------ submit
    def submit(self, kind: str, params: dict, run_id: Optional[str] = None,
               api_key: Optional[str] = None, model_keys: Optional[dict] = None) -> str:
        """Start a job. `api_key` (the assistant's) and `model_keys` (endpoint models' keys by
        side) stay in this process's memory: they are not in the job's params,
        so a resumed job falls back to the environment or the key file."""
        from .commands import KINDS, OLDER_KINDS

        kind = OLDER_KINDS.get(kind, kind)
        if kind not in KINDS:  # before a row is written
            raise ModelDiffError(f"unknown job kind {kind!r}")
        job_id = "job-" + uuid.uuid4().hex[:10]
        self.store.create_job(job_id, kind, run_id, params)
        self._cancel[job_id] = threading.Event()
        self._futures[job_id] = self._pool.submit(self._run, job_id, kind, params,
                                                  (api_key, model_keys))
        return job_id

    def resume(self, job_id: str) -> str:
        """Start an interrupted, failed or cancelled job again with the same params."""
        job = self.store.get_job(job_id)
        if job is None:
            raise ModelDiffError(f"no job {job_id}")
        if job["status"] in ("running", "queued"):
            raise ModelDiffError(f"job {job_id} is still {job['status']}")
        self.store.update_job(job_id, status="resumed")
        return self.submit(job["kind"], job["params"], job["run_id"])

    def cancel(self, job_id: str) -> None:
        event = self._cancel.get(job_id)
        if event is not None:
            event.set()

    def wait(self, job_id: str, timeout: Optional[float] = None) -> dict:
        fut = self._futures.get(job_id)
        if fut is not None:
            fut.result(timeout=timeout)
        return self.store.get_job(job_id)

    def shutdown(self) -> None:
        for event in self._cancel.values():
            event.set()
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------- work
    def _progress(self, job_id: str, kind: str) -> Callable[[ProgressEvent], None]:
        from .commands import plan

        stages = plan(kind)
        last = {"t": 0.0, "label": None, "at": 0, "started": time.monotonic()}
        times: dict[str, float] = {}
        cancel = self._cancel[job_id]

        def close_stage(now: float) -> None:
            """The stage that ended: its time, kept for later jobs' overall estimates."""
            if last["label"] is not None:
                key = str(last["at"]) if stages else str(last["label"])
                times[key] = times.get(key, 0.0) + now - last["started"]

        def report(ev: ProgressEvent) -> None:
            if cancel.is_set():
                raise Cancelled()
            now = time.monotonic()
            at, label = stages.place(ev.stage, last["at"]) if stages else (0, ev.stage)
            changed = {}
            if at != last["at"] or (not stages and label != last["label"]):
                close_stage(now)
                last.update(started=now, at=at)
                changed = {"stage_started": _utc_now(), "stage_times": json.dumps(times)}
            # Throttled: a row per batch is plenty for a progress bar polled once a second.
            if changed or label != last["label"] or now - last["t"] >= self.min_interval \
                    or ev.done >= ev.total:
                last.update(t=now, label=label)
                self.store.update_job(job_id, stage=label, done=int(ev.done),
                                      total=int(ev.total), rate=float(ev.rate),
                                      message=ev.message or "", **changed)

        def finish() -> None:
            """The last stage's time, once the job is done."""
            if last["label"] is not None:
                close_stage(time.monotonic())
                self.store.update_job(job_id, stage_times=json.dumps(times))
        report.finish = finish
        return report

    def _run(self, job_id: str, kind: str, params: dict, keys: tuple) -> None:
        self.store.update_job(job_id, status="running")
        try:
            _warm_imports()
            progress = self._progress(job_id, kind)
            run_id = run_job(self, kind, params, progress, job_id, keys)
            progress.finish()
            self.store.update_job(job_id, status="done", run_id=run_id, message="finished")
        except Cancelled:
            self.store.update_job(job_id, status="cancelled", message="cancelled; resume continues "
                                  "from the stored rows")
        except ModelDiffError as err:
            self.store.update_job(job_id, status="failed", error=str(err))
        except Exception as err:  # noqa: BLE001 - a job must never die silently
            first = first_line(err)
            self.store.update_job(job_id, status="failed",
                                  error=f"{type(err).__name__}: {first}",
                                  message=traceback.format_exc(limit=3)[-500:])


def _utc_now():
    # As the store stamps its rows: naive UTC.
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(tzinfo=None)


def job_fraction(job: dict) -> float:
    return min(1.0, job["done"] / job["total"]) if job.get("total") else 0.0


def job_line(job: dict, history: Optional[dict] = None, now=None) -> str:
    """A running job's progress in words: its stage ("3/7 embed"), count, rate, how long the
    stage has run (to `now`, naive UTC as the store stamps; default: now), the time left in
    it and, from earlier jobs' stage times (`history`, by stage number), in all; then the
    stage's message (a training loss, say)."""
    stage, message = job.get("stage"), job.get("message")
    if not isinstance(stage, str) or not stage:  # a NULL may come back as None or NaN
        return "starting"
    done, total, rate = (int(_number(job.get("done"))), int(_number(job.get("total"))),
                         _number(job.get("rate")))
    parts = [stage, f"{done}/{total}"]
    started, spent = job.get("stage_started"), None
    if started is not None and started == started:
        spent = ((now or _utc_now()) - started).total_seconds()
        parts.append(f"{_duration(spent)} in this stage")
    # A stage of a few coarse steps is not extrapolated: one step says little of the next.
    left = (total - done) / rate if rate > 0 and total > done and total >= 5 else None
    if left is not None:
        parts.append(f"{rate:.1f}/s, about {_duration(left)} left in this stage")
    overall = _left_in_all(stage, left, history, spent)
    if overall is not None:
        parts.append(f"about {_duration(overall)} left in all (earlier jobs' stage times)")
    if isinstance(message, str) and message:
        parts.append(message)
    return " · ".join(parts)


def _left_in_all(stage: str, left: Optional[float], history: Optional[dict],
                 spent: Optional[float] = None) -> Optional[float]:
    """The current stage's time left plus the stages after it as earlier jobs took them
    (None when a stage to come has no stored time: no estimate rather than a wrong one). A
    stage not extrapolated from its own rate is taken as earlier jobs took it, less the time
    it has run."""
    import re

    numbered = re.match(r"(\d+)/(\d+) ", stage)
    if not numbered or not history:
        return None
    at, n = int(numbered.group(1)), int(numbered.group(2))
    later = [history.get(str(i)) for i in range(at + 1, n + 1)]
    if any(t is None for t in later):
        return None
    if left is None:
        if history.get(str(at)) is None:
            return None
        left = max(0.0, history[str(at)] - (spent or 0.0))
    return left + sum(later)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _number(x) -> float:
    return 0.0 if x is None or x != x else float(x)


def describe_stopped(store, job: dict) -> str:
    """Why a job stopped and what Resume will do, in words, from what is stored."""
    texts = [t for t in (job.get("error"), job.get("message")) if isinstance(t, str) and t]
    reason = texts[0] if texts else "no reason was recorded"
    run_id = job.get("run_id")
    stored = ""
    if isinstance(run_id, str) and run_id:
        n = store.count_generations(run_id)
        stored = f"; {n} texts of run {run_id} are stored" if n else ""
    if job.get("status") == "failed":
        return f"failed: {reason}{stored}. Resume runs it again once the cause is fixed."
    return (f"{job.get('status')}: {reason}{stored}. Resume starts it again with the same "
            "settings: every stored row is kept and only the missing work is done.")


def run_job(manager: JobManager, kind: str, params: dict, progress, job_id: str,
            keys: tuple = (None, None)) -> Optional[str]:
    """The job's command on its stored params; returns the run it made or used, if any."""
    from . import commands

    kind = commands.OLDER_KINDS.get(kind, kind)
    if kind not in commands.KINDS:
        raise ModelDiffError(f"unknown job kind {kind!r}")
    read, command = commands.KINDS[kind]
    seen: list[str] = []

    def on_run_id(run_id: str) -> None:
        seen.append(run_id)
        manager.store.update_job(job_id, run_id=run_id)

    ctx = commands.Context(manager.cache, manager.embedder, progress, keys[0], on_run_id, keys[1])
    command(manager.store, read(params), ctx)
    return seen[-1] if seen else None
