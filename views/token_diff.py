"""Token diff: where two models' probabilities part on one text."""
import streamlit as st

from dashboard import current_run, get_jobs, get_store
from modeldiff_core.config import ModelDiffError
from modeldiff_core.context import Context
from modeldiff_core.methods.registry import method
from modeldiff_core.methods.token_diff.diff import TokenDiff
from modeldiff_core.methods.token_diff.settings import Params as TokenParams
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.render.html import token_strip_html
from modeldiff_core.render.report import evidence_texts

store = get_store()


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
        run_id = current_run()
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
                params = TokenParams(spec_a, spec_b, text, prompt.strip() or None)
                st.session_state["token_view"] = TokenDiff.from_dict(
                    method("token-diff").run(None, params, Context(cache=cache)))
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


token_view_ui()
