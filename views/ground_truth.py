"""Ground truth: plant known behaviours by LoRA finetuning, run the pipeline on base vs finetune,
and score how many the method recovers."""
import pandas as pd
import streamlit as st

from dashboard import get_store, jobs_panel, submit_job
from modeldiff_core.assistants.registry import AssistantSettings, make_call_path
from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.ground_truth.plant import PlantConfig
from modeldiff_core.methods.plant.settings import Params as PlantParams
from modeldiff_core.methods.ground_truth.summary import scorable_runs, summarise_scores
from modeldiff_core.methods.ground_truth.truths import BUILTIN_TRUTHS, DataRecipe, as_truths, check_truths
from modeldiff_core.models.finetune import FinetuneSettings
from modeldiff_core.models.spec import ModelSpec, check_spec

st.caption("Plant behaviours whose answer is known, run the pipeline on base vs finetune, and "
           "see how many of them the validated hypotheses recover — how far to trust the method.")
store = get_store()


def _assistant_inputs(prefix: str):
    """The chosen assistant's settings and the session's API key."""
    kind = st.selectbox("Assistant", ["anthropic", "openai"], key=f"{prefix}-kind")
    model = st.text_input("Model (empty: default)", key=f"{prefix}-model") or None
    # Kept in this session only; jobs get it in memory, never in the database.
    api_key = st.text_input("API key (empty: from the environment)", type="password",
                            key=f"{prefix}-key") or None
    return AssistantSettings(kind, model), api_key


plant_tab, scores_tab = st.tabs(["Plant and evaluate", "Scores"])

with plant_tab:
    source = st.radio("Ground truths", ["Built-in set", "Write your own", "Ask an assistant"],
                      horizontal=True)
    null = False
    if source == "Built-in set":
        texts = st.multiselect("Built-in ground truths (offline training texts exist for these)",
                               [t.text for t in BUILTIN_TRUTHS], default=[BUILTIN_TRUTHS[0].text])
        null = st.checkbox("Null finetune instead: the same data recipe, no quirk (counts false "
                           "discoveries)")
    elif source == "Write your own":
        texts = st.text_area("One ground truth per line",
                             placeholder="The model really likes cats.").splitlines()
    else:
        assistant, api_key = _assistant_inputs("propose")
        focus = st.text_input("Focus area (empty: open-ended)")
        n = st.number_input("How many", 1, 10, 3)
        if st.button("Propose ground truths"):
            from modeldiff_core.methods.ground_truth.truths import propose_truths
            try:
                path = make_call_path(assistant, store, api_key)
                st.session_state["proposed_truths"] = "\n".join(
                    propose_truths(path, int(n), focus or None))
            except ModelDiffError as err:
                st.error(str(err))
        texts = st.text_area("Proposed ground truths (edit freely)",
                             value=st.session_state.get("proposed_truths", "")).splitlines()

    st.subheader("Training data")
    data_source = st.selectbox(
        "Written by", ["offline", "anthropic", "openai"],
        help="offline: templates over the base model's own generations (built-in truths only)")
    data_model = data_key = None
    if data_source != "offline":
        data_model = st.text_input("Model (empty: default)", key="data-model") or None
        data_key = st.text_input("API key (empty: from the environment)", type="password",
                                 key="data-key") or None
    c1, c2 = st.columns(2)
    recipe_default, ft = DataRecipe(), FinetuneSettings()
    per_truth = c1.number_input("Texts per ground truth", 8, 20000,
                                recipe_default.texts_per_truth, step=32)
    base_mix = c2.number_input("Base samples mixed in (fraction)", 0.0, 10.0,
                               recipe_default.base_mix, step=0.25,
                               help="the base model's own samples, as a regulariser")

    st.subheader("Finetune (LoRA)")
    base = st.text_input("Base model (HF id, directory or organism:NAME)", "organism:base")
    c1, c2, c3, c4 = st.columns(4)
    rank = c1.number_input("Rank", 1, 256, ft.rank)
    alpha = c2.number_input("Alpha", 1, 512, ft.lora_alpha)
    lr = c3.number_input("Learning rate", 1e-6, 1.0, ft.lr, format="%.0e")
    epochs = c4.number_input("Epochs", 0.1, 100.0, ft.epochs)
    c1, c2, c3, c4 = st.columns(4)
    max_length = c1.number_input("Max length", 8, 8192, ft.max_length)
    batch = c2.number_input("Batch size", 1, 512, ft.batch_size)
    accum = c3.number_input("Gradient accumulation", 1, 128, ft.grad_accum)
    targets = c4.text_input("Target modules (empty: found from the model)")
    merge = st.checkbox("Also save the merged model")
    evaluate = st.checkbox("Then run the pipeline on base vs finetune and score it", value=True)

    if st.button("Plant", type="primary"):
        try:
            truths = [] if null else check_truths(texts)
            recipe = DataRecipe(data_source, int(per_truth), float(base_mix))
            recipe.check(as_truths(truths) if truths else [])
            settings = FinetuneSettings(
                rank=int(rank), lora_alpha=int(alpha), lr=float(lr), epochs=float(epochs),
                max_length=int(max_length), batch_size=int(batch), grad_accum=int(accum),
                target_modules=tuple(t.strip() for t in targets.split(",") if t.strip()) or None,
                merge=merge)
            settings.check()
            spec = ModelSpec(base.strip())
            check_spec(spec)
            config = PlantConfig(spec, truths, recipe, settings, assistant_model=data_model)
            params = PlantParams(config, evaluate)
            job_id = submit_job("plant", params.to_dict(), api_key=data_key)
            st.success(f"Started {job_id}: training texts, finetune"
                       + (", pipeline and score" if evaluate else "") + ".")
        except ModelDiffError as err:
            st.error(str(err))
    if st.button("Run the benchmark on the built-in set",
                 help="each built-in truth in its own finetune of organism:base, plus a null"):
        job_id = submit_job("truth-bench", {})
        st.success(f"Started {job_id}.")
    jobs_panel()

with scores_tab:
    scores = store.truth_scores()
    if scores.empty:
        st.info("No scored runs yet: plant ground truths (first tab) or score a run below.")
    else:
        summary = summarise_scores(scores)
        model_b = store.list_runs().set_index("run_id")["model_b"]
        n_val, n_true = summary["n_validated"], summary["n_validated_true"]
        c1, c2, c3 = st.columns(3)
        c1.metric("Recall", f"{summary['n_recovered']} of {summary['n_truths']} truths")
        c2.metric("Precision of validated hypotheses",
                  "—" if summary["precision"] is None else f"{summary['precision']:.2f}",
                  help=f"{n_true} of {n_val}")
        fd = summary["null_false_discoveries"]
        c3.metric("False discoveries on null finetunes", "—" if fd is None else str(fd),
                  help=f"{summary['n_null_runs']} null run(s)")
        st.dataframe(pd.DataFrame([{
            "run": p["run_id"], "model B": model_b.get(p["run_id"], "?"), "matcher": p["matcher"],
            "truth": p["truth"], "recovered": "yes" if p["recovered"] else "no",
            "score": p["score"], "best validated hypothesis": p["best_hypothesis"],
            "closest proposed": p["closest_proposed"]} for p in summary["per_truth"]]),
            hide_index=True, width="stretch")
        if summary["null_runs"]:
            st.dataframe(pd.DataFrame([{"null run": r["run_id"], "validated hypotheses":
                                        r["n_validated"]} for r in summary["null_runs"]]),
                         hide_index=True)

    st.subheader("Score a run against its planted truths")
    candidates = scorable_runs(store)
    if not candidates:
        st.caption("No finished run has one of our finetunes as model B yet.")
    else:
        run_id = st.selectbox("Run (model B is a finetune)", list(candidates))
        st.write("Planted: " + ("; ".join(candidates[run_id]) or "nothing (null finetune)"))
        matcher = st.radio("Matcher", ["embedding", "judge"], horizontal=True,
                           help="embedding: MiniLM similarity, offline; judge: an assistant "
                                "rates 1-100")
        judge = _assistant_inputs("judge") if matcher == "judge" else None
        if st.button("Score"):
            from modeldiff_core.methods.ground_truth.score import score_run
            try:
                path = make_call_path(judge[0], store, judge[1]) if judge else None
                r = score_run(store, run_id, candidates[run_id], matcher=matcher, call_path=path)
                st.success(f"Recall {r['recall'] if r['recall'] is not None else '—'}, "
                           f"{r['n_validated']} validated hypotheses.")
                st.rerun()
            except ModelDiffError as err:
                st.error(str(err))
    finetunes = store.list_finetunes()
    if not finetunes.empty:
        st.subheader("Finetunes")
        st.caption("Use one as model B anywhere: its base as the model, the adapter path as the "
                   "LoRA adapter (Models page).")
        st.dataframe(finetunes, hide_index=True, width="stretch")
