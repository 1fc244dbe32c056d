"""The UMAP map of both models' texts, the cluster table, and a cluster's texts side by side."""
import streamlit as st

from dashboard import current_run, get_store, open_prompt, prompt_texts
from modeldiff_core.render.figures import map_figure
from modeldiff_core.stages.export import export_bytes, export_name

MAX_READ = 20  # selected texts offered in full, one expander each

store = get_store()
run_id = current_run()
if run_id is None:
    st.stop()
points, clusters = store.points(run_id), store.clusters(run_id)
prompt_text = prompt_texts(run_id)
if points.empty:
    st.info("This run has no map yet: its job is still generating or clustering.")
    st.stop()

cols = st.columns([1, 1, 3])
for col, side in zip(cols, "AB"):
    # Made on click (deferred), so a large run costs nothing until someone downloads it.
    col.download_button(f"Download {side}'s texts", lambda side=side: export_bytes(store, run_id, side),
                        file_name=export_name(run_id, side), mime="application/jsonl",
                        on_click="ignore", key=f"export-{run_id}-{side}")
cols[2].caption("JSONL with prompt, output, sample, model, group, id: the format `outputs:` "
                "reads, so the run can be re-imported or joined with other tools.")

cols = st.columns([1, 2])
color_by = cols[0].radio("Colour by", ["model", "cluster"], horizontal=True)
search = cols[1].text_input("Find texts containing", key="map-search")
hits = points["text"].str.contains(search, case=False, regex=False) if search else None
if search:
    cols[1].caption(f"{int(hits.sum())} texts contain “{search}”: ringed on the map.")
terms = dict(zip(clusters.cluster_id, clusters.top_terms))
event = st.plotly_chart(map_figure(points, color_by, terms=terms, highlight=hits),
                        on_select="rerun", selection_mode=("box", "lasso"),
                        key=f"map-{run_id}-{color_by}-{search}",
                        config={"modeBarButtonsToAdd": ["select2d", "lasso2d"],
                                "displayModeBar": True})
selected = [p["customdata"] for p in (event.selection.points if event and event.selection else [])
            if "customdata" in p]
if selected:
    chosen = points.iloc[sorted(set(int(i) for i in selected))]
    st.write(f"**{len(chosen)} selected** — A: {(chosen.side == 'A').sum()}, "
             f"B: {(chosen.side == 'B').sum()}, from {chosen.prompt_id.nunique()} prompts")
    st.dataframe(chosen[["side", "prompt_id", "cluster_id", "text"]], hide_index=True,
                 width="stretch")
    open_prompt(chosen["prompt_id"].astype(int).unique().tolist(), prompt_text, "selection")
    for r in chosen.head(MAX_READ).itertuples():
        with st.expander(f"{r.side} · prompt #{r.prompt_id} · cluster {r.cluster_id}: "
                         f"{r.text[:80]}"):
            st.text(r.text)
else:
    st.caption("Select points with the box or lasso tool (top right of the map) to read their "
               "texts and open their prompts side by side.")

st.subheader("Clusters")
cols = st.columns(3)
only_sig = cols[0].checkbox("Only q < 0.05")
min_size = cols[1].number_input("Minimum size", 0, 100000, 0)
term = cols[2].text_input("Top terms contain")
table = clusters.assign(size=clusters.size_a + clusters.size_b)
if only_sig:
    table = table[table.q_value < 0.05]
table = table[table["size"] >= min_size]
if term:
    table = table[table.top_terms.str.contains(term, case=False, regex=False)]
st.caption("Counts, log odds and p/q over **all texts** (descriptive, for the map). p is "
           "prompt-level: per prompt, B's share of texts in the cluster minus A's, sign-flipped "
           "over prompts; fisher_p counts texts as if independent. disc_q is the same test on "
           "**discovery texts only**: the column proposal reads. Cluster -1 is noise: counted, "
           "never tested or mined.")
columns = ["cluster_id", "size_a", "size_b", "share_b", "log_odds", "ci_low", "ci_high",
           "p_value", "q_value", "fisher_p", "n_prompts", "disc_q_value", "top_terms"]
st.dataframe(table[[c for c in columns if c in table.columns]].sort_values("q_value"),
             hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.1e")
                            for c in ("p_value", "q_value", "fisher_p", "disc_q_value")})

st.subheader("A cluster's texts, side by side")
# The most significant clusters first; one with texts of both models opens first.
order = clusters.assign(both=(clusters.size_a > 0) & (clusters.size_b > 0)).sort_values(
    ["both", "q_value"], ascending=[False, True])
cid = st.selectbox("Cluster", order.cluster_id.tolist(),
                   format_func=lambda c: f"cluster {c} — {terms[c]}")
members = points[points.cluster_id == cid]
open_prompt(members.groupby("prompt_id").size().sort_values(ascending=False).index
            .astype(int).tolist(), prompt_text, f"cluster-{cid}")
left, right = st.columns(2)
for col, side in ((left, "A"), (right, "B")):
    texts = members[members.side == side]
    col.markdown(f"**Model {side}** ({len(texts)} texts)")
    col.dataframe(texts[["prompt_id", "text"]], hide_index=True, width="stretch", height=400)
