"""Report: one run summarised for presenting; download as self-contained HTML or Markdown."""
import streamlit as st

from dashboard import current_run, get_store
from modeldiff_core.render.html import render_html
from modeldiff_core.render.markdown import render_markdown
from modeldiff_core.render.report import report_data

store = get_store()
run_id = current_run()
if run_id is None:
    st.stop()

result = store.result(run_id)
if result is None:
    st.info("This run has no result yet: its job may still be running (see the home page).")
    st.stop()
sets = store.hypothesis_sets(run_id) or [result.get("assistant", "offline")]
default = result.get("assistant", "offline")
assistant = st.selectbox("Hypotheses from", sets,
                         index=sets.index(default) if default in sets else 0)
try:
    data = report_data(store, run_id, assistant)
    points = store.points(run_id)
    page = render_html(data, points)
    # Shown here through st.html, which sanitises (and drops inline SVG: the map as an image).
    shown = render_html(data, points, map_as_image=True)
    markdown = render_markdown(data)
except Exception as err:  # noqa: BLE001 — one line for the researcher, not a traceback
    st.error(f"Could not build the report: {type(err).__name__}: {err}".splitlines()[0])
    st.stop()

left, right = st.columns(2)
left.download_button("Download HTML", page, file_name=f"modeldiff-{run_id}.html",
                     mime="text/html", on_click="ignore")
right.download_button("Download Markdown", markdown, file_name=f"modeldiff-{run_id}.md",
                      mime="text/markdown", on_click="ignore")
st.html(shown)
