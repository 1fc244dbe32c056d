"""Layer lens: where inside the model B's difference lives — weight deltas, activation
differences, and delta-scaling interventions per layer against each validated hypothesis."""
import pandas as pd
import streamlit as st

from dashboard import (assistant_key_inputs, figure_pair, found, get_store, jobs_panel,
                       run_and_set, submit_job)
from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.layers.settings import LensSettings, Params
from modeldiff_core.methods.common.scales import parse_scales
from modeldiff_core.render.figures import (activation_diff_figure, layer_delta_figure,
                                           scaling_figure)
from modeldiff_core.methods.layers.show import conclusion

st.caption("For a pair with one architecture (a base and its finetune, a model and its quantized "
           "self): which layers' weights changed, where the two models' activations part, and "
           "which layers, scaled alone from A's weights toward B's (W_A + α·(W_B − W_A)), bring "
           "back each validated behaviour.")
store = get_store()
run_id, hypothesis_set = run_and_set()

with st.expander("Run the layer lens on this run",
                 expanded=store.method_result(run_id, "layers", hypothesis_set) is None):
    default = LensSettings()
    scales_text = st.text_input("Scales of B's change (0 is A, 1 is B)",
                                ", ".join(f"{s:g}" for s in default.scales))
    window = st.number_input("Layers scaled together (window)", 1, 64, default.window)
    n_gen = st.number_input("Fresh generations per setting (behaviour rate)", 0, 512,
                            default.n_generations)
    api_key, base_url = assistant_key_inputs(hypothesis_set)  # its assistant judges or plays
    if st.button("Run layer lens", type="primary"):
        try:
            settings = LensSettings(scales=parse_scales(scales_text), window=int(window),
                                    n_generations=int(n_gen))
            params = Params(run_id, hypothesis_set=hypothesis_set, settings=settings,
                            assistant_base_url=base_url)
            if store.generations(run_id, split="validation").empty:
                raise ModelDiffError("this run has no held-out texts yet: let its job finish")
            job_id = submit_job("layers", params.to_dict(), run_id, api_key=api_key)
            st.success(f"Started {job_id}.")
        except ModelDiffError as err:
            st.error(str(err))
    jobs_panel()

lens = store.method_result(run_id, "layers", hypothesis_set)
if lens is None:
    st.info("No layer lens for this run yet: run it above.")
    st.stop()
found(conclusion(lens))
for note in lens.get("notes", []):
    st.info(note)

left, right = st.columns(2)
if lens["weight_delta"]:
    left.plotly_chart(layer_delta_figure(lens["weight_delta"]), key="weights")
if lens["activation_diff"]:
    right.plotly_chart(activation_diff_figure(lens["activation_diff"]), key="activations")

scaling = pd.DataFrame(lens["scaling"])
if scaling.empty:
    st.stop()
st.caption("Per hypothesis, two measures of what each setting brings back: the log-prob gap "
           "to A on its contrast pairs (the favoured text's rise minus its contrast's: the two "
           "differ only in what the hypothesis names) or, where its generative test wrote no "
           "pairs, on the held-out texts most typical of it; and its behaviour rate in fresh "
           "generations.")
on = lens.get("measured_on", {})  # a lens stored before pairs: evidence texts for all
for hid, part in scaling.groupby("hypothesis_id"):
    st.subheader(f"{hid}: behaviour vs α, one layer at a time")
    gap = ("log-prob gap vs A on its contrast pairs" if on.get(hid) == "contrast pairs"
           else "log-prob gap vs A on evidence texts")
    figure_pair(scaling_figure, part, [("logprob_gap", gap),
                                       ("predicate_rate", "behaviour rate in fresh generations")],
                f"curve-{hid}")
restore = pd.DataFrame(lens.get("restoration", []))
if not restore.empty:
    st.markdown("**Share of B's effect each layer restores alone at α = 1**")
    st.dataframe(restore, hide_index=True)
