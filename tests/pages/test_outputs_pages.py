"""Files of answers on the pages: the Models page takes a path or an upload for `outputs:`
and says how many prompts pair; the Clusters page offers a run's texts for download."""
import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "views" / f"{name.lower()}.py"),
                             default_timeout=120)


@pytest.fixture()
def fresh_db(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELDIFF_DB", str(tmp_path / "fresh.duckdb"))
    monkeypatch.setenv("MODELDIFF_CACHE", str(tmp_path / "cache"))


def _answers(path: Path, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": p, "output": f"answer to {p}"}) + "\n"
                            for p in prompts))
    return path


def _check(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Check and use this pair").click().run()


def test_models_page_pairs_two_files_by_path(fresh_db, tmp_path):
    a = _answers(tmp_path / "a.jsonl", ["p1", "p2", "p3"])
    b = _answers(tmp_path / "b.jsonl", ["p2", "p1", "p4"])
    at = _page("Models").run()
    for side, path in (("A", a), ("B", b)):
        at.radio(key=f"src-{side}").set_value("file of answers").run()
        at.text_input(key=f"path-{side}").set_value(str(path)).run()
    _check(at)
    assert not at.exception and not at.error
    assert "2 prompts paired; 1 prompts of A and 1 of B have no answer on the other side; " \
           "left out." in at.success[0].value
    assert at.session_state["spec_a"].model == f"outputs:{a}"


def test_models_page_names_what_a_bad_file_has(fresh_db, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n')
    at = _page("Models").run()
    at.radio(key="src-A").set_value("file of answers").run()
    at.text_input(key="path-A").set_value(str(bad)).run()
    _check(at)
    assert [e.value for e in at.error] == [
        "Model A: bad.jsonl has no 'prompt' or 'output' column (columns: question, answer)"]


def test_an_upload_is_kept_by_its_content_hash(fresh_db, tmp_path):
    from modeldiff_core.config import cache_dir
    from modeldiff_core.models.sources.outputs_file import read_outputs, save_upload

    data = _answers(tmp_path / "x.jsonl", ["p1"]).read_bytes()
    first = save_upload("my answers.jsonl", data)
    assert first == save_upload("my answers.jsonl", data)
    assert first.parent.parent == cache_dir() / "uploads" and first.name == "my_answers.jsonl"
    assert list(read_outputs(first).rows["prompt"]) == ["p1"]
    assert save_upload("my answers.jsonl", data + b"\n") != first


@pytest.fixture()
def with_run(demo_run_master, tmp_path, monkeypatch):
    path = tmp_path / "run.duckdb"
    shutil.copy(demo_run_master[0], path)
    monkeypatch.setenv("MODELDIFF_DB", str(path))
    return demo_run_master[1]["run_id"]


def test_clusters_page_offers_both_sides_texts(with_run):
    at = _page("Clusters").run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download A's texts", "Download B's texts"]
