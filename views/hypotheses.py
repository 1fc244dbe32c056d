"""Hypotheses with their held-out tests, the evidence behind each, and the researcher's verdict."""
import pandas as pd
import streamlit as st

from dashboard import (assistant_key_inputs, current_run, get_store, jobs_panel, open_prompt,
                       prompt_texts, submit_job)
from modeldiff_core.config import ModelDiffError
from modeldiff_core.stages.hypotheses import heldout_size, judge_plan
from modeldiff_core.hypotheses.validation import judged_texts
from modeldiff_core.pipeline import config_for_run, config_to_dict
from modeldiff_core.stages.settings import HypothesisSettings
from modeldiff_core.render.fmt import (
    NEXT_STEPS,
    baseline_line,
    coverage_line,
    finding,
    generative_outcome,
    nothing_validated,
    own_summary,
    p_floor_note,
    placebo_clause,
    rates_clause,
    role,
    self_check_line,
)
from modeldiff_core.render.side_by_side import word_diff
from modeldiff_core.stages.own import OWN_SOURCE, OwnParams, busy_with, check_own
from modeldiff_core.results import current_result

PAIRS_SHOWN = 10  # generated pairs shown with their differences marked
store = get_store()
run_id = current_run()
if run_id is None:
    st.stop()

with st.expander("Propose and validate with an assistant",
                 expanded=st.session_state.get("propose_open", False)):
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
            job_id = submit_job("run", config_to_dict(config), run_id, api_key=api_key)
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
            "its tests on the discovery texts. What was tried and what to try next: below.")
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
val = store.validations(run_id, hypothesis_set)  # the set's tests: its alpha, the evidence
stored_alpha = val["alpha"].dropna()
alpha = float(stored_alpha.iloc[0]) if len(stored_alpha) else HypothesisSettings().alpha
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
                 "generative test": generative_outcome(h, alpha),
                 "generative AUC": g.get("auc"), "generative q": g.get("q_value"),
                 "source": h["source"], "verdict": notes.get(h["id"], {}).get("verdict", "")})
validated = [h for h in result["hypotheses"] if h["validated"]]
by_id = {h["id"]: h for h in result["hypotheses"]}
st.markdown(f"**{len(validated)} of {len(rows)} hypotheses validated**")
for h in validated:  # st.text: model and assistant text is shown as plain text, never markup
    d = h["discriminative"]
    yours = " (yours)" if h["source"] == OWN_SOURCE else ""
    if h.get("explained_by"):  # folded under its headline, which comes just before it
        st.text(f"    {h['id']}{yours} ({role(h)}): {h['text']}")
        continue
    st.text(f"VALIDATED  {h['id']}{yours}: {finding(h)}  — accuracy {d['accuracy']:.2f}, "
            f"AUC {d['auc']:.2f}, n = {d['n']} texts of {d.get('n_prompts')} prompts, "
            f"q = {d['q_value']:.2g}{placebo_clause(d)}")
sci = st.column_config.NumberColumn(format="%.1e")
two = st.column_config.NumberColumn(format="%.2f")
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
             column_config={"p": sci, "q": sci, "generative q": sci, "accuracy": two, "AUC": two,
                            "generative AUC": two, "judge alone AUC": two, "added AUC": two})
own = [h for h in result["hypotheses"] if h["source"] == OWN_SOURCE]
if own:
    st.markdown("**Your hypotheses**")
    for h in own:
        st.text(own_summary(h))
skipped = {h["generative_skipped"] for h in result["hypotheses"] if h.get("generative_skipped")}
for reason in sorted(skipped):  # one line for what every hypothesis' row says again
    st.info(f"Generative test skipped: {reason}")
floor = p_floor_note(result["hypotheses"])
if floor:
    st.caption(floor)
for step in result["failed_steps"]:
    st.warning(f"Failed step (start the same job again to retry it): {step}")
if not validated:
    st.warning("No hypothesis validated on this run's held-out texts.")
    for line in nothing_validated(result, alpha):
        st.write(line)
    st.markdown("**Next steps**")
    cols = st.columns(len(NEXT_STEPS))
    for col, (title, why) in zip(cols, NEXT_STEPS):
        col.markdown(f"**{title}**: {why}.")
    if st.session_state.get("in_app"):  # the Generate page exists only in the navigation
        cols[0].page_link("views/generate.py", label="Generate more texts",
                          icon=":material/add_circle:")
    if cols[1].button("Open the assistant's form", icon=":material/smart_toy:"):
        st.session_state["propose_open"] = True  # the form above opens on this rerun
        st.rerun()
    cols[2].caption("The form below is open.")

with st.expander("Test your own hypothesis", expanded=not validated):
    st.caption("One sentence on how B differs from A. It is tested on the held-out texts with "
               "the same tests as the proposed ones and enters this run's ledger (the "
               "Benjamini-Hochberg family). The offline judge needs keywords or a regular "
               "expression saying when a text shows it; an LLM assistant's set judges the "
               "sentence itself. Its test is as blind as your reading: draw it from discovery "
               "texts (the prompts view can show those alone), not from held-out ones.")
    own_set = st.selectbox("Into the set", [x for x in sets if " [" not in x] or ["offline"])
    with st.form("own-hypothesis"):
        own_text = st.text_input("Your hypothesis", placeholder="Model B mentions cats more often")
        own_dir = st.radio("Shown more by", ["B", "A"], horizontal=True)
        own_words = st.text_input("Keywords (comma-separated)")
        own_regex = st.text_input("or a regular expression")
        own_key, own_url = assistant_key_inputs(own_set, key="own")  # an LLM set's judge
        if st.form_submit_button("Test my hypothesis"):
            try:
                busy = busy_with(store, run_id)
                if busy:
                    raise ModelDiffError(f"{busy} is working on this run: test your hypothesis "
                                         "when it has ended")
                params = check_own(store, OwnParams(
                    run_id, own_text, own_set, own_dir,
                    tuple(w.strip() for w in own_words.split(",")), own_regex or None, own_url),
                    own_key)
                job_id = submit_job("hypothesis", params.to_dict(), run_id, api_key=own_key)
                st.success(f"Started {job_id}: your hypothesis is tested; its row appears in "
                           "the table above when the job ends.")
            except ModelDiffError as err:
                st.error(str(err))

if not by_id:
    st.stop()
st.subheader("Evidence")
hid = st.selectbox("Hypothesis", list(by_id), format_func=lambda i: f"{i}: {by_id[i]['text']}")
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
    ends = list(dict.fromkeys(scored.head(8)["prompt_id"].tolist() +
                              scored.tail(8)["prompt_id"].tolist()))
    open_prompt([int(i) for i in ends], prompt_texts(run_id), f"evidence-{hid}")
if gen and gen.get("pairs"):
    st.markdown("**Generated pairs** — log-prob difference (B − A, summed over the text and "
                "its end); the hypothesis predicts a larger difference for the favoured text. "
                "Marked: what differs between the two texts of a pair.")
    diffs = gen["diffs"]
    for i, pair in enumerate(gen["pairs"][:PAIRS_SHOWN]):
        left, right = st.columns(2)
        fav, con = word_diff(pair["favoured"], pair["contrast"])
        left.html(f"<b>Δ {diffs['favoured'][i]:+.2f}</b> · favoured: {fav}")  # escaped text
        right.html(f"<b>Δ {diffs['contrast'][i]:+.2f}</b> · contrast: {con}")
    if len(gen["pairs"]) > PAIRS_SHOWN:
        st.caption(f"{PAIRS_SHOWN} of {len(gen['pairs'])} pairs shown.")
elif gen:
    st.caption(f"Generative test: {generative_outcome(by_id[hid], alpha)}")
features = store.method_result(run_id, "features", hypothesis_set)
linked = [r for r in (features or {}).get("links", []) if r["hypothesis_id"] == hid]
if linked:
    st.markdown(f"**Linked features** (feature lens, layer {features['layer']}; AUC of each "
                "feature's activation for this hypothesis on held-out texts — see the Features "
                "page): " + ", ".join(f"{r['latent']} ({r['auc']:.2f})" for r in linked))

st.subheader(f"Your verdict on {hid}")
st.text(by_id[hid]["text"])  # the hypothesis the verdict is saved for
current = notes.get(hid, {})
with st.form(f"verdict-{run_id}-{hypothesis_set}-{hid}"):
    options = list(store.VERDICTS)
    verdict = st.radio("Verdict", options, horizontal=True,
                       index=options.index(current["verdict"]) if current else 2)
    note = st.text_area("Note", value=current.get("note", ""))
    if st.form_submit_button("Save verdict"):
        store.annotate(run_id, hypothesis_set, hid, verdict, note)
        st.success(f"Saved: {hid} {verdict}.")
