"""Quantization: what each precision level costs a model against its full-precision self."""
import pandas as pd
import streamlit as st

from dashboard import found, get_store, jobs_panel, submit_job
from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.quant.settings import Params as QuantParams
from modeldiff_core.methods.quant.study import LEVELS, check_level, quant_result
from modeldiff_core.methods.common.eval_sets import eval_set_for
from modeldiff_core.models.spec import ModelSpec, pick_device
from modeldiff_core.render.figures import quant_figure
from modeldiff_core.stages.prompts import parse_prompt_upload
from modeldiff_core.methods.quant.show import conclusion

store = get_store()
st.caption("Two phases: the reference's next-token distributions are computed once and "
           "cached; each level is then compared with them — KL(reference ‖ level) per token, "
           "top-1 agreement, perplexity, and answer flips on a multiple-choice set.")
device = pick_device()
runs = store.list_runs()
default_model = runs["model_a"].iloc[0] if not runs.empty else "organism:base"
model = st.text_input("Model (HF id, directory or organism:NAME)", default_model).strip()
possible = [lv for lv in LEVELS if lv != "int8-dynamic" or device == "cpu"]
levels = st.multiselect("Levels", possible,
                        default=[lv for lv in ("bf16", "8bit", "4bit", "int8-dynamic")
                                 if lv in possible])
reference = st.selectbox("Reference", ["fp32", "bf16", "fp16"])
upload = st.file_uploader("Texts to score (optional; JSONL with a prompt field or CSV with a "
                          "prompt column). Default: the built-in set for this model.",
                          type=["jsonl", "csv"])
if st.button("Measure", type="primary"):
    try:
        spec = ModelSpec(model)
        if not levels:
            raise ModelDiffError("choose at least one level")
        for level in [reference, *levels]:
            check_level(spec, level, device)  # an impossible level: its reason, up front
        params = QuantParams(spec, levels, reference)
        if upload is not None:
            ps = parse_prompt_upload(upload.getvalue(), upload.name)
            params.texts, params.eval_set = list(ps.prompts), ps.name
        else:
            eval_set_for(spec)
        st.success(f"Started {submit_job('quant', params.to_dict())}.")
    except ModelDiffError as err:
        st.error(str(err))
jobs_panel()

studies = store.quant_studies()
studies = studies[studies["n_levels"] > 0]
if studies.empty:
    st.info("No quantization measured yet.")
    st.stop()
labels = {r.study_id: f"{r.model} vs {r.reference} · {r.eval_set} · {r.n_levels} levels"
          for r in studies.itertuples()}
study_id = st.selectbox("Study", list(labels), format_func=labels.get)
result = quant_result(store, study_id)
found(conclusion(result))
table = pd.DataFrame(result["levels"])
st.dataframe(table[["level", "kl_mean", "kl_median", "kl_p99", "top1_agreement", "ppl_ref",
                    "ppl", "flips", "n_mc", "n_tokens"]], hide_index=True,
             column_config={c: st.column_config.NumberColumn(format="%.2e")
                            for c in ("kl_mean", "kl_median", "kl_p99")})
st.plotly_chart(quant_figure(table))
