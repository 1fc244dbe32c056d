"""modeldiff — Home: runs with headline figures, Quick start on the built-in demo, jobs.
The first page a person sees: it imports nothing heavy (no torch, no UMAP, not the pipeline
until Quick start is pressed)."""
import streamlit as st

from dashboard import get_store, job_history, job_outcomes, jobs_panel, submit_job
from modeldiff_core.config import ModelDiffError, default_db_path
from modeldiff_core.methods.registry import METHODS
from modeldiff_core.models.organisms import DEFAULT_ORGANISM
from modeldiff_core.render.overview import runs_overview

st.set_page_config(page_title="modeldiff", layout="wide")
st.title("modeldiff")
st.caption("How do two language models behave differently? Generate from both, cluster, "
           "propose hypotheses, validate them on held-out prompts.")
OPEN_ON = [("clusters.py", "Clusters"), ("prompts.py", "Prompts side by side"),
           ("hypotheses.py", "Hypotheses"), ("report.py", "Report")]
store = get_store()
st.write(f"Database: `{default_db_path()}`")

st.subheader("Quick start")
st.write(f"Runs the built-in demo end to end: the base organism (A) against `{DEFAULT_ORGANISM}` "
         "(B), a copy finetuned to mention cats far more often. The organisms are built on first "
         "use (a few minutes on a CPU): the job below shows their training as it goes.")
if st.button("Quick start", type="primary"):
    from modeldiff_core.models.spec import ModelSpec
    from modeldiff_core.pipeline import RunConfig, config_to_dict
    from modeldiff_core.models.generation import GenerationSettings
    from modeldiff_core.stages.prompts import builtin_prompt_set

    config = RunConfig(ModelSpec("organism:base"), ModelSpec(f"organism:{DEFAULT_ORGANISM}"),
                       builtin_prompt_set("organisms"), GenerationSettings())
    try:
        job_id = submit_job("run", config_to_dict(config))
        st.success(f"Started {job_id}: follow it below, then open the Clusters and Hypotheses pages.")
    except ModelDiffError as err:
        st.error(str(err))

job_outcomes()  # a watched job that ended: said (and a finished run opened) before the runs
st.subheader("Runs")
runs = runs_overview(store)
if runs.empty:
    st.info("No runs yet.")
else:
    st.caption("Click a run to open it: every page then works on it.")
    # Keyed by the number of runs: a selection is a row position, stale once a run is added.
    picked = st.dataframe(runs, hide_index=True, width="stretch", on_select="rerun",
                          selection_mode="single-row", key=f"run-browser-{len(runs)}")
    chosen = runs.iloc[picked.selection.rows[0]]["run"] if picked and picked.selection.rows \
        else None
    if chosen is not None and chosen != st.session_state.get("run-browser-chosen"):
        # A click opens its run once; a run opened since (a finished job) is not undone.
        st.session_state["run-browser-chosen"] = st.session_state["run_id"] = chosen
        st.session_state.pop("run", None)  # the sidebar's picker follows on the next page
    opened = st.session_state.get("run_id")
    if opened in set(runs["run"]):
        st.write(f"Open run: **{opened}**")
        if st.session_state.get("in_app"):  # the pages exist only in the app's navigation
            for col, (file, title) in zip(st.columns(4), OPEN_ON):
                col.page_link(f"views/{file}", label=title, icon=":material/open_in_new:")

st.subheader("Jobs")
jobs_panel()
with st.expander("Job history"):
    job_history()

st.subheader("Analyses")
st.caption("Beyond the run, each in the sidebar's Analyses and Ground truth, and on the CLI:")
st.markdown("\n".join(f"- **{m.title}** (`modeldiff {m.name}`): {m.face.cli.HELP}"
                       for m in METHODS))
