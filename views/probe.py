"""The probe game: an assistant told a hypothesis talks to a hidden model (A or B, a fair coin
each round) and must say which it is; the same game without the hypothesis is the control."""
import pandas as pd
import streamlit as st

from dashboard import (assistant_key_inputs, found, get_store, jobs_panel, progress_line, run_and_set,
                       submit_job)
from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.probe.settings import Params, ProbeSettings
from modeldiff_core.methods.probe.stage import stored_probe, text_only
from modeldiff_core.render.figures import probe_figure
from modeldiff_core.methods.probe.show import against_control, conclusion

st.caption("Each round the assistant, told the hypothesis, writes a probe; a hidden model — A or "
           "B by a fair coin — answers it; the assistant guesses which model it was. The control "
           "guesses the same rounds without the hypothesis. A hypothesis is probe-validated when "
           "it beats the control on the rounds where only one arm was right (McNemar's exact "
           "test, one-sided; q-values Benjamini-Hochberg across the probed hypotheses): beating "
           "1/2 is not enough, as the models' style alone can give them away.")
store = get_store()
run_id, hypothesis_set = run_and_set()
hyps = store.hypotheses(run_id, hypothesis_set)
val = store.validations(run_id, hypothesis_set)
validated = sorted(set(val.loc[val["validated"].fillna(False).astype(bool), "hypothesis_id"])) \
    if not val.empty else []
disc = val[val["test"] == "discriminative"] if not val.empty else val
strongest = disc[disc["hypothesis_id"].isin(validated)].sort_values("p_value")[
    "hypothesis_id"].tolist() if validated else []
alpha = float(val["alpha"].dropna().iloc[0]) if not val.empty and val["alpha"].notna().any() \
    else 0.05
summary = stored_probe(store, run_id, hypothesis_set, alpha)

with st.expander("Play the probe game", expanded=summary is None):
    refusal = text_only(store, run_id)
    if refusal:
        st.error(refusal)
    texts = dict(zip(hyps["hypothesis_id"], hyps["text"]))
    size = st.radio("Size", ["quick look: the strongest validated hypothesis",
                             "every validated hypothesis"], horizontal=True)
    chosen = st.multiselect("Hypotheses", list(texts), key=f"probe-chosen-{size[:5]}",
                            default=strongest[:1] if size.startswith("quick") else validated,
                            format_func=lambda i: f"{i}: {texts[i]}")
    cols = st.columns(4)
    default = ProbeSettings()
    rounds = cols[0].number_input("Rounds per game", 1, 200, default.rounds)
    games = cols[1].number_input("Games", 1, 50, default.games)
    answers = cols[2].number_input("Answers per probe", 1, 32, default.answers)
    examples = cols[3].number_input("Labelled examples shown (LLM)", 0, 20, default.examples)
    st.caption(f"{2 * len(chosen) * int(rounds) * int(games)} rounds to play: each hypothesis' "
               "games and as many for the control, each round a probe, its answers and a guess.")
    api_key, base_url = assistant_key_inputs(hypothesis_set)  # its assistant judges or plays
    if st.button("Play", type="primary", disabled=bool(refusal)):
        try:
            if not chosen:
                raise ModelDiffError("choose at least one hypothesis to probe")
            settings = ProbeSettings(int(rounds), int(games), int(answers), int(examples), alpha)
            settings.check()
            params = Params(run_id, hypothesis_set, chosen, settings, base_url)
            # Endpoint models' keys typed on the Models page: this session's only, never stored.
            job_id = submit_job("probe", params.to_dict(), run_id, api_key=api_key,
                                model_keys=st.session_state.get("model_keys"))
            st.success(f"Started {job_id}.")
        except ModelDiffError as err:
            st.error(str(err))
    jobs_panel()

live = store.list_jobs(["queued", "running"])
for job in live[(live["kind"] == "probe") & (live["run_id"] == run_id)].itertuples():
    st.info(f"Playing now ({job.job_id}): {progress_line(job)}. The rounds show here when the "
            "game ends.")
if summary is None or not summary["hypotheses"]:
    st.info("No game played for these hypotheses yet: play one above.")
    st.stop()
found(conclusion(summary))
probed = summary["hypotheses"]
for h in probed:  # st.text: hypothesis text is never markup
    control = against_control(h) if h["control"]["n"] else "control not played yet"
    st.text(f"{'PROBE-VALIDATED' if h['probe_validated'] else 'not probe-validated'}  "
            f"{h['hypothesis_id']}: {h['correct']}/{h['n']} right (accuracy {h['accuracy']:.2f}); "
            f"{control} — {h['text']}")
rows = [{"id": h["hypothesis_id"], "probe-validated": "yes" if h["probe_validated"] else "no",
         "hypothesis": h["text"], "right": f"{h['correct']}/{h['n']}", "accuracy": h["accuracy"],
         "control": f"{h['control']['correct']}/{h['control']['n']}",
         "control accuracy": h["control_accuracy"],
         "won / lost": f"{h['paired']['won']} / {h['paired']['lost']}",
         "p (paired)": h["p_value"], "q": h["q_value"]} for h in probed]
sci = st.column_config.NumberColumn(format="%.1e")
two = st.column_config.NumberColumn(format="%.2f")
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
             column_config={"p (paired)": sci, "q": sci, "accuracy": two,
                            "control accuracy": two})
st.plotly_chart(probe_figure(probed), key="probe-accuracy")

st.subheader("Games")
by_id = {h["hypothesis_id"]: h for h in probed}
hid = st.selectbox("Hypothesis", list(by_id), format_func=lambda i: f"{i}: {by_id[i]['text']}")
arm = st.radio("Arm", ["with the hypothesis", "control (empty hypothesis)"], horizontal=True)
h = by_id[hid]
part = h if arm.startswith("with") else h["control"]
games_played = sorted({r["game"] for r in part["rounds"]})
if not games_played:  # a job still playing the hypothesis' games, or stopped before this arm
    st.info("This arm has no round stored yet.")
    st.stop()
game = st.radio("Game", games_played, horizontal=True, format_func=lambda g: f"game {g + 1}")
per_game = {g["game"]: g for g in part["per_game"]}[game]
st.markdown(f"**Game {game + 1}: {per_game['correct']} of {per_game['n']} rounds guessed right**")
for r in [r for r in part["rounds"] if r["game"] == game]:
    mark = "right" if r["correct"] else "wrong"
    with st.container(border=True):
        # st.text: probes and answers are model text, shown as plain text, never markup.
        st.text(f"Round {r['round'] + 1} — probe: {r['probe']}")
        for i, answer in enumerate(r["answers"]):
            st.text(f"  answer {i + 1}: {answer}")
        st.text(f"Guess: model {r['guess']} (confidence {r['confidence']:.2f}) · it was model "
                f"{r['hidden']} · {mark}")
st.markdown("**By probe** — does a probe tell the models apart every time, or never?")
st.dataframe(pd.DataFrame(part["per_probe"]), hide_index=True, width="stretch",
             column_config={"accuracy": two})
