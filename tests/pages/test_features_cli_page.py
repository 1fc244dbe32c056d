"""The feature lens on a stored run: from the CLI (stored with the run), in the report, on the
Hypotheses and Features pages (started there as a job), and resumed after an interruption."""
import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from modeldiff_core.cli import main
from modeldiff_core.render.html import render_html
from modeldiff_core.render.markdown import render_markdown
from modeldiff_core.render.report import report_data
from modeldiff_core.store import Store

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "features.py")
QUICK = ["--steps", "400", "--generations", "4", "--alphas", "0,1", "--texts", "80"]


@pytest.fixture(scope="module")
def features_db(demo_run_master, tmp_path_factory):
    """A copy of the demo run (base vs cats) with its feature lens stored by the CLI."""
    path = tmp_path_factory.mktemp("features") / "run.duckdb"
    shutil.copy(demo_run_master[0], path)
    run_id = demo_run_master[1]["run_id"]
    out = path.parent / "features.json"
    assert main(["features", "--run", run_id, "--db", str(path), *QUICK, "--quiet",
                 "--out", str(out)]) == 0
    return path, run_id, json.loads(out.read_text())


def test_cli_stores_the_lens_with_every_part(features_db, capsys):
    path, run_id, doc = features_db
    with Store(path) as store:
        assert store.method_result(run_id, "features", "offline") == json.loads(json.dumps(doc))
        validated = [h for h in store.result(run_id)["hypotheses"] if h["validated"]]
    assert doc["layer"] == 1 and doc["layer_from"].startswith("the middle layer")
    assert [q["dictionary"] for q in doc["quality"]] == ["base", "base (no delta)",
                                                         "base + delta"]
    assert all(0 <= q["fve"] <= 1 and q["l0"] > 0 for q in doc["quality"])
    assert len(doc["features"]) == 2 * 64  # delta latents: 2 x d_model at test size
    assert {h["hypothesis_id"] for h in doc["hypotheses"]} == {h["id"] for h in validated}
    # Each top text's tokens put the text back together (the BOS token in front).
    for feature in doc["top_features"]:
        for t in feature["texts"]:
            assert "".join(tok for tok, _ in t["tokens"]).endswith(t["text"])
            assert max(a for _, a in t["tokens"]) == pytest.approx(t["activation"], rel=1e-4)
        assert len(feature["promoted"]) == 8
    cat = next(h["id"] for h in validated if "cat" in h["text"])
    assert any(link["hypothesis_id"] == cat and link["auc"] > 0.5 for link in doc["links"])
    rows = {(r["condition"], r["alpha"]): r for r in doc["scaling"] if r["hypothesis_id"] == cat}
    assert rows[("A", None)]["logprob_gap"] == 0  # gaps are to model A
    assert rows[("raw", None)] == {**rows[("all delta latents", 1.0)],
                                   "condition": "raw", "alpha": None}  # alpha = 1 is B
    assert rows[("raw", None)]["behaviour_rate"] > rows[("A", None)]["behaviour_rate"]
    assert {c for c, _ in rows} == {"A", "raw", "no delta", "full", "all delta latents",
                                    "linked latents"}
    # In words: as many B-specific features as the table marks, and the cat hypothesis' rates.
    from modeldiff_core.methods.features.show import conclusion

    words = conclusion(doc)
    n_specific = sum(f["b_specific"] for f in doc["features"])
    assert words[0].startswith(f"{n_specific} of {len(doc['features'])} features of B's change")
    cat_line = next(w for w in words if w.startswith(f"{cat}: "))
    raw, off = rows[("raw", None)]["behaviour_rate"], rows[("all delta latents", 0.0)]["behaviour_rate"]
    assert f"goes from {raw:.2f} to {off:.2f}" in cat_line


def test_cli_refuses_bad_input_in_one_line(features_db, tmp_path, capsys):
    path, run_id, _ = features_db
    for argv, says in ((["--run", "nope"], "no run nope"),
                       (["--run", run_id, "--alphas", "0,x"], "--alphas: scales must be"),
                       (["--run", run_id, "--width", "0"], "--width must be"),
                       (["--run", run_id, "--layer", "7"], "layers 0 to 1, not 7")):
        capsys.readouterr()
        assert main(["features", *argv, "--db", str(path), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("modeldiff: error:") and says in err[-1], err


def test_the_report_includes_the_feature_lens(features_db):
    path, run_id, doc = features_db
    with Store(path) as store:
        data = report_data(store, run_id)
    md, page = render_markdown(data), render_html(data)
    assert "## Feature lens" in md and "Dictionary quality" in md
    assert "<h2>Feature lens</h2>" in page and "B with its delta scaled" in page


def test_both_pages_show_the_stored_lens(features_db, monkeypatch):
    path, run_id, doc = features_db
    monkeypatch.setenv("MODELDIFF_DB", str(path))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, at.exception
    quality = at.dataframe[0].value
    assert list(quality["dictionary"]) == ["base", "base (no delta)", "base + delta"]
    # The picker opens on the strongest B-specific feature (the smallest q, then the largest
    # effect), with its top texts shaded.
    shown = next(s for s in at.selectbox if s.label == "Feature").value
    kept = {t["latent"] for t in doc["top_features"]}
    ranked = sorted((f for f in doc["features"] if f["b_specific"] and f["latent"] in kept),
                    key=lambda f: (f["q_value"], -f["effect"]))
    assert not ranked or shown == ranked[0]["latent"]
    # The conclusion's strongest feature is ranked the same way, over every B-specific one.
    from modeldiff_core.methods.features.show import conclusion

    specific = sorted((f for f in doc["features"] if f["b_specific"]),
                      key=lambda f: (f["q_value"], -f["effect"]))
    if specific:
        assert conclusion(doc)[1].startswith(f"The strongest, feature {specific[0]['latent']},")
    first = next(t for t in doc["top_features"] if t["latent"] == shown)
    assert any(t.value.startswith("promotes: ") for t in at.text)
    shaded = [e for e in at.get("html") if "What it found" not in e.proto.body]
    assert len(shaded) == len(first["texts"]) and "background:rgba" in shaded[0].proto.body
    # Another feature's top texts.
    other = next(t["latent"] for t in doc["top_features"] if t["latent"] != shown)
    next(s for s in at.selectbox if s.label == "Feature").set_value(other).run()
    assert any(m.value.startswith(f"**Top texts of feature {other}**") for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 2  # the curves of the hypotheses
    next(t for t in at.text_input if t.label.startswith("Search")).set_value("zzz-none").run()
    assert at.dataframe[1].value.empty
    hyps = AppTest.from_file(str(ROOT / "views" / "hypotheses.py"), default_timeout=180).run()
    assert not hyps.exception
    linked = [m.value for m in hyps.markdown if m.value.startswith("**Linked features**")]
    shown = next(s for s in hyps.selectbox if s.label == "Hypothesis").value
    mine = [r for r in doc["links"] if r["hypothesis_id"] == shown]
    assert bool(linked) == bool(mine)
    if mine:
        assert f"{mine[0]['latent']} ({mine[0]['auc']:.2f})" in linked[0]


def test_the_page_escapes_model_text():
    from modeldiff_core.render.html import feature_tokens_html

    out = feature_tokens_html([("<script>", 1.0), (" & ok", 0.0)])
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp; ok" in out


def test_features_page_runs_the_lens_as_a_job(demo_run, tmp_path, monkeypatch):
    import dashboard

    fresh = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("MODELDIFF_DB", str(fresh))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception and any("No runs yet" in i.value for i in at.info)
    db, run_id = demo_run
    monkeypatch.setenv("MODELDIFF_DB", str(db))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert any("No feature lens for this run yet" in i.value for i in at.info)
    # Sized for a page by default; the CLI's defaults one click away.
    from modeldiff_core.methods.features.settings import FeatureSettings

    quick, full = FeatureSettings.for_page(), FeatureSettings()
    assert [at.number_input[1].value, at.number_input[2].value] == [
        quick.dictionary.steps, quick.n_generations]
    next(r for r in at.radio if r.label == "Size").set_value(
        "full study (the CLI's defaults)").run()
    assert [at.number_input[1].value, at.number_input[2].value] == [
        full.dictionary.steps, full.n_generations]
    at.text_input[0].set_value("x").run()
    next(b for b in at.button if b.label == "Run feature lens").click().run()
    assert any("whole number" in e.value for e in at.error)
    at.text_input[0].set_value("1").run()
    at.number_input[1].set_value(300).run()  # training steps
    at.number_input[2].set_value(2).run()  # fresh generations per setting
    at.text_input[1].set_value("0, 1").run()
    next(b for b in at.button if b.label == "Run feature lens").click().run()
    assert not at.error, [e.value for e in at.error]
    job_id = re.search(r"job-[0-9a-f]+", at.success[0].value).group(0)
    job = dashboard._jobs(str(db)).wait(job_id, timeout=600)
    assert job["status"] == "done", job["error"]
    at.run()
    assert not at.exception and at.dataframe and at.get("html")
    # Said without a reload when the page's poll sees the job end, and concluded in words.
    assert any(m.value.startswith(f"{job_id} (features) finished") for m in at.success)
    said = next(e.proto.body for e in at.get("html") if "What it found" in e.proto.body)
    assert "features of B&#x27;s change (layer 1) fire more on B&#x27;s texts" in said


def test_an_interrupted_lens_resumes_and_reuses_its_dictionaries(demo_run, tmp_path,
                                                                 monkeypatch):
    from modeldiff_core.methods.features.lens import feature_lens_for_run
    from modeldiff_core.methods.features.settings import DictionarySettings, FeatureSettings
    from modeldiff_core.methods.common.runner import SettingRunner
    from modeldiff_core.models.loading import ModelCache

    db, run_id = demo_run
    calls, stop_at = [], [3]
    real = SettingRunner.run

    def counting(self, scale, where, generate=True):
        calls.append((scale, where))
        if len(calls) == stop_at[0]:
            raise KeyboardInterrupt  # the job dies in the middle of the third setting
        return real(self, scale, where, generate)

    monkeypatch.setattr(SettingRunner, "run", counting)
    settings = FeatureSettings(dictionary=DictionarySettings(steps=300), n_texts=40,
                               alphas=(0.0,), n_generations=2)
    kw = dict(settings=settings, folder=tmp_path / "dicts")
    with Store(db) as store:
        with pytest.raises(KeyboardInterrupt):
            feature_lens_for_run(store, run_id, ModelCache(), **kw)
        assert len(list((tmp_path / "dicts").glob("*.pt"))) == 1  # saved before scaling
        stop_at[0] = None
        calls.clear()
        first = feature_lens_for_run(store, run_id, ModelCache(), **kw)
        assert first["dictionary"]["reused"]
        n_settings = len(calls) + 2  # two were stored before the interruption
        assert len({(s, str(w)) for s, w in calls}) == len(calls) and n_settings >= 5
        calls.clear()
        again = feature_lens_for_run(store, run_id, ModelCache(), **kw)
        assert calls == [] and again["scaling"] == first["scaling"]
        assert again["features"] == first["features"]
