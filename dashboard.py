"""What every dashboard page shares: the server's one Store and JobManager, the run picker and
the live jobs panel. UI only; the work is in modeldiff_core."""
from __future__ import annotations

import streamlit as st

from modeldiff_core.config import ModelDiffError, default_db_path
from modeldiff_core.jobs import JobManager, describe_stopped, job_fraction, job_line
from modeldiff_core.store import Store


@st.cache_resource
def _store(path: str) -> Store:
    # The server process owns the DuckDB file (one writer per file); all sessions share it.
    return Store(path)


@st.cache_resource
def _jobs(path: str) -> JobManager:
    return JobManager(_store(path))


def get_store() -> Store:
    try:
        return _store(str(default_db_path()))
    except ModelDiffError as err:
        st.error(str(err))
        st.stop()


def get_jobs() -> JobManager:
    get_store()
    return _jobs(str(default_db_path()))


def pick_run(key: str = "run") -> str | None:
    """A run selector shared by the pages (remembers the choice in the session)."""
    runs = get_store().list_runs()
    if runs.empty:
        st.info("No runs yet: start one from the home page (Quick start) or the Generate page.")
        return None
    ids = runs["run_id"].tolist()
    labels = {r.run_id: f"{r.run_id} — {r.model_a} vs {r.model_b} ({r.status})"
              for r in runs.itertuples()}
    current = st.session_state.get("run_id")
    index = ids.index(current) if current in ids else 0
    run_id = st.selectbox("Run", ids, index=index, format_func=labels.get, key=key)
    st.session_state["run_id"] = run_id
    return run_id


@st.fragment(run_every=1.0)
def jobs_panel() -> None:
    """Jobs in flight with progress, cancel; interrupted ones with resume. Polls the jobs table."""
    jobs = get_jobs()
    table = get_store().list_jobs()
    live = table[table["status"].isin(["queued", "running"])]
    stopped = table[table["status"].isin(["interrupted", "cancelled", "failed"])].head(5)
    if live.empty and stopped.empty:
        st.caption("No jobs in flight.")
    for job in live.itertuples():
        st.progress(job_fraction(job._asdict()), text=f"{job.job_id} · {job_line(job._asdict())}")
        if st.button("Cancel", key=f"cancel-{job.job_id}"):
            jobs.cancel(job.job_id)
    for job in stopped.itertuples():
        cols = st.columns([4, 1])
        cols[0].warning(f"{job.job_id} {describe_stopped(get_store(), job._asdict())}")
        if cols[1].button("Resume", key=f"resume-{job.job_id}"):
            try:
                jobs.resume(job.job_id)
            except ModelDiffError as err:
                st.error(str(err))
