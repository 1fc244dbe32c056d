"""The dashboard's entry point (`streamlit run app.py`): names the pages, Home first, and runs
the one chosen. Each page is a script of its own under pages/."""
import streamlit as st

PAGES = [
    st.Page("home.py", title="Home", default=True),
    st.Page("pages/1_Models.py", title="Models", url_path="Models"),
    st.Page("pages/2_Generate.py", title="Generate", url_path="Generate"),
    st.Page("pages/3_Clusters.py", title="Clusters", url_path="Clusters"),
    st.Page("pages/4_Hypotheses.py", title="Hypotheses", url_path="Hypotheses"),
    st.Page("pages/5_Ground_truth.py", title="Ground truth", url_path="Ground_truth"),
    st.Page("pages/6_Token_diff_and_quantization.py", title="Token diff and quantization",
            url_path="Token_diff_and_quantization"),
    st.Page("pages/7_Layers.py", title="Layers", url_path="Layers"),
    st.Page("pages/8_Features.py", title="Features", url_path="Features"),
    st.Page("pages/9_Probe.py", title="Probe", url_path="Probe"),
    st.Page("pages/10_Report.py", title="Report", url_path="Report"),
]
st.navigation(PAGES).run()
