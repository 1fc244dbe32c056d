"""Feature lens: sparse dictionaries over one layer's MLP — what B adds there as features, which
of them fire more on B's texts, their top texts and promoted tokens, their links to the
validated hypotheses, and B with its delta scaled."""
import pandas as pd
import streamlit as st

from dashboard import (assistant_key_inputs, figure_pair, found, get_store, jobs_panel,
                       run_and_set, submit_job)
from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.features.settings import DictionarySettings, FeatureSettings, Params
from modeldiff_core.methods.common.scales import parse_scales
from modeldiff_core.models.spec import ModelSpec, needs_weights
from modeldiff_core.render.figures import feature_scaling_figure
from modeldiff_core.methods.features.show import (conclusion, feature_caption, feature_tables,
                                                   scaling_setting, strongest_first)
from modeldiff_core.render.html import feature_tokens_html

st.caption("For a pair with one architecture: a sparse dictionary (a top-k transcoder, MLP input "
           "→ MLP output) fitted to A's MLP at one layer, and a delta dictionary fitted to what "
           "B's MLP adds there with A's frozen. Its features are what B adds; scaling them inside "
           "B (α = 0: removed, α = 1: B itself) shows whether they carry a behaviour.")
store = get_store()
run_id, hypothesis_set = run_and_set()
lens = store.method_result(run_id, "features", hypothesis_set)

with st.expander("Run the feature lens on this run", expanded=lens is None):
    size = st.radio("Size", ["quick look", "full study (the CLI's defaults)"], horizontal=True)
    default = FeatureSettings.for_page() if size == "quick look" else FeatureSettings()
    cols = st.columns(4)
    layer_text = cols[0].text_input("Layer (empty: the layer lens's first, else the middle)", "")
    width = cols[1].number_input("Base latents per model dimension", 1, 64,
                                 default.dictionary.width, key=f"width-{size}")
    steps = cols[2].number_input("Training steps per dictionary", 1, 100_000,
                                 default.dictionary.steps, key=f"steps-{size}")
    n_gen = cols[3].number_input("Fresh generations per setting", 0, 512, default.n_generations,
                                 key=f"gen-{size}")
    alphas_text = st.text_input("Scales of the delta inside B (0: removed, 1: B itself)",
                                ", ".join(f"{a:g}" for a in default.alphas))
    api_key, base_url = assistant_key_inputs(hypothesis_set)  # its assistant judges or plays
    if st.button("Run feature lens", type="primary"):
        try:
            if layer_text.strip() and not layer_text.strip().isdigit():
                raise ModelDiffError(f"the layer must be a whole number, got {layer_text!r}")
            settings = FeatureSettings(
                layer=int(layer_text) if layer_text.strip() else None,
                dictionary=DictionarySettings(width=int(width), steps=int(steps)),
                alphas=tuple(parse_scales(alphas_text)), n_generations=int(n_gen))
            settings.check()
            run = store.get_run(run_id)
            for side in ("a", "b"):  # files of answers and endpoints have no weights to read
                needs_weights(ModelSpec.from_dict(run[f"spec_{side}"]), "the feature lens")
            if store.generations(run_id, split="validation").empty:
                raise ModelDiffError("this run has no held-out texts yet: let its job finish")
            params = Params(run_id, hypothesis_set, settings, base_url)
            job_id = submit_job("features", params.to_dict(), run_id, api_key=api_key)
            st.success(f"Started {job_id}.")
        except ModelDiffError as err:
            st.error(str(err))
    jobs_panel()

if lens is None:
    st.info("No feature lens for this run yet: run it above.")
    st.stop()
st.caption(feature_caption(lens))
found(conclusion(lens))
for note in lens.get("notes", []):
    st.info(note)
head, rows = feature_tables(lens)["Dictionary quality (held-out texts)"]
st.markdown("**Dictionary quality** (held-out texts; LM loss: the reconstruction in place of "
            "the MLP's output, error term dropped)")
st.dataframe(pd.DataFrame(rows, columns=head), hide_index=True)

# ------------------------------------------------------------------ the feature table
st.subheader("Delta features")
table = pd.DataFrame(lens["features"])
top = {t["latent"]: t for t in lens["top_features"]}
table["promotes"] = [" ".join(top[i]["promoted"][:5]) if i in top else "" for i in table["latent"]]
left, right = st.columns([3, 1])
search = left.text_input("Search (feature number, promoted token or a word of its top texts)")
only_b = right.checkbox("B-specific only", value=True)
shown = table[table["b_specific"]] if only_b else table
if search.strip():
    word = search.strip().lower()
    hit = {i for i, t in top.items() if any(word in x["text"].lower() for x in t["texts"])}
    shown = shown[(shown["latent"].astype(str) == word)
                  | shown["promotes"].str.lower().str.contains(word, regex=False)
                  | shown["latent"].isin(hit)]
three, sci = st.column_config.NumberColumn(format="%.3f"), st.column_config.NumberColumn(format="%.1e")
st.dataframe(shown[["latent", "freq_a", "freq_b", "mean_a", "mean_b", "effect", "t", "p_value",
                    "q_value", "b_specific", "promotes"]], hide_index=True,
             column_config={"freq_a": three, "freq_b": three, "mean_a": three, "mean_b": three,
                            "effect": three, "t": st.column_config.NumberColumn(format="%.1f"),
                            "p_value": sci, "q_value": sci})

# -------------------------------------------------------------------- one feature
if top:
    # The strongest B-specific feature first: the page opens on what matters most.
    ranked = [f["latent"] for f in strongest_first(lens["features"])]
    order = [i for i in ranked if i in top] + [i for i in top if i not in set(ranked)]
    latent = st.selectbox("Feature", order, format_func=lambda i: f"feature {i}: promotes "
                          + " ".join(top[i]["promoted"][:5]))
    feature = top[latent]
    st.markdown(f"**Top texts of feature {latent}** (tokens shaded by its activation; the side "
                "that wrote each text beside it)")
    st.text("promotes: " + "  ".join(feature["promoted"]))  # plain text: tokens are not markup
    for t in feature["texts"]:
        st.caption(f"model {t['side']} · max activation {t['activation']:.3f}")
        st.html(feature_tokens_html(t["tokens"]))

# ------------------------------------------------------------- links and α curves
links = pd.DataFrame(lens.get("links", []))
texts = {h["hypothesis_id"]: h["text"] for h in lens.get("hypotheses", [])}
scaling = pd.DataFrame(lens.get("scaling", []))
for hid, text in texts.items():
    st.subheader(hid)
    st.text(text)  # plain text: hypothesis-derived wording is never markup
    mine = links[links["hypothesis_id"] == hid] if not links.empty else links
    if not mine.empty:
        st.markdown("Features that best predict it (AUC on held-out texts): " + ", ".join(
            f"{r.latent} ({r.auc:.2f})" for r in mine.itertuples()))
    part = scaling[scaling["hypothesis_id"] == hid] if not scaling.empty else scaling
    if part.empty:
        continue
    on = lens.get("measured_on", {}).get(hid, "evidence texts")  # older lenses: evidence
    figure_pair(feature_scaling_figure, part,
                [("logprob_gap", f"log-prob gap to A on its {on}"),
                 ("behaviour_rate", "behaviour rate in fresh generations")], f"feat-{hid}")
    st.dataframe(pd.DataFrame({"setting": [scaling_setting(r) for r in part.to_dict("records")],
                               "log-prob gap to A": part["logprob_gap"],
                               "behaviour rate": part["behaviour_rate"]}), hide_index=True)
