"""What every dashboard page shares: the server's one Store and JobManager, the run picker and
the live jobs panel. UI only; the work is in modeldiff_core."""
from __future__ import annotations

import html

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
    if st.session_state.get(key) not in ids:
        st.session_state.pop(key, None)
    current = st.session_state.get("run_id")
    # A run opened elsewhere (Home, a finished job) is the widget's own value by then.
    index = 0 if key in st.session_state else (ids.index(current) if current in ids else 0)
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


def assistant_key_inputs(hypothesis_set: str, key: str = "assistant") -> tuple:
    """(api_key, base_url) for the set's assistant, asked only when it calls an API. The key is
    kept in this session only: a job gets it in memory, never in the database."""
    from modeldiff_core.assistants.registry import AssistantSettings

    if AssistantSettings.for_set(hypothesis_set).kind == "offline":
        return None, None
    base_url = st.text_input("Base URL (empty: the provider's)", key=f"{key}-url") or None
    return (st.text_input("API key (empty: from the environment)", type="password",
                          key=f"{key}-key") or None, base_url)


def open_prompt(prompt_ids: list, prompt_text: dict, key: str) -> None:
    """Pick one of these prompts and open it on the prompts side-by-side page."""
    if not prompt_ids:
        return
    cols = st.columns([3, 1], vertical_alignment="bottom")
    prompt_id = cols[0].selectbox("Prompt to read side by side", prompt_ids,
                                  format_func=lambda i: f"#{i} {prompt_text.get(i, '')[:100]}",
                                  key=f"open-{key}")
    if cols[1].button("Open side by side", key=f"open-button-{key}"):
        st.session_state["prompt_id"] = int(prompt_id)
        st.switch_page("views/prompts.py")


def prompt_texts(run_id: str) -> dict:
    prompts = get_store().prompts(run_id)
    return dict(zip(prompts["prompt_id"].astype(int), prompts["prompt"]))


def found(lines: list[str]) -> None:
    """An analysis' conclusion in words, first on its results (escaped: hypothesis wording and
    model tokens are never markup)."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    st.html(f"<div class='found'><b>What it found</b><ul style='margin-top:4px'>{items}</ul>"
            "</div>")


def figure_pair(figure, part, panels, key: str) -> None:
    """Two figures side by side, one per (value, label) of panels; a caption where one is empty."""
    for col, (value, label) in zip(st.columns(2), panels):
        fig = figure(part, value, label)
        if fig is None:
            col.caption(f"No {label}.")
        else:
            col.plotly_chart(fig, key=f"{key}-{value}")


def submit_job(kind: str, params: dict, run_id: str | None = None, **keys) -> str:
    """Start a job and watch it from this session: when it ends, every page says how (even a
    job that fails before the panel first sees it running)."""
    job_id = get_jobs().submit(kind, params, run_id, **keys)
    st.session_state.setdefault("watched_jobs", set()).add(job_id)
    return job_id


def take_ended_jobs(picker_drawn: bool = False) -> None:
    """The watched jobs that ended are kept to be said, and a finished run job's run is opened.
    Called by the entry point before any widget is drawn, so the sidebar's picker, drawn after,
    follows; once the picker is drawn (a page run on its own) its value is left alone."""
    for job_id in st.session_state.pop("ended_jobs", []):
        job = get_store().get_job(job_id)
        if job is None:
            continue
        st.session_state.setdefault("to_say", []).append(job_id)
        run = job.get("run_id")
        if job["status"] == "done" and job["kind"] == "run" and isinstance(run, str) and run:
            st.session_state["run_id"] = run
            if not picker_drawn:
                st.session_state["run"] = run


def job_outcomes() -> None:
    """How the jobs this session watched ended, said once (on the page that runs next): what a
    finished job made, a failed job's reason and its last log lines."""
    take_ended_jobs(picker_drawn=True)
    for job_id in st.session_state.pop("to_say", []):
        job = get_store().get_job(job_id)
        if job is None:
            continue
        what = f"{job_id} ({job['kind']})"
        run = job.get("run_id")
        made = f" — run {run}" if isinstance(run, str) and run else ""
        took = f" in {job_duration(job)}"
        if job["status"] == "done":
            st.success(f"{what} finished{took}{made}.")
        elif job["status"] == "failed":
            st.error(f"{what} failed{took}: {job.get('error') or 'no reason was recorded'}")
            last = last_lines(job)
            if last:
                with st.expander("Its last log lines"):
                    st.code(last, language=None)
        else:
            st.warning(f"{what} {describe_stopped(get_store(), job)}")


def job_duration(job: dict) -> str:
    seconds = (job["updated_at"] - job["created_at"]).total_seconds()
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def last_lines(job: dict, n: int = 6) -> str:
    """A stopped job's last recorded lines (its traceback's tail, or its last message)."""
    message = job.get("message")
    if not isinstance(message, str) or not message or message == "finished":
        return ""
    return "\n".join(message.strip().splitlines()[-n:])


def jobs_panel() -> None:
    """Jobs in flight (progress, cancel), stopped ones (reason, resume); how watched jobs
    ended, unless the entry point has said it already (each is said once)."""
    job_outcomes()
    _live_jobs()


@st.fragment(run_every=1.0)
def _live_jobs() -> None:
    """Polls the jobs table. A watched job that has ended makes the whole page run again, so
    its result shows without a reload."""
    jobs = get_jobs()
    table = get_store().list_jobs()
    live = table[table["status"].isin(["queued", "running"])]
    _notice_ended(live)
    stopped = table[table["status"].isin(["interrupted", "cancelled", "failed"])].head(5)
    if live.empty and stopped.empty:
        st.caption("No jobs in flight.")
    for job in live.itertuples():
        st.progress(job_fraction(job._asdict()), text=f"{job.job_id} · {progress_line(job)}")
        if st.button("Cancel", key=f"cancel-{job.job_id}"):
            jobs.cancel(job.job_id)
    for job in stopped.itertuples():
        cols = st.columns([4, 1])
        cols[0].warning(f"{job.job_id} {describe_stopped(get_store(), job._asdict())}")
        if cols[1].button("Resume", key=f"resume-{job.job_id}"):
            try:
                st.session_state["watched_jobs"].add(jobs.resume(job.job_id))
            except ModelDiffError as err:
                st.error(str(err))


def progress_line(job) -> str:
    """A live job's progress line, with the time in its stage and, from earlier jobs of its
    kind, the time left in all."""
    row = job._asdict() if hasattr(job, "_asdict") else dict(job)
    return job_line(row, get_store().stage_history(row["kind"]))


def _notice_ended(live) -> None:
    """Watch the jobs in flight; one watched before that is no longer in flight has ended: the
    whole page runs again (its result shows) and says how it ended."""
    # Only this session's own jobs (started or resumed here): another's are not its news.
    watched = st.session_state.setdefault("watched_jobs", set())
    ended = sorted(watched - set(live["job_id"]))
    if ended:
        watched -= set(ended)
        st.session_state["ended_jobs"] = [*st.session_state.get("ended_jobs", []), *ended]
        st.rerun()


@st.fragment(run_every=2.0)
def sidebar_jobs() -> None:
    """Every page's sidebar: the jobs in flight in a line each; a page without a jobs panel
    still shows a job's result when it ends."""
    table = get_store().list_jobs(["queued", "running"])
    _notice_ended(table)
    for job in table.itertuples():
        st.caption(f"{job.job_id} ({job.kind}) · {progress_line(job)}")


def job_history(limit: int = 15) -> None:
    """The latest jobs: kind, status, run, start, duration; a failed one's reason and last
    lines on demand."""
    table = get_store().list_jobs().head(limit)
    if table.empty:
        st.caption("No jobs yet.")
        return
    rows = [{"job": j.job_id, "kind": j.kind, "status": j.status,
             "run": j.run_id if isinstance(j.run_id, str) else "",
             "started (UTC)": j.created_at, "duration": job_duration(j._asdict()),
             "stage": j.stage if isinstance(j.stage, str) else "",
             "reason": j.error if isinstance(j.error, str) else ""}
            for j in table.itertuples()]
    st.dataframe(rows, hide_index=True, width="stretch")
    for j in table[table["status"] == "failed"].itertuples():
        with st.expander(f"{j.job_id} ({j.kind}) failed: {j.error}"):
            st.code(last_lines(j._asdict()) or "no log lines were recorded", language=None)
