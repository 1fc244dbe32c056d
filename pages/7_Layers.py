"""Layer lens: where inside the model B's difference lives — weight deltas, activation
differences, and delta-scaling interventions per layer against each validated hypothesis."""
import pandas as pd
import streamlit as st

from dashboard import get_jobs, get_store, jobs_panel, pick_run
from modeldiff_core.commands import LayersParams
from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.layers.settings import parse_scales
from modeldiff_core.render.figures import (activation_diff_figure, layer_delta_figure,
                                           scaling_figure)

st.set_page_config(page_title="modeldiff · layers", layout="wide")
st.title("Layer lens")
st.caption("For a pair with one architecture (a base and its finetune, a model and its quantized "
           "self): which layers' weights changed, where the two models' activations part, and "
           "which layers, scaled alone from A's weights toward B's (W_A + α·(W_B − W_A)), bring "
           "back each validated behaviour.")
store = get_store()
run_id = pick_run("layers_run")
if run_id is None:
    st.stop()
sets = store.hypothesis_sets(run_id) or ["offline"]
hypothesis_set = st.selectbox("Hypotheses from", sets)

with st.expander("Run the layer lens on this run",
                 expanded=store.layer_lens(run_id, hypothesis_set) is None):
    scales_text = st.text_input("α grid", "0, 0.25, 0.5, 0.75, 1")
    window = st.number_input("Layers scaled together (window)", 1, 64, 1)
    n_gen = st.number_input("Fresh generations per setting (behaviour rate)", 0, 512, 32)
    api_key = base_url = None
    if hypothesis_set != "offline":  # that assistant judges fresh generations for its hypotheses
        base_url = st.text_input("Base URL (empty: the provider's)") or None
        # Kept in this session only; the job gets it in memory, never in the database.
        api_key = st.text_input("API key (empty: from the environment)", type="password") or None
    if st.button("Run layer lens", type="primary"):
        try:
            params = LayersParams(run_id, hypothesis_set=hypothesis_set, scales=parse_scales(scales_text),
                                  window=int(window), n_generations=int(n_gen),
                                  assistant_base_url=base_url)
            if store.generations(run_id, split="validation").empty:
                raise ModelDiffError("this run has no held-out texts yet: let its job finish")
            job_id = get_jobs().submit("layers", params.to_dict(), run_id, api_key=api_key)
            st.success(f"Started {job_id}.")
        except ModelDiffError as err:
            st.error(str(err))
    jobs_panel()

lens = store.layer_lens(run_id, hypothesis_set)
if lens is None:
    st.info("No layer lens for this run yet: run it above.")
    st.stop()
for note in lens.get("notes", []):
    st.info(note)
for hid, text in lens.get("conclusions", {}).items():
    st.text(f"{hid}: {text}")  # plain text: hypothesis-derived wording is never markup

left, right = st.columns(2)
if lens["weight_delta"]:
    left.plotly_chart(layer_delta_figure(lens["weight_delta"]), key="weights")
if lens["activation_diff"]:
    right.plotly_chart(activation_diff_figure(lens["activation_diff"]), key="activations")

scaling = pd.DataFrame(lens["scaling"])
if scaling.empty:
    st.stop()
for hid, part in scaling.groupby("hypothesis_id"):
    st.subheader(f"{hid}: behaviour vs α, one layer at a time")
    cols = st.columns(2)
    for col, value, label in ((cols[0], "logprob_gap", "log-prob gap vs A on evidence texts"),
                              (cols[1], "predicate_rate", "behaviour rate in fresh generations")):
        fig = scaling_figure(part, value, label)
        if fig is None:
            col.caption(f"No {label}.")
        else:
            col.plotly_chart(fig, key=f"curve-{hid}-{value}")
restore = pd.DataFrame(lens.get("restoration", []))
if not restore.empty:
    st.markdown("**Share of B's effect each layer restores alone at α = 1**")
    st.dataframe(restore, hide_index=True)
