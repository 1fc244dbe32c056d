"""Prompts and sampling settings; start generation + embedding + clustering + hypotheses as a job."""
import streamlit as st

from dashboard import get_jobs, jobs_panel, submit_job
from modeldiff_core.config import ModelDiffError
from modeldiff_core.models.spec import ModelSpec, is_built
from modeldiff_core.pipeline import RunConfig, check_run, config_to_dict, run_id_for
from modeldiff_core.embedders import EMBEDDERS
from modeldiff_core.stages.settings import ClusterSettings, HypothesisSettings
from modeldiff_core.models.generation import GenerationSettings
from modeldiff_core.stages.prompts import (BUILTIN_SETS, builtin_prompt_set, parse_prompt_upload,
                                           prompts_from_files)

jobs = get_jobs()
spec_a = st.session_state.get("spec_a", ModelSpec("organism:base"))
spec_b = st.session_state.get("spec_b", ModelSpec("organism:cats"))
st.write(f"**A** = `{spec_a.label}` · **B** = `{spec_b.label}` (change them on the Models page)")

files = "outputs" in (spec_a.kind, spec_b.kind)
source = "answers" if files else st.radio("Prompts", ["built-in", "upload JSONL/CSV"],
                                          horizontal=True)
prompt_set, problem, notes = None, None, []
if files:  # a file of answers brings its prompts: the run's are those both sides answered
    try:
        prompt_set, notes = prompts_from_files(spec_a, spec_b)
    except ModelDiffError as err:
        problem = str(err)
    for note in notes:
        st.info(note)
elif source == "built-in":
    both_organisms = spec_a.is_organism and spec_b.is_organism
    name = st.selectbox("Built-in set", BUILTIN_SETS, index=0 if both_organisms else 1)
    prompt_set = builtin_prompt_set(name)
else:
    upload = st.file_uploader("A JSONL file with a `prompt` field, or a CSV with a `prompt` column",
                              type=["jsonl", "csv"])
    if upload is not None:
        try:
            prompt_set = parse_prompt_upload(upload.getvalue(), upload.name)
        except ModelDiffError as err:
            problem = str(err)
if problem:
    st.error(problem)
if prompt_set is not None:
    st.caption(f"{len(prompt_set.prompts)} prompts ({prompt_set.name}); e.g. "
               f"“{prompt_set.prompts[0]}”")

g = GenerationSettings()
samples, max_new, temperature, chat = (g.samples_per_prompt, g.max_new_tokens, g.temperature,
                                       g.use_chat_template)
if spec_a.kind == spec_b.kind == "outputs":  # nothing is generated: the files say it all
    st.caption("Both sides are files of answers: their samples, lengths and temperatures are "
               "the files'. The seed sets which prompts are held out.")
    cols = st.columns(2)
    seed = cols[0].number_input("Seed", 0, 2**31 - 1, g.seed)
    if spec_a.scorer or spec_b.scorer:  # a scorer reads the answers under a template or not
        chat = cols[1].checkbox("Chat template (for the scorer)", value=g.use_chat_template)
else:
    cols = st.columns(5)
    samples = cols[0].number_input("Samples per prompt", 1, 64, g.samples_per_prompt)
    max_new = cols[1].number_input("Max new tokens", 1, 4096, g.max_new_tokens)
    temperature = cols[2].number_input("Temperature", 0.0, 2.0, g.temperature, step=0.1)
    seed = cols[3].number_input("Seed", 0, 2**31 - 1, g.seed)
    chat = cols[4].checkbox("Chat template", value=g.use_chat_template)
cols = st.columns(4)
method = cols[0].selectbox("Clustering", ["kmeans", "hdbscan"])
k = cols[1].number_input("Clusters (0 = auto)", 0, 200, 0)
embedder = cols[3].selectbox(
    "Embedder", EMBEDDERS, help="default: MiniLM reading whole answers; fast: a static table "
    "distilled from it (about 30x faster, a little less separable), for large runs; torch: "
    "the earlier path, answers cut at 256 tokens")
alpha = cols[2].number_input("alpha (q-value threshold)", 0.001, 0.5,
                             HypothesisSettings().alpha, step=0.01)

if st.button("Start", type="primary", disabled=prompt_set is None):
    config = RunConfig(spec_a, spec_b, prompt_set,
                       GenerationSettings(int(samples), int(max_new), float(temperature),
                                          seed=int(seed), use_chat_template=chat),
                       clustering=ClusterSettings(method, int(k) or None, embedder=embedder),
                       hypotheses=HypothesisSettings(alpha=float(alpha)), notes=tuple(notes),
                       model_keys=st.session_state.get("model_keys"))  # this session's only
    try:
        with st.spinner("Checking the pair..."):
            check_run(config)  # reads configs only; an organism is trained by the job
        # The run id names the models' files: known now unless an organism is still to build.
        built = is_built(spec_a) and is_built(spec_b)
        run_id = run_id_for(config) if built else None
        job_id = submit_job("run", config_to_dict(config), run_id,
                         model_keys=config.model_keys)
        if run_id:
            st.session_state["run_id"] = run_id
        st.success(f"Started {job_id}" + (f" for {run_id}" if run_id else
                   " (the organisms are built first: the job shows their training)")
                   + ". An interrupted job resumes from stored rows.")
    except ModelDiffError as err:
        st.error(str(err))

st.subheader("Jobs")
jobs_panel()
