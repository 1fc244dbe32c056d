"""The dashboard's entry point (`streamlit run app.py`): the page config, the navigation in
sections (the analyses' pages come from the methods' registry), the run picker in the sidebar
and the page's title, once for every page; then the chosen page (a script under views/) runs.
The scripts are not under pages/: Streamlit treats that folder as an older kind of app, whose
own page list and URLs then compete with this navigation."""
import streamlit as st

from dashboard import job_outcomes, pick_run, sidebar_jobs, take_ended_jobs
from modeldiff_core.methods.registry import METHODS

st.set_page_config(page_title="modeldiff", layout="wide")


def _page(file: str, title: str) -> st.Page:
    return st.Page(f"views/{file}", title=title, url_path=file[:-len(".py")])


SECTIONS = {
    "Run": [st.Page("home.py", title="Home", default=True), _page("models.py", "Models"),
            _page("generate.py", "Generate")],
    "Explore": [_page("clusters.py", "Clusters"), _page("prompts.py", "Prompts side by side"),
                _page("hypotheses.py", "Hypotheses"), _page("report.py", "Report")],
}
for m in METHODS:  # one page may serve several methods (plant and the truth bench)
    if all(p.title != m.title for pages in SECTIONS.values() for p in pages):
        SECTIONS.setdefault(m.section, []).append(_page(m.page, m.title))

page = st.navigation(SECTIONS)
st.session_state["in_app"] = True
take_ended_jobs()  # before the run picker: a finished run job's run is the one it shows
if page.title != "Home":
    st.session_state["picker_in_sidebar"] = True
    with st.sidebar:
        pick_run()
        sidebar_jobs()
    st.title(page.title)
    job_outcomes()  # a job watched from another page has ended: said here (Home: in its panel)
page.run()
