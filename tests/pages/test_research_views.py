"""The dashboard as a research tool (AppTest): the run browser and job history on Home, a job's
end said without a reload, the prompts side-by-side view (from the map, a cluster, a search),
a researcher's own hypothesis tested from the Hypotheses page, and a run of two files of
answers that validates nothing, which says what was tried and what to try next."""
import json
import random
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _page(name: str) -> AppTest:
    path = ROOT / "home.py" if name == "home" else ROOT / "views" / f"{name}.py"
    return AppTest.from_file(str(path), default_timeout=120)


def _app(run_id=None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if run_id:
        at.session_state["run_id"] = run_id
    return at


@pytest.fixture()
def own_db(demo_run_master, tmp_path, monkeypatch):
    """A private copy of the demo run (these tests add to it)."""
    path = tmp_path / "run.duckdb"
    shutil.copy(demo_run_master[0], path)
    monkeypatch.setenv("MODELDIFF_DB", str(path))
    return path, demo_run_master[1]


def test_home_opens_a_run_on_every_page_and_keeps_a_job_history(own_db):
    _, result = own_db
    at = _app(result["run_id"]).run()
    assert not at.exception
    assert any(m.value == f"Open run: **{result['run_id']}**" for m in at.markdown)
    links = [p.proto.page for p in at.get("page_link")]
    assert {"clusters", "prompts", "hypotheses"} <= set(links)
    at.switch_page("views/report.py").run()  # opening a run sets it on every page
    assert not at.exception and at.selectbox(key="run").value == result["run_id"]
    home = _page("home").run()
    assert any(e.label == "Job history" for e in home.expander)


def test_a_watched_job_that_fails_is_said_with_its_reason_without_a_reload(fresh_db):
    import dashboard

    at = _page("home").run()
    jobs = dashboard._jobs(str(fresh_db))
    job_id = jobs.submit("hypothesis", {"run_id": "run-nope", "text": "B says more"})
    at.session_state["watched_jobs"] = {job_id}
    assert jobs.wait(job_id, timeout=120)["status"] == "failed"
    at.run()  # the panel's poll: the job has ended, the page runs again and says how
    assert not at.exception
    said = [e.value for e in at.error if e.value.startswith(job_id)]
    assert said == [f"{job_id} (hypothesis) failed in " + said[0].split(" in ")[1]]
    assert said[0].endswith("no run run-nope")
    at.run()  # said once
    assert not [e for e in at.error if e.value.startswith(job_id)]
    home = _page("home").run()
    history = next(d.value for d in home.dataframe if "kind" in d.value.columns)
    assert history.set_index("job").loc[job_id, "status"] == "failed"


def _cat_prompt(store, run_id) -> int:
    gens = store.generations(run_id)
    cats = gens[(gens.side == "B") & gens.text.str.contains(r"\bcats?\b", case=False)]
    return int(cats.prompt_id.iloc[0])


def test_the_prompts_view_pairs_samples_marks_differences_and_names_what_fires(own_db):
    from modeldiff_core.store import Store

    path, result = own_db
    with Store(path) as store:
        prompt_id = _cat_prompt(store, result["run_id"])
    at = _app(result["run_id"])
    at.session_state["prompt_id"] = prompt_id
    at.switch_page("views/prompts.py").run()
    assert not at.exception and at.title[0].value == "Prompts side by side"
    picker = next(s for s in at.selectbox if s.label.startswith("Prompt ("))
    assert picker.value == prompt_id
    marked = [e.proto.body for e in at.get("html") if "<mark" in e.proto.body]
    assert marked and all("<script" not in m for m in marked)
    validated = [h["id"] for h in result["hypotheses"] if h["validated"]]
    fires = [c.value for c in at.caption if c.value.startswith("Fires: ")]
    assert any(f"{validated[0]} ✓" in f for f in fires)
    at.text_input(key="prompt-search").set_value("cat").run()
    assert not at.exception
    picker = next(s for s in at.selectbox if s.label.startswith("Prompt ("))
    found, n_all = map(int, re.search(r"\((\d+) of (\d+)\)", picker.label).groups())
    assert 0 < found < n_all
    at.checkbox(key="prompt-discovery").check().run()
    picker = next(s for s in at.selectbox if s.label.startswith("Prompt ("))
    assert all("[discovery]" in o for o in picker.options)
    at.checkbox(key="prompt-discovery").uncheck().run()
    at.text_input(key="prompt-search").set_value("qqqzzz").run()
    assert any("No prompt or answer contains" in w.value for w in at.warning)


def test_the_map_finds_texts_and_opens_a_cluster_prompt_side_by_side(own_db):
    _, result = own_db
    at = _app(result["run_id"])
    at.switch_page("views/clusters.py").run()
    assert not at.exception
    at.text_input(key="map-search").set_value("cat").run()
    assert any(re.match(r"\d+ texts contain “cat”", c.value) for c in at.caption)
    cluster = next(s for s in at.selectbox if s.label == "Cluster")
    sizes = {c["cluster_id"]: (c["size_a"], c["size_b"]) for c in result["clusters"]}
    assert min(sizes[cluster.value]) > 0  # it opens on a cluster with texts of both models
    chosen = at.selectbox(key=f"open-cluster-{cluster.value}").value
    at.button(key=f"open-button-cluster-{cluster.value}").click().run()
    assert not at.exception and at.title[0].value == "Prompts side by side"
    assert at.session_state["prompt_id"] == chosen


def test_your_own_hypothesis_is_tested_and_shown_beside_the_proposed(own_db):
    import dashboard

    path, result = own_db
    at = _page("hypotheses").run()
    # The evidence's generated pairs mark what differs between the two texts; the verdict
    # form names the hypothesis it is saved for.
    pairs = [e.proto.body for e in at.get("html") if "favoured:" in e.proto.body]
    assert pairs and all("<mark" in p for p in pairs)
    first = next(s for s in at.selectbox if s.label == "Hypothesis").value
    assert any(h.value == f"Your verdict on {first}" for h in at.subheader)
    form = {t.label: t for t in at.text_input}
    form["Your hypothesis"].set_value("Model B talks about cats")
    next(b for b in at.button if b.label == "Test my hypothesis").click().run()
    assert [e.value for e in at.error] == [
        "the offline judge needs keywords or a regular expression that say when a text shows "
        "the behaviour (or add it to an LLM assistant's set)"]
    form = {t.label: t for t in at.text_input}
    form["Your hypothesis"].set_value("Model B talks about cats")
    form["Keywords (comma-separated)"].set_value("cat, cats")
    next(b for b in at.button if b.label == "Test my hypothesis").click().run()
    assert not at.exception and not at.error
    job_id = re.search(r"job-[0-9a-f]+", at.success[-1].value).group(0)
    job = dashboard._jobs(str(path)).wait(job_id, timeout=600)
    assert job["status"] == "done", job["error"]
    at.run()
    assert any(s.value.startswith(f"{job_id} (hypothesis) finished") for s in at.success), \
        [s.value for s in at.success]
    table = at.dataframe[0].value.set_index("id")
    assert table.loc["u1", "source"] == "yours" and table.loc["u1", "validated"] == "yes"
    assert table.loc["u1", "q"] < 0.05 and len(table) == len(result["hypotheses"]) + 1
    assert any(t.value.startswith("u1 (yours): Model B talks about cats — ") and "q = " in t.value
               for t in at.text)
    # Listed with the validated, marked as yours (as a headline, or under the one it repeats).
    assert any(re.match(r"(VALIDATED  |\s*)u1 \(yours\)", t.value)
               and "Model B talks about cats" in t.value for t in at.text)


def _answers(path: Path, seed: int, n_prompts: int = 60) -> Path:
    """Answers of one and the same kind of model: words drawn from one vocabulary."""
    rng = random.Random(seed)
    words = ("the answer depends on context and several factors such as time cost quality "
             "people usually prefer simple clear options because they work well in practice "
             "many experts suggest checking sources first then deciding carefully").split()
    rows = [{"prompt": f"Question {i}: what should one consider?", "sample": s,
             "output": " ".join(rng.choice(words) for _ in range(25)) + "."}
            for i in range(n_prompts) for s in range(2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_two_files_that_differ_in_nothing_show_the_yardstick_and_next_steps(fresh_db, tmp_path):
    from modeldiff_core.cli import main

    a, b = _answers(tmp_path / "a.jsonl", 1), _answers(tmp_path / "b.jsonl", 2)
    assert main(["run", "--model-a", f"outputs:{a}", "--model-b", f"outputs:{b}",
                 "--db", str(fresh_db), "--quiet"]) == 0
    at = _page("hypotheses").run()
    assert not at.exception
    assert any(w.value == "No hypothesis validated on this run's held-out texts." for w in at.warning)
    said = [m.value for m in at.markdown]
    assert any(s.startswith("The words alone") and "bag-of-words AUC" in s for s in said)
    assert any(s.startswith("Tried: ") and "held-out texts" in s for s in said)
    assert "**Next steps**" in said
    steps = [s for s in said if s.startswith(("**More texts**", "**An LLM assistant**",
                                              "**Your own hypothesis**"))]
    assert len(steps) == 3
    assert next(e for e in at.expander if e.label == "Test your own hypothesis").proto.expanded
    # A next step is a click away: the assistant's form opens.
    propose = next(e for e in at.expander if e.label.startswith("Propose and validate"))
    assert not propose.proto.expanded
    next(b for b in at.button if b.label == "Open the assistant's form").click().run()
    assert next(e for e in at.expander if e.label.startswith("Propose and validate")).proto.expanded


def test_a_finished_run_job_opens_its_run_and_the_picker_follows(own_db):
    """Another run is open; the run job this session watched ends: the next page says so and
    shows the job's run, its sidebar picker too (no widget value left behind)."""
    from modeldiff_core.store import Store
    from modeldiff_core.store.runs import RunRecord

    path, result = own_db
    with Store(path) as store:
        run = store.get_run(result["run_id"])
        store.upsert_run("run-other", RunRecord(*(run[k] for k in (
            "model_a", "model_b", "spec_a", "spec_b", "fingerprint_a", "fingerprint_b",
            "prompt_set", "settings"))))
        store.create_job("job-made", "run", result["run_id"], {})
        store.update_job("job-made", status="done", run_id=result["run_id"])
    at = _app("run-other")
    at.switch_page("views/report.py").run()
    assert at.selectbox(key="run").value == "run-other"
    at.session_state["ended_jobs"] = ["job-made"]  # as the jobs panel's poll leaves it
    at.run()
    assert not at.exception
    assert any(s.value.startswith("job-made (run) finished") for s in at.success)
    assert at.selectbox(key="run").value == result["run_id"]
    assert at.session_state["run_id"] == result["run_id"]
    # A page run on its own draws its picker first: the run opens for the pages to come, and
    # the picker drawn already is left alone (setting it then would be an error).
    alone = _page("hypotheses")
    alone.session_state["run_id"] = "run-other"
    alone.run()
    alone.session_state["ended_jobs"] = ["job-made"]
    alone.run()
    assert not alone.exception
    assert any(s.value.startswith("job-made (run) finished") for s in alone.success)
