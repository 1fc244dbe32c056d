"""The run report: data, Markdown and self-contained HTML from a real small run, model text
escaped; the Report page renders it with two downloads."""
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from modeldiff_core.hypotheses.types import Hypothesis
from modeldiff_core.render.fmt import coverage_line, fmt_p, self_check_line
from modeldiff_core.render.html import map_svg, render_html
from modeldiff_core.render.markdown import render_markdown
from modeldiff_core.render.report import report_data
from modeldiff_core.store import Store
from modeldiff_core.store.runs import RunRecord

ROOT = Path(__file__).resolve().parents[2]
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def run_db(demo_run_master, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "r.duckdb"
    shutil.copy(demo_run_master[0], path)
    return path, demo_run_master[1]["run_id"]


@pytest.fixture()
def page_db(monkeypatch):
    """Points the page at a database, as the server does through MODELDIFF_DB."""
    def use(path):
        monkeypatch.setenv("MODELDIFF_DB", str(path))
        return AppTest.from_file(str(ROOT / "views" / "report.py"), default_timeout=120).run()
    return use


@pytest.fixture(scope="module")
def report(run_db):
    path, run_id = run_db
    with Store(path) as store:
        data = report_data(store, run_id)
        return data, render_markdown(data), render_html(data, store.points(run_id))


def _cat_hypothesis(data):
    found = [h for h in data["hypotheses"] if h["validated"] and "cat" in h["text"].lower()]
    assert found, [h["text"] for h in data["hypotheses"]]
    return found[0]


def test_report_data_has_pair_settings_clusters_and_evidence(report):
    data, _, _ = report
    assert data["model_a"] == "organism:base" and data["model_b"] == "organism:cats"
    assert data["spec_b"]["model"] == "organism:cats" and data["settings"]["generation"]
    assert data["cluster_settings"]["method"] == "kmeans"
    qs = [c["q_value"] for c in data["clusters"]]
    assert qs == sorted(qs) and 0 < len(qs) <= data["n_clusters"]
    h = _cat_hypothesis(data)
    assert h["discriminative"]["n"] > 0
    ex = h["examples"]
    assert len(ex["most"]) == 3 and len(ex["least"]) == 3
    assert ex["most"][0]["score"] >= ex["least"][0]["score"]
    assert h["pairs"] and h["pairs"]["pairs"][0]["diff_favoured"] is not None


def test_markdown_names_the_validated_hypothesis_with_its_n(report):
    data, md, _ = report
    h = _cat_hypothesis(data)
    assert "VALIDATED" in md and f"n = {h['discriminative']['n']}" in md
    assert "bag-of-words" in md and "| cluster |" in md
    assert fmt_p(h["discriminative"]["q_value"]) in md
    # The line says a share, in words that depend on it (explains x%, or separates better).
    assert coverage_line(data["coverage"]) in md
    assert re.search(r"% of the separability|better than the words do", md)
    # The run's own false-positive check, with its count.
    sc = data["self_check"]
    assert sc["validated"] is not None and self_check_line(sc) in md


def test_coverage_line_says_the_share_or_why_there_is_none():
    c = {"accuracy": 0.9, "auc": 0.93, "baseline_accuracy": 0.84, "baseline_auc": 0.91,
         "share": 1.0, "n_prompts": 30, "n_texts": 240, "n_hypotheses": 3}
    line = coverage_line(c)
    # Hypotheses that reach the words' AUC are not said to "explain 100%" (nor 99%): they do
    # as well as the yardstick, whatever the share's rounding.
    assert "AUC 0.93" in line and "reaches 0.91" in line and "as well as the words do" in line
    assert "as well as the words do" in coverage_line(dict(c, share=0.99))
    short = coverage_line(dict(c, auc=0.80, share=0.6))
    assert "explain 60% of the separability" in short
    assert "unexplained" in coverage_line(dict(c, auc=0.7, share=0.4))
    assert "better than the words do (share 1.20" in coverage_line(dict(c, share=1.2))
    assert coverage_line({"share": None, "note": "not applicable: no validated hypothesis"}) \
        == "Coverage: not applicable: no validated hypothesis."


def test_html_is_self_contained_with_map_and_figures(report):
    data, _, page = report
    h = _cat_hypothesis(data)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<circle" in page
    assert "VALIDATED" in page and f"n = {h['discriminative']['n']}" in page
    assert "bag-of-words" in page and "Yardstick" in page and "Coverage: " in page
    assert "Self-check: A&#x27;s samples split into two pseudo-models" in page
    assert not re.search(r"https?://|<script|<link|@import|src=", page, re.I)


def test_researchers_verdict_is_in_the_report(run_db, tmp_path):
    path = tmp_path / "verdict.duckdb"
    shutil.copy(run_db[0], path)
    with Store(path) as store:
        first = report_data(store, run_db[1])
        h = _cat_hypothesis(first)
        assert h["verdict"] is None
        store.annotate(run_db[1], "offline", h["id"], "accepted", f"checked by hand {EVIL}")
        data = report_data(store, run_db[1])
    md, page = render_markdown(data), render_html(data)
    assert [x for x in data["hypotheses"] if x["id"] == h["id"]][0]["verdict"]["verdict"] == \
        "accepted"
    assert "researcher's verdict: **accepted**" in md and "checked by hand" in md
    assert "verdict</b>: accepted" in page and EVIL not in page and EVIL not in md


def test_formats_and_map_sampling():
    assert fmt_p(3.2e-05) == "3.2e-05" and fmt_p(0.0321) == "0.032" and fmt_p(0.41) == "0.41"
    assert fmt_p(None) == "—" and fmt_p(float("nan")) == "—"
    pts = pd.DataFrame({"side": ["A", "B"] * 6000, "x": range(12000), "y": range(12000)})
    svg = map_svg(pts)
    assert svg.count("<circle") == 5000 + 2  # sampled points + legend
    assert svg == map_svg(pts)  # deterministic
    img = map_svg(pts, as_image=True)  # for st.html, whose sanitiser drops inline SVG
    assert "<svg" not in img and 'src="data:image/svg+xml;base64,' in img


def test_model_and_assistant_text_is_escaped(run_db, tmp_path):
    path = tmp_path / "evil.duckdb"
    shutil.copy(run_db[0], path)
    run_id = run_db[1]
    with Store(path) as store:
        prompt_id = int(store.prompts(run_id).query("split == 'validation'").prompt_id.iloc[0])
        store.save_generations(run_id, pd.DataFrame([{
            "side": "B", "prompt_id": prompt_id, "sample_idx": 999, "text": f"hi {EVIL} cat",
            "n_tokens": 5, "finish_reason": "eos"}]))
        pred = {"type": "mentions", "terms": ["alert"], "favours": "B"}
        store.save_hypotheses(run_id, "evil", [Hypothesis(f"Model B says {EVIL}", "B",
                                                          "corpus", pred)])
        store.save_validation(run_id, "evil", "h1", "generative", {
            "auc": 0.9, "p_value": 1e-4, "n": 1, "pairs": [
                {"favoured": EVIL, "contrast": "<img src=x onerror=alert(2)>", "prompt": "p"}],
            "diffs": {"favoured": [0.5], "contrast": [-0.5]}})
        data = report_data(store, run_id, "evil")
        page, md = render_html(data, store.points(run_id)), render_markdown(data)
    ex = data["hypotheses"][0]["examples"]
    assert EVIL in ex["most"][0]["text"]  # re-judged by the predicate: the evil text fires it
    for out in (page, md):
        assert EVIL not in out and "<img" not in out
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<script" not in page.lower() and not re.search(r"https?://", page)


def test_report_page_renders_with_two_downloads(run_db, page_db):
    at = page_db(run_db[0])
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    buttons = at.get("download_button")
    assert len(buttons) == 2
    assert at.selectbox[0].value == run_db[1]


def test_report_page_says_when_a_run_has_no_result(tmp_path, page_db):
    path = tmp_path / "pending.duckdb"
    with Store(path) as store:
        store.upsert_run("run-pending", RunRecord(model_a="a", model_b="b", spec_a={}, spec_b={},
                                                  fingerprint_a="x", fingerprint_b="y",
                                                  prompt_set="p", settings={}))
    at = page_db(path)
    assert not at.exception, at.exception
    assert at.info and "no result yet" in at.info[0].value
    assert not at.get("download_button")


def test_report_page_on_a_fresh_database(tmp_path, page_db):
    at = page_db(tmp_path / "fresh.duckdb")
    assert not at.exception, at.exception
    assert at.info and "No runs yet" in at.info[0].value
