"""Hypotheses with their held-out tests, the evidence behind each, and the researcher's verdict."""
import pandas as pd
import streamlit as st

from dashboard import current_run, get_jobs, get_store, jobs_panel
from modeldiff_core.config import ModelDiffError
from modeldiff_core.stages.hypotheses import heldout_size, judge_plan
from modeldiff_core.hypotheses.validation import judged_texts
from modeldiff_core.pipeline import config_for_run, config_to_dict
from modeldiff_core.stages.settings import HypothesisSettings
from modeldiff_core.render.fmt import (
    baseline_line,
    coverage_line,
    finding,
    placebo_clause,
    rates_clause,
    role,
    self_check_line,
)
from modeldiff_core.results import current_result

store = get_store()
run_id = current_run()
if run_id is None:
    st.stop()

with st.expander("Propose and validate with an assistant"):
    kind = st.radio("Assistant", ["offline", "anthropic", "openai"], horizontal=True)
    model = base_url = api_key = None
    if kind != "offline":
        model = st.text_input("Model (empty: default)") or None
        base_url = st.text_input("Base URL (empty: the provider's)") or None
        # Kept in this session only; jobs get it in memory, never in the database.
        api_key = st.text_input("API key (empty: from the environment)", type="password") or None
    budget = HypothesisSettings().max_judge_prompts
    if kind != "offline":
        budget = st.number_input("Held-out prompts the judge scores per hypothesis",
                                 min_value=1, value=budget, step=10)
        n_prompts, mean_chars = heldout_size(store, run_id)
        st.caption(judge_plan(HypothesisSettings(kind, model, max_judge_prompts=int(budget)),
                              n_prompts, mean_chars))
    if st.button("Propose and validate"):
        try:
            settings = HypothesisSettings(kind, model, base_url, max_judge_prompts=int(budget))
            config = config_for_run(store, run_id, settings)
            job_id = get_jobs().submit("run", config_to_dict(config), run_id, api_key=api_key)
            st.success(f"Started {job_id}.")
        except ModelDiffError as err:
            st.error(str(err))
    jobs_panel()

sets = store.hypothesis_sets(run_id)
if not sets and (store.get_run(run_id) or {}).get("status") != "done":
    st.info("No hypotheses for this run yet (its job may still be running).")
    st.stop()
if not sets:  # a finished run whose proposal found nothing: its yardstick still says a lot
    st.info("The assistant proposed no hypothesis for this run: no candidate difference passed "
            "its tests on the discovery texts.")
hypothesis_set = st.selectbox("Hypotheses from", sets or ["offline"])
result = current_result(store, run_id, hypothesis_set)
notes = store.annotations(run_id, hypothesis_set)
b = result["baseline"]
st.write(f"Yardstick — {baseline_line(b)}. **Validated** = discriminative q < alpha. "
         "p and q are prompt-level: A's and B's held-out texts are paired by prompt and the "
         "per-prompt difference is sign-flipped over prompts; accuracy is balanced accuracy. "
         "An LLM judge must beat itself under a content-free placebo hypothesis on the same "
         "texts: *judge alone* is its AUC there, *added* what the hypothesis adds.")
st.write(coverage_line(result["coverage"]))
st.write(self_check_line(result.get("self_check")))
rows = []
for h in result["hypotheses"]:
    d, g = h["discriminative"] or {}, h["generative"] or {}
    rows.append({"id": h["id"], "validated": "yes" if h["validated"] else "no",
                 "finding": role(h),
                 "hypothesis": h["text"], "held out": rates_clause(d),
                 "accuracy": d.get("accuracy"), "AUC": d.get("auc"),
                 "texts": d.get("n"), "prompts": d.get("n_prompts"),
                 "judge alone AUC": d.get("placebo_auc"), "added AUC": d.get("added_auc"),
                 "p": d.get("p_value"), "q": d.get("q_value"),
                 "generative AUC": g.get("auc"), "generative q": g.get("q_value"),
                 "source": h["source"], "verdict": notes.get(h["id"], {}).get("verdict", "")})
validated = [h for h in result["hypotheses"] if h["validated"]]
st.markdown(f"**{len(validated)} of {len(rows)} hypotheses validated**")
for h in validated:  # st.text: model and assistant text is shown as plain text, never markup
    d = h["discriminative"]
    if h.get("explained_by"):  # folded under its headline, which comes just before it
        st.text(f"    {h['id']} ({role(h)}): {h['text']}")
        continue
    st.text(f"VALIDATED  {h['id']}: {finding(h)}  — accuracy {d['accuracy']:.2f}, "
            f"AUC {d['auc']:.2f}, n = {d['n']} texts of {d.get('n_prompts')} prompts, "
            f"q = {d['q_value']:.2g}{placebo_clause(d)}")
sci = st.column_config.NumberColumn(format="%.1e")
two = st.column_config.NumberColumn(format="%.2f")
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
             column_config={"p": sci, "q": sci, "generative q": sci, "accuracy": two, "AUC": two,
                            "generative AUC": two, "judge alone AUC": two, "added AUC": two})
skipped = {h["generative_skipped"] for h in result["hypotheses"] if h.get("generative_skipped")}
for reason in sorted(skipped):
    st.info(f"Generative test skipped: {reason}")
for step in result["failed_steps"]:
    st.warning(f"Failed step (start the same job again to retry it): {step}")

st.subheader("Evidence")
by_id = {h["id"]: h for h in result["hypotheses"]}
hid = st.selectbox("Hypothesis", list(by_id), format_func=lambda i: f"{i}: {by_id[i]['text']}")
val = store.validations(run_id, hypothesis_set)
tests = {r.test: r.result for r in val[val.hypothesis_id == hid].itertuples()}
disc, gen = tests.get("discriminative"), tests.get("generative")
scored = judged_texts(store.generations(run_id), disc) if disc else None
if scored is not None:
    scored = scored.rename(columns={"score": "score (B-like)"}).sort_values(
        "score (B-like)", ascending=False)
    left, right = st.columns(2)
    left.markdown("**Held-out texts judged most B-like**")
    left.dataframe(scored.head(8)[["side", "score (B-like)", "text"]], hide_index=True)
    right.markdown("**Held-out texts judged least B-like**")
    right.dataframe(scored.tail(8)[["side", "score (B-like)", "text"]], hide_index=True)
if gen and gen.get("pairs"):
    st.markdown("**Generated pairs** — log-prob difference (B − A, summed over the text and "
                "its end); the hypothesis predicts a larger difference for the favoured text")
    pairs = pd.DataFrame(gen["pairs"])
    pairs["Δ favoured"] = gen["diffs"]["favoured"]
    pairs["Δ contrast"] = gen["diffs"]["contrast"]
    st.dataframe(pairs[["Δ favoured", "favoured", "Δ contrast", "contrast"]].head(20),
                 hide_index=True, width="stretch")
features = store.method_result(run_id, "features", hypothesis_set)
linked = [r for r in (features or {}).get("links", []) if r["hypothesis_id"] == hid]
if linked:
    st.markdown(f"**Linked features** (feature lens, layer {features['layer']}; AUC of each "
                "feature's activation for this hypothesis on held-out texts — see the Features "
                "page): " + ", ".join(f"{r['latent']} ({r['auc']:.2f})" for r in linked))

st.subheader("Your verdict")
current = notes.get(hid, {})
with st.form(f"verdict-{run_id}-{hypothesis_set}-{hid}"):
    options = list(store.VERDICTS)
    verdict = st.radio("Verdict", options, horizontal=True,
                       index=options.index(current["verdict"]) if current else 2)
    note = st.text_area("Note", value=current.get("note", ""))
    if st.form_submit_button("Save verdict"):
        store.annotate(run_id, hypothesis_set, hid, verdict, note)
        st.success(f"Saved: {hid} {verdict}.")
