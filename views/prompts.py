"""One prompt's answers from A and B side by side: picked or searched here, or opened from a map
selection, a cluster or a hypothesis' evidence; samples paired, differing words marked, the
hypotheses that fire on each answer named."""
import streamlit as st

from dashboard import current_run, get_store
from modeldiff_core.render.side_by_side import firing, paired_samples, prompt_table, word_diff
from modeldiff_core.results import current_result

store = get_store()
run_id = current_run()
if run_id is None:
    st.stop()
gens = store.generations(run_id)
if gens.empty:
    st.info("This run has no texts yet: its job is still generating.")
    st.stop()

cols = st.columns([3, 2], vertical_alignment="bottom")
query = cols[0].text_input("Search prompts and answers", key="prompt-search")
# Reading held-out answers before typing a hypothesis makes its held-out test less blind.
blind = cols[1].checkbox("Discovery prompts only", key="prompt-discovery",
                         help="The held-out prompts test hypotheses: read these before typing "
                              "your own and its test stays blind to them.")
table = prompt_table(gens[gens["split"] == "discovery"] if blind else gens, query)
if table.empty:
    st.warning(f"No prompt or answer contains “{query}”.")
    st.stop()
ids = table["prompt_id"].tolist()
wanted = st.session_state.get("prompt_id")
prompts = table.set_index("prompt_id")
prompt_id = st.selectbox(
    f"Prompt ({len(ids)} of {gens['prompt_id'].nunique()})", ids,
    index=ids.index(wanted) if wanted in ids else 0,
    format_func=lambda i: f"#{i} [{prompts.at[i, 'split']}] {prompts.at[i, 'prompt'][:120]}")
st.session_state["prompt_id"] = prompt_id
row = prompts.loc[prompt_id]
st.caption(f"Prompt #{prompt_id} · {row['split']} split · {row['A texts']} texts of A, "
           f"{row['B texts']} of B")
st.text(row["prompt"])  # model and prompt text: plain text, never markup

sets = store.hypothesis_sets(run_id)
chosen = st.selectbox("Hypotheses from", sets) if len(sets) > 1 else (sets or [None])[0]
hypotheses = current_result(store, run_id, chosen)["hypotheses"] if chosen else []
by_id = {h["id"]: h for h in hypotheses}
if any(h.get("predicate") for h in hypotheses):
    st.caption("Under each answer: the hypotheses whose keywords or pattern fire on it "
               "(✓ validated). Marked words: those the other model's answer of the same sample "
               "does not have at that place.")
for pair in paired_samples(gens, prompt_id):
    st.markdown(f"**Sample {pair['sample']}**")
    marked = word_diff(pair["A"] or "", pair["B"] or "")
    for col, side, html in zip(st.columns(2), "AB", marked):
        col.markdown(f"Model {side}")
        if pair[side] is None:
            col.caption(f"No answer of model {side} for this sample.")
            continue
        col.html(f"<div style='line-height:1.55'>{html}</div>")  # escaped text, our marks
        fired = firing(hypotheses, pair[side])
        if fired:
            col.caption("Fires: " + ", ".join(
                f"{i}{' ✓' if by_id[i]['validated'] else ''}" for i in fired))
