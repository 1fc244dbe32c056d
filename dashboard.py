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


def current_run() -> str | None:
    """The run the pages work on: the one picked in the sidebar (app.py shows the picker on
    every page); a page run on its own shows the picker itself."""
    if st.session_state.get("picker_in_sidebar"):
        return st.session_state.get("run_id")
    return pick_run()


def run_and_set() -> tuple[str, str]:
    """The run and the hypothesis set an analysis page works on (the page stops without a run)."""
    run_id = current_run()
    if run_id is None:
        st.stop()
    sets = get_store().hypothesis_sets(run_id) or ["offline"]
    return run_id, st.selectbox("Hypotheses from", sets)


def assistant_key_inputs(hypothesis_set: str) -> tuple:
    """(api_key, base_url) for the set's assistant, asked only when it calls an API. The key is
    kept in this session only: a job gets it in memory, never in the database."""
    from modeldiff_core.assistants.registry import AssistantSettings

    if AssistantSettings.for_set(hypothesis_set).kind == "offline":
        return None, None
    base_url = st.text_input("Base URL (empty: the provider's)") or None
    return st.text_input("API key (empty: from the environment)", type="password") or None, base_url


def figure_pair(figure, part, panels, key: str) -> None:
    """Two figures side by side, one per (value, label) of panels; a caption where one is empty."""
    for col, (value, label) in zip(st.columns(2), panels):
        fig = figure(part, value, label)
        if fig is None:
            col.caption(f"No {label}.")
        else:
            col.plotly_chart(fig, key=f"{key}-{value}")


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
