"""modeldiff dashboard — home page. (The full dashboard is its own issue; this page lists runs.)"""
import streamlit as st

from modeldiff_core.config import ModelDiffError, default_db_path
from modeldiff_core.store import Store

st.set_page_config(page_title="modeldiff", layout="wide")


@st.cache_resource
def open_store(path: str) -> Store:
    # The server process owns the DuckDB file: one read-write process per file.
    return Store(path)


st.title("modeldiff")
st.caption("How do two language models behave differently?")
db_path = str(default_db_path())
try:
    store = open_store(db_path)
except ModelDiffError as err:
    st.error(str(err))
    st.stop()

st.write(f"Database: `{db_path}`")
runs = store.list_runs()
if runs.empty:
    st.info("No runs yet. Run the built-in demo from a terminal (with this server stopped): "
            "`python -m modeldiff_core demo`.")
else:
    st.subheader("Runs")
    st.dataframe(runs, hide_index=True, use_container_width=True)
    run_id = st.selectbox("Run", runs["run_id"])
    clusters = store.clusters(run_id)
    st.subheader("Clusters")
    st.dataframe(clusters, hide_index=True, use_container_width=True)
