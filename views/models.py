"""Choose model A and model B; each spec is checked before anything starts."""
import streamlit as st

from dashboard import get_store
from modeldiff_core.config import ModelDiffError
from modeldiff_core.models.organisms import ORGANISMS
from modeldiff_core.models.sources import make_source
from modeldiff_core.stages.prompts import prompts_from_files
from modeldiff_core.models.sources.outputs_file import save_upload
from modeldiff_core.models.spec import DTYPES, QUANTS, ModelSpec, check_spec, is_built
from modeldiff_core.models.generation import GenerationSettings

get_store()
SOURCES = ["built-in organism", "HF id", "local directory", "file of answers", "API endpoint"]


def kept(key: str, value=None):
    """A form field's last value, kept apart from its widget: Streamlit drops a widget's value
    when a run does not draw it, so switching a side's source and back would lose it."""
    if value is not None:
        st.session_state[f"kept-{key}"] = value
    return st.session_state.get(f"kept-{key}")


def outputs_form(side: str, default: ModelSpec) -> ModelSpec:
    """`outputs:PATH`: an uploaded file (kept in the cache by its hash) or a path."""
    upload = st.file_uploader("Answers: JSONL, CSV or Parquet with `prompt` and `output`",
                              type=["jsonl", "json", "csv", "parquet"], key=f"up-{side}")
    path = st.text_input("…or the path of one", value=kept(f"path-{side}") or (
        default.name if default.kind == "outputs" else ""), key=f"path-{side}")
    kept(f"path-{side}", path)
    scorer = st.text_input("Scorer for log-probs (optional: HF id, directory or organism:NAME)",
                           value=default.scorer or "", key=f"sc-{side}")
    if upload is not None:
        try:
            path = str(save_upload(upload.name, upload.getvalue()))
        except ModelDiffError as err:
            st.error(str(err))
    return ModelSpec(f"outputs:{path.strip()}", scorer=scorer.strip() or None)


def endpoint_form(side: str, default: ModelSpec) -> ModelSpec:
    """`openai:MODEL` (OpenAI or any compatible server: vLLM, SGLang, TGI, llama.cpp) or
    `anthropic:MODEL`; the key stays in this session (and a job's memory), never stored."""
    endpoint = default.kind in ("openai", "anthropic")
    kind = st.radio("API", ["openai", "anthropic"], horizontal=True, key=f"api-{side}",
                    index=1 if default.kind == "anthropic" else 0)
    name = st.text_input("Model name", value=default.name if endpoint else "", key=f"ep-{side}")
    base_url = st.text_input("Base URL (empty: the provider's; e.g. http://host:8000/v1 for vllm "
                             "serve)", value=default.base_url or "", key=f"url-{side}")
    key = st.text_input("API key (empty: from the environment)", type="password",
                        key=f"key-{side}")
    keys = st.session_state.setdefault("model_keys", {})
    if key:
        keys[side] = key
    else:
        keys.pop(side, None)
    return ModelSpec(f"{kind}:{name.strip()}", base_url=base_url.strip() or None)


def spec_form(side: str, default: ModelSpec) -> ModelSpec:
    st.subheader(f"Model {side}")
    is_org = default.model.startswith("organism:")
    index = {"outputs": 3, "openai": 4, "anthropic": 4, "organism": 0}.get(default.kind, 1)
    source = st.radio("Source", SOURCES, index=index, key=f"src-{side}", horizontal=True)
    if source == "file of answers":
        return outputs_form(side, default)
    if source == "API endpoint":
        return endpoint_form(side, default)
    if source == "built-in organism":
        current = kept(f"org-{side}") or (default.model.split(":", 1)[1] if is_org else "base")
        name = st.selectbox("Organism", ORGANISMS, index=ORGANISMS.index(current)
                            if current in ORGANISMS else 0, key=f"org-{side}")
        kept(f"org-{side}", name)
        model = f"organism:{name}"
    else:
        label = "HF id (e.g. Qwen/Qwen2.5-0.5B-Instruct)" if source == "HF id" else "Directory"
        model = st.text_input(label, value=kept(f"model-{side}") or ("" if is_org else default.model),
                              key=f"model-{side}")
        kept(f"model-{side}", model)
    cols = st.columns(3)
    dtype = cols[0].selectbox("dtype", DTYPES, index=DTYPES.index(default.dtype), key=f"dt-{side}")
    quant = cols[1].selectbox("Quantization", QUANTS, index=QUANTS.index(default.quant),
                              key=f"q-{side}")
    revision = cols[2].text_input("Revision", value=default.revision or "", key=f"rev-{side}")
    adapter = st.text_input("LoRA adapter directory (optional)", value=default.adapter or "",
                            key=f"ad-{side}")
    return ModelSpec(model.strip(), revision or None, dtype, quant, adapter.strip() or None)


a_default = st.session_state.get("spec_a", ModelSpec("organism:base"))
b_default = st.session_state.get("spec_b", ModelSpec("organism:cats"))
left, right = st.columns(2)
with left:
    spec_a = spec_form("A", a_default)
with right:
    spec_b = spec_form("B", b_default)

st.divider()
same = st.columns([2, 1, 3])
level = same[1].selectbox("level", ["8bit", "4bit"], label_visibility="collapsed")
if same[0].button("Same model at two quantization levels"):
    # B becomes A at the chosen level; A keeps no quantization.
    st.session_state["spec_a"] = ModelSpec(spec_a.model, spec_a.revision, spec_a.dtype, "none",
                                           spec_a.adapter)
    st.session_state["spec_b"] = ModelSpec(spec_a.model, spec_a.revision, spec_a.dtype, level,
                                           spec_a.adapter)
    for side in "AB":  # the widgets must show the new specs
        for k in ("src", "org", "model", "dt", "q", "rev", "ad"):
            st.session_state.pop(f"{k}-{side}", None)
            st.session_state.pop(f"kept-{k}-{side}", None)
    st.rerun()

if st.button("Check and use this pair", type="primary"):
    # A check reads configs only: an organism not built yet is trained by the run's job, with
    # progress, never inside this page. A failed A stops the check.
    try:
        for side, spec in (("A", spec_a), ("B", spec_b)):
            with st.spinner(f"Checking model {side}..."):
                try:
                    if not spec.has_weights:  # a file is read, a server asked once
                        key = st.session_state.get("model_keys", {}).get(side)
                        make_source(spec, None, None, key).check(GenerationSettings())
                    else:
                        check_spec(spec)
                except ModelDiffError as err:
                    raise ModelDiffError(f"Model {side}: {err}") from None
        paired = ""
        if "outputs" in (spec_a.kind, spec_b.kind):  # the run's prompts: those both answered
            prompt_set, notes = prompts_from_files(spec_a, spec_b)
            paired = "; ".join([f"{len(prompt_set.prompts)} prompts paired", *notes]) + "."
    except ModelDiffError as err:
        st.error(str(err))
    else:
        st.session_state["spec_a"], st.session_state["spec_b"] = spec_a, spec_b
        unbuilt = [s.model for s in (spec_a, spec_b) if not is_built(s)]
        later = (f" {', '.join(dict.fromkeys(unbuilt))} will be built when the run starts "
                 "(a few minutes on a CPU; the job shows its training)." if unbuilt else "")
        st.success(f"Pair set: A = {spec_a.label}, B = {spec_b.label}.{later} "
                   f"Next: the Generate page. {paired}")
        if spec_a == spec_b:
            st.warning("A and B are the same model with the same settings: the run compares it "
                       "with itself, a null check (nothing should validate). Change one side for "
                       "a comparison.")
