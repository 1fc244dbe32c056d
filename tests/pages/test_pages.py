"""Every dashboard page on a fresh database and on a database with a real run (tiny organisms):
it renders without an exception and its main action works."""
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _page(name: str) -> AppTest:
    path = ROOT / "home.py" if name == "Home" else ROOT / "views" / f"{name.lower()}.py"
    return AppTest.from_file(str(path), default_timeout=120)


@pytest.fixture(scope="module")
def run_db(demo_run_master, tmp_path_factory):
    path = tmp_path_factory.mktemp("pages") / "run.duckdb"
    shutil.copy(demo_run_master[0], path)
    return path, demo_run_master[1]


@pytest.fixture()
def with_run(run_db, monkeypatch):
    monkeypatch.setenv("MODELDIFF_DB", str(run_db[0]))
    return run_db[1]


@pytest.mark.parametrize("name", ["Home", "Models", "Generate", "Clusters", "Hypotheses"])
def test_renders_on_a_fresh_database(fresh_db, name):
    at = _page(name).run()
    assert not at.exception, at.exception


def test_the_entry_point_opens_on_home_and_names_every_page(fresh_db):
    import ast

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception and at.title[0].value == "modeldiff"
    # Every script under views/ is in the navigation (the analyses' through the registry),
    # and Home comes first.
    from modeldiff_core.methods.registry import METHODS

    tree = ast.parse((ROOT / "app.py").read_text())
    files = [c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
             and getattr(c.func, "attr", getattr(c.func, "id", "")) in ("Page", "_page")
             and isinstance(c.args[0], ast.Constant)]
    assert files[0] == "home.py"
    named = {f"views/{f}" for f in files[1:]} | {f"views/{m.page}" for m in METHODS}
    assert named == {f"views/{p.name}" for p in (ROOT / "views").glob("*.py")}
    # The sidebar's run picker and the page's title come from the entry point.
    at.switch_page("views/clusters.py").run()
    assert not at.exception and at.title[0].value == "Clusters"


def test_home_imports_nothing_heavy(tmp_path):
    import os
    import subprocess
    import sys

    code = ("import sys; from streamlit.testing.v1 import AppTest; "
            "AppTest.from_file('home.py', default_timeout=120).run(); "
            "print(sorted(m for m in ('torch', 'umap', 'transformers', 'sentence_transformers') "
            "if m in sys.modules))")
    env = dict(os.environ, MODELDIFF_DB=str(tmp_path / "h.duckdb"))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_checking_a_pair_never_trains_and_stops_at_a_failed_a(fresh_db, tmp_path, monkeypatch):
    from modeldiff_core.models.spec import ModelSpec

    cache = tmp_path / "cold"
    monkeypatch.setenv("MODELDIFF_CACHE", str(cache))
    at = _page("Models")
    at.run()
    next(b for b in at.button if b.label == "Check and use this pair").click().run()
    assert not at.exception and not at.error
    assert "will be built when the run starts" in at.success[0].value
    assert not (cache / "organisms").exists()
    at = _page("Models")
    at.session_state["spec_a"] = ModelSpec("./no/such/model")
    at.run()
    next(b for b in at.button if b.label == "Check and use this pair").click().run()
    assert [e.value for e in at.error] == [at.error[0].value]
    assert at.error[0].value.startswith("Model A:") and "does not exist" in at.error[0].value


def test_home_lists_the_run_with_headline_figures(with_run):
    at = _page("Home").run()
    assert not at.exception
    runs = at.dataframe[0].value
    assert with_run["run_id"] in runs["run"].tolist()
    row = runs[runs["run"] == with_run["run_id"]].iloc[0]
    n_valid = sum(h["validated"] for h in with_run["hypotheses"])
    assert row["validated hypotheses"] == f"{n_valid} / {len(with_run['hypotheses'])}" and n_valid


def test_quick_start_runs_the_demo_as_a_job(fresh_db):
    import dashboard

    at = _page("Home").run()
    at.button[0].click().run()
    assert not at.exception and "Started job-" in at.success[0].value
    jobs = dashboard._jobs(str(fresh_db))
    job_id = re.search(r"job-[0-9a-f]+", at.success[0].value).group(0)
    job = jobs.wait(job_id, timeout=600)
    assert job["status"] == "done", job["error"]
    assert jobs.store.result(job["run_id"])["hypotheses"]


def test_models_page_checks_specs(fresh_db, tmp_path):
    at = _page("Models").run()
    at.radio(key="src-A").set_value("local directory").run()
    at.text_input(key="model-A").set_value(str(tmp_path / "missing")).run()
    at.button[-1].click().run()
    assert any("does not exist" in e.value for e in at.error)
    at = _page("Models").run()
    at.button[-1].click().run()  # the default pair: two built-in organisms
    assert not at.error and "Pair set" in at.success[0].value
    at.button[0].click().run()  # same model at two quantization levels
    assert at.session_state["spec_b"].quant == "8bit"
    assert at.session_state["spec_b"].model == at.session_state["spec_a"].model


def test_generate_page_starts_a_job(fresh_db):
    import dashboard

    at = _page("Generate").run()
    at.number_input[0].set_value(1).run()  # one sample per prompt
    start = next(b for b in at.button if b.label == "Start")
    start.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job_id = re.search(r"job-[0-9a-f]+", at.success[0].value).group(0)
    job = dashboard._jobs(str(fresh_db)).wait(job_id, timeout=600)
    assert job["status"] == "done", job["error"]


def test_clusters_page_shows_map_and_table(with_run):
    at = _page("Clusters").run()
    assert not at.exception
    tables = [d.value for d in at.dataframe]
    assert any("share_b" in t.columns for t in tables)
    assert at.get("plotly_chart")


def test_hypotheses_page_shows_validated_and_saves_a_verdict(with_run, run_db):
    at = _page("Hypotheses").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert (table["validated"] == "yes").any()
    assert any(t.value.startswith("VALIDATED") and '"cat"' in t.value for t in at.text)
    assert table["hypothesis"].str.contains("cat").any()
    assert any(m.value.startswith("Coverage: the validated hypotheses")
               and re.search(r"% of the|(better than|as well as) the words do", m.value)
               for m in at.markdown)
    assert any(m.value.startswith("Self-check: A's samples split") and " of " in m.value
               for m in at.markdown)
    verdict = next(r for r in at.radio if r.label == "Verdict")
    verdict.set_value("accepted")  # inside a form: committed by its submit button
    at.text_area[0].set_value("clearly the cats")
    next(b for b in at.button if b.label == "Save verdict").click().run()
    assert not at.exception and "accepted" in at.success[-1].value
    import dashboard

    store = dashboard._store(str(run_db[0]))
    notes = store.annotations(with_run["run_id"], "offline")
    assert list(notes.values()) == [{"verdict": "accepted", "note": "clearly the cats"}]


def test_hypotheses_page_says_what_an_llm_judge_will_cost_before_it_starts(with_run):
    """Choosing an LLM assistant shows the judge's budget in held-out prompts and, from the
    run's own held-out texts, the calls and an estimated cost, before anything is started."""
    from modeldiff_core.assistants.chat import judge_estimate

    at = _page("Hypotheses").run()
    next(r for r in at.radio if r.label == "Assistant").set_value("openai").run()
    assert not at.exception
    plan = next(c.value for c in at.caption if c.value.startswith("LLM judge (gpt-4.1-mini)"))
    budget = next(n for n in at.number_input if n.label.startswith("Held-out prompts"))
    assert budget.value == 120
    budget.set_value(7).run()
    plan = next(c.value for c in at.caption if c.value.startswith("LLM judge"))
    assert "7 held-out prompts" in plan and "up to" not in plan
    assert f"{judge_estimate(7, 1, 'score')['calls']} calls" in plan
    assert not at.success  # nothing was started
