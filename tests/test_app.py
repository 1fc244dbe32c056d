"""The home page starts on a fresh database and lists stored runs."""
import pytest
from streamlit.testing.v1 import AppTest

from modeldiff_core.store import Store

APP = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture()
def fresh_db(tmp_path, monkeypatch):
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("MODELDIFF_DB", str(path))
    return path


def test_home_on_an_empty_database(fresh_db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "modeldiff"
    assert any("No runs yet" in i.value for i in at.info)


def test_home_lists_a_stored_run(fresh_db):
    import pandas as pd

    with Store(fresh_db) as store:
        store.upsert_run("run-x", model_a="organism:base", model_b="organism:cats", spec_a={},
                         spec_b={}, fingerprint_a="a", fingerprint_b="b",
                         prompt_set="builtin:organisms", settings={})
        store.replace_clustering("run-x", pd.DataFrame(columns=["side", "prompt_id", "sample_idx",
                                                                "cluster_id", "x", "y"]),
                                 pd.DataFrame({"cluster_id": [0], "size_a": [3], "size_b": [9],
                                               "share_b": [0.75], "log_odds": [1.1],
                                               "ci_low": [0.1], "ci_high": [2.0],
                                               "p_value": [0.01], "q_value": [0.02],
                                               "top_terms": ["cat"]}), {})
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "run-x" in at.dataframe[0].value["run_id"].tolist()
    assert at.dataframe[1].value["top_terms"].tolist() == ["cat"]
