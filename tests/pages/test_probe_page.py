"""The Probe page on the demo run: nothing played yet, then a game started as a job, then the
accuracy beside its control, a game's transcript with the truth revealed, and the report's
section."""
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "views" / f"{name.lower()}.py"), default_timeout=120)


def test_the_probe_page_plays_a_game_and_shows_its_transcript(demo_run, monkeypatch):
    import dashboard

    db, run_id = demo_run
    monkeypatch.setenv("MODELDIFF_DB", str(db))
    at = _page("Probe").run()
    assert not at.exception
    assert any("No game played" in i.value for i in at.info)
    # Sized for a page: the strongest validated hypothesis alone; every one a click away.
    from modeldiff_core.store import Store

    with Store(db) as store:
        val = store.validations(run_id, "offline")
    disc = val[(val.test == "discriminative") & val.validated.fillna(False).astype(bool)]
    strongest = disc.sort_values("p_value").hypothesis_id.iloc[0]
    next(r for r in at.radio if r.label == "Size").set_value(
        "every validated hypothesis").run()
    hyps = next(m for m in at.multiselect if m.label == "Hypotheses")
    assert sorted(hyps.value) == sorted(disc.hypothesis_id)
    next(r for r in at.radio if r.label == "Size").set_value(
        "quick look: the strongest validated hypothesis").run()
    hyps = next(m for m in at.multiselect if m.label == "Hypotheses")
    assert hyps.value == [strongest]
    for label, value in (("Rounds per game", 3), ("Games", 1), ("Answers per probe", 2)):
        next(n for n in at.number_input if n.label == label).set_value(value)
    next(b for b in at.button if b.label == "Play").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job_id = re.search(r"job-[0-9a-f]+", at.success[0].value).group(0)
    job = dashboard._jobs(str(db)).wait(job_id, timeout=600)
    assert job["status"] == "done", job["error"]

    at = _page("Probe").run()
    assert not at.exception
    assert not any("Playing now" in i.value for i in at.info)  # the job is done
    table = at.dataframe[0].value
    assert list(table["right"].str.split("/").str[1]) == ["3"]
    assert table["control"].iloc[0].endswith("/3")
    assert at.get("plotly_chart")
    said = [e.proto.body for e in at.get("html") if "What it found" in e.proto.body]
    assert said and "probed hypotheses beat the control in conversation" in said[0]
    transcript = [t.value for t in at.text]
    assert any(re.search(r"h\d+: \d/3 right .*control \d/3 right", t) for t in transcript)
    assert sum(t.startswith("Round ") and "probe:" in t for t in transcript) == 3
    assert sum("it was model" in t for t in transcript) == 3
    assert any(t.strip().startswith("answer 2:") for t in transcript)

    report = AppTest.from_file(str(ROOT / "views" / "report.py"), default_timeout=120).run()
    assert not report.exception and not report.error
    from modeldiff_core.render.markdown import render_markdown
    from modeldiff_core.render.report import report_data
    from modeldiff_core.store import Store

    with Store(db) as store:
        markdown = render_markdown(report_data(store, run_id))
    section = markdown.split("## Probe game", 1)[1]
    assert "/3 |" in section and "control right" in section


def test_an_arm_with_no_round_yet_is_said_not_raised(demo_run, monkeypatch):
    from modeldiff_core.store import Store

    db, run_id = demo_run
    with Store(db) as store:  # a job stopped after the hypothesis' rounds, before the control's
        key = '{"answers": 4, "examples": 0, "seed": 0}'
        store.save_probe_round(run_id, "offline", "h1", key, "hypothesis", {
            "game": 0, "round": 0, "probe": "tell me about the sea .", "hidden": "B",
            "answers": ["a <b>cat</b>"], "guess": "B", "confidence": 0.9})
    # ...or one still playing: a row as a running job writes it, in the server's job manager
    # (made first: a manager marks the jobs it finds running as interrupted when it starts).
    import dashboard

    jobs = dashboard._jobs(str(db))
    jobs.store.create_job("job-running", "probe", run_id, {})
    jobs.store.update_job("job-running", status="running", stage="probe", done=1, total=72)
    monkeypatch.setenv("MODELDIFF_DB", str(db))
    at = _page("Probe").run()
    assert not at.exception
    assert any(i.value.startswith("Playing now (job-running): probe · 1/72") for i in at.info), \
        [i.value for i in at.info]
    assert any("control not played yet" in t.value for t in at.text)
    next(r for r in at.radio if r.label == "Arm").set_value("control (empty hypothesis)").run()
    assert not at.exception
    assert any("no round stored yet" in i.value for i in at.info)


def test_a_pair_of_files_is_refused_on_the_page(tmp_path, monkeypatch):
    from modeldiff_core.hypotheses.types import Hypothesis
    from modeldiff_core.models.spec import ModelSpec
    from modeldiff_core.pipeline import RunConfig, prepare_run
    from modeldiff_core.stages.prompts import PromptSet
    from modeldiff_core.store import Store

    for side in "ab":
        (tmp_path / f"{side}.jsonl").write_text('{"prompt": "p", "output": "o"}\n')
    db = tmp_path / "files.duckdb"
    with Store(db) as store:
        config = RunConfig(ModelSpec(f"outputs:{tmp_path / 'a.jsonl'}"),
                           ModelSpec(f"outputs:{tmp_path / 'b.jsonl'}"), PromptSet("x", ("p",)))
        run_id = prepare_run(store, config)
        store.save_hypotheses(run_id, "offline", [Hypothesis("Model B says more.")])
    monkeypatch.setenv("MODELDIFF_DB", str(db))
    at = _page("Probe").run()
    assert not at.exception
    assert any("needs models that answer new prompts" in e.value for e in at.error)
    assert next(b for b in at.button if b.label == "Play").disabled
