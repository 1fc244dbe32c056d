"""The Ground truth page: renders on a fresh database, refuses bad truth lists with a reason,
plants and evaluates as a job, and shows the recovery table."""
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "ground_truth.py")


def _page(db, monkeypatch) -> AppTest:
    monkeypatch.setenv("MODELDIFF_DB", str(db))
    return AppTest.from_file(PAGE, default_timeout=120).run()


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_renders_on_a_fresh_database(tmp_path, monkeypatch):
    at = _page(tmp_path / "fresh.duckdb", monkeypatch)
    assert not at.exception, at.exception
    assert any("No scored runs yet" in i.value for i in at.info)


def test_bad_truth_lists_are_refused_with_a_reason(tmp_path, monkeypatch):
    at = _page(tmp_path / "bad.duckdb", monkeypatch)
    at.radio[0].set_value("Write your own").run()
    at.text_area[0].set_value("The model likes cats.\nthe model likes CATS.").run()
    _button(at, "Plant").click().run()
    assert not at.exception and "duplicate ground truth" in at.error[0].value
    at.text_area[0].set_value("The model hates mondays.").run()
    _button(at, "Plant").click().run()
    assert "needs an assistant" in at.error[0].value  # offline data only for built-in truths
    at.text_area[0].set_value("").run()
    _button(at, "Plant").click().run()
    assert "empty" in at.error[0].value
    assert not at.success


def test_plant_and_evaluate_as_a_job_then_the_scores(tmp_path, monkeypatch, organism):
    import dashboard

    db = tmp_path / "gt.duckdb"
    at = _page(db, monkeypatch)
    inputs = {n.label: n for n in at.number_input}
    inputs["Texts per ground truth"].set_value(96)
    inputs["Epochs"].set_value(20.0)
    at.run()
    _button(at, "Plant").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job_id = re.search(r"job-[0-9a-f]+", at.success[0].value).group(0)
    job = dashboard._jobs(str(db)).wait(job_id, timeout=600)
    assert job["status"] == "done", job["error"]
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["truth"].tolist() == ["The model really likes cats and brings them up in its "
                                       "answers."]
    assert table["recovered"].tolist() == ["yes"] and '"cat"' in table["best validated hypothesis"][0]
    assert at.metric[0].value == "1 of 1 truths"
