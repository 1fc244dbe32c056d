"""The UMAP map of both models' texts, the cluster table, and a cluster's texts side by side."""
import streamlit as st

from dashboard import current_run, get_store
from modeldiff_core.render.figures import map_figure
from modeldiff_core.stages.export import export_bytes, export_name

store = get_store()
run_id = current_run()
if run_id is None:
    st.stop()
points, clusters = store.points(run_id), store.clusters(run_id)
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

color_by = st.radio("Colour by", ["model", "cluster"], horizontal=True)
event = st.plotly_chart(map_figure(points, color_by), on_select="rerun",
                        selection_mode=("box", "lasso"), key=f"map-{run_id}-{color_by}")
selected = [p["customdata"] for p in (event.selection.points if event and event.selection else [])
            if "customdata" in p]
if selected:
    chosen = points.iloc[sorted(set(int(i) for i in selected))]
    st.write(f"**{len(chosen)} selected** — A: {(chosen.side == 'A').sum()}, "
             f"B: {(chosen.side == 'B').sum()}")
    st.dataframe(chosen[["side", "cluster_id", "text"]], hide_index=True, width="stretch")
else:
    st.caption("Select points with the box or lasso tool to read their texts.")

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
cluster_ids = clusters.sort_values("q_value").cluster_id.tolist()
cid = st.selectbox("Cluster", cluster_ids,
                   format_func=lambda c: f"cluster {c} — {clusters.set_index('cluster_id').top_terms[c]}")
left, right = st.columns(2)
for col, side in ((left, "A"), (right, "B")):
    texts = points[(points.cluster_id == cid) & (points.side == side)]
    col.markdown(f"**Model {side}** ({len(texts)} texts)")
    col.dataframe(texts[["text"]], hide_index=True, width="stretch", height=400)
