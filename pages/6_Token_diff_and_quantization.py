"""Token diff: where two models' probabilities part on one text. Quantization: what each
precision level costs a model against its full-precision self."""
import pandas as pd
import streamlit as st

from dashboard import get_jobs, get_store, jobs_panel, pick_run
from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.quant.study import LEVELS, check_level, eval_set_for, quant_result
from modeldiff_core.methods.token_diff.diff import token_diff
from modeldiff_core.models.spec import ModelSpec, pick_device
from modeldiff_core.render.figures import quant_figure
from modeldiff_core.render.html import token_strip_html
from modeldiff_core.render.report import evidence_texts
from modeldiff_core.stages.prompts import parse_prompt_upload

st.set_page_config(page_title="modeldiff · token diff & quantization", layout="wide")
st.title("Token diff & quantization")
store = get_store()
token_tab, quant_tab = st.tabs(["Token diff", "Quantization"])


def _text_choices(run_id: str) -> dict[str, tuple[str, str | None]]:
    """label -> (text, prompt): the run's generations and its hypotheses' held-out evidence."""
    out = {}
    sets = store.hypothesis_sets(run_id)
    evidence = evidence_texts(store, run_id, sets[0]) if sets else []
    for hid, r in evidence:
        out[f"{hid} evidence · {r['side']} · {r['text'][:70]}"] = (r["text"], None)
    for r in store.generations(run_id).head(400).itertuples():
        out[f"generation · {r.side} · prompt {r.prompt_id} #{r.sample_idx} · {r.text[:60]}"] = (
            r.text, r.prompt)
    return out


def token_view_ui() -> None:
    source = st.radio("Models", ["From a run", "Two models"], horizontal=True)
    run_id = None
    if source == "From a run":
        run_id = pick_run("token_run")
        if run_id is None:
            return
        run = store.get_run(run_id)
        spec_a, spec_b = ModelSpec.from_dict(run["spec_a"]), ModelSpec.from_dict(run["spec_b"])
        st.caption(f"A = {spec_a.label} · B = {spec_b.label}")
    else:
        left, right = st.columns(2)
        spec_a = ModelSpec(left.text_input("Model A", "organism:base").strip())
        spec_b = ModelSpec(right.text_input("Model B", "organism:cats").strip())
    text, prompt = "the cat purred softly by the pond . tom went to the garden in the morning .", ""
    if run_id is not None:
        choices = _text_choices(run_id)
        picked = st.selectbox("Pick a text (or type one below)", ["—", *choices])
        if picked != "—":
            text, prompt = choices[picked][0], choices[picked][1] or ""
    prompt = st.text_input("Prompt (optional: the text is scored as the answer to it)", prompt)
    text = st.text_area("Text", text, height=110)
    if st.button("Score under A and B", type="primary"):
        try:
            cache = get_jobs().cache
            with st.spinner("Scoring..."):
                st.session_state["token_view"] = token_diff(
                    cache.get(spec_a), cache.get(spec_b), text, prompt.strip() or None)
        except ModelDiffError as err:
            st.session_state.pop("token_view", None)
            st.error(str(err))
    view = st.session_state.get("token_view")
    if view is not None:
        for notice in view.notices:
            st.warning(notice)
        st.caption("Each token coloured by log p_B − log p_A: red where B finds it likelier, "
                   "blue where A does; hover a token for both models' log-prob, rank and top "
                   "choice.")
        st.html(token_strip_html(view))
        means = view.means()
        st.write(f"{len(view.tokens)} tokens · mean log p A {means['a']:.3f}, "
                 f"B {means['b']:.3f} · B − A {means['diff']:+.3f} per token")
        cols = ["token", "position", "diff", "logprob_a", "logprob_b", "rank_a", "rank_b",
                "top_a", "top_b"]
        left, right = st.columns(2)
        left.markdown("**B favours most**")
        left.dataframe(view.largest(10, 1)[cols], hide_index=True)
        right.markdown("**A favours most**")
        right.dataframe(view.largest(10, -1)[cols], hide_index=True)

with token_tab:
    token_view_ui()

with quant_tab:
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
            params = {"spec": spec.to_dict(), "levels": levels, "reference": reference}
            if upload is not None:
                ps = parse_prompt_upload(upload.getvalue(), upload.name)
                params.update(texts=list(ps.prompts), eval_set=ps.name)
            else:
                eval_set_for(spec)
            st.success(f"Started {get_jobs().submit('quant', params)}.")
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
    table = pd.DataFrame(result["levels"])
    st.dataframe(table[["level", "kl_mean", "kl_median", "kl_p99", "top1_agreement", "ppl_ref",
                        "ppl", "flips", "n_mc", "n_tokens"]], hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.2e")
                                for c in ("kl_mean", "kl_median", "kl_p99")})
    st.plotly_chart(quant_figure(table))
