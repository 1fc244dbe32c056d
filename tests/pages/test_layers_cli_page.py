"""The layer lens from the CLI (with and without a run), in the run's report, and on its page
(started as a job, then shown as heatmaps, curves and a conclusion)."""
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

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "layers.py")


def test_cli_without_a_run_finds_the_planted_layer(organism, tmp_path, capsys):
    out = tmp_path / "layers.json"
    assert main(["layers", "--model-a", "organism:base", "--model-b", "organism:cats-late",
                 "--texts", "40", "--quiet", "--out", str(out), "--db",
                 str(tmp_path / "x.duckdb")]) == 0
    doc = json.loads(out.read_text())
    blocks = [r for r in doc["weight_delta"] if r["layer"] >= 0]
    top = max(blocks, key=lambda r: r["rel_norm"])
    assert top["layer"] == 1 and all(r["rel_norm"] == 0 for r in blocks if r["layer"] == 0)
    act = {r["layer"]: r for r in doc["activation_diff"]}
    assert act[0]["cosine"] < 1e-6 < act[1]["cosine"] and act[1]["rel_l2"] > 0.01
    assert doc["scaling"] == [] and any("delta-scaling view needs" in n for n in doc["notes"])
    assert "weight delta" in capsys.readouterr().out


def test_cli_refuses_bad_pairs(organism, tmp_path, capsys):
    from transformers import GPT2Config, GPT2LMHeadModel

    other = tmp_path / "other"
    GPT2LMHeadModel(GPT2Config(vocab_size=198, n_positions=128, n_embd=32, n_layer=2,
                               n_head=2, bos_token_id=0, eos_token_id=0)).save_pretrained(other)
    capsys.readouterr()
    assert main(["layers", "--model-a", "organism:base", "--model-b", str(other),
                 "--db", str(tmp_path / "x.duckdb")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the loaders' progress bars
    assert last.startswith("modeldiff: error: models differ in architecture: transformer.")
    assert main(["layers", "--model-a", "organism:base", "--model-b", "organism:cats",
                 "--run", "nope", "--db", str(tmp_path / "x.duckdb")]) == 2
    assert "no run nope" in capsys.readouterr().err
    assert main(["layers", "--model-a", "organism:base", "--model-b", "organism:cats",
                 "--alphas", "0,x"]) == 2
    assert "--scales must be" in capsys.readouterr().err


def test_scales_keep_their_earlier_names_where_they_are_public():
    from modeldiff_core.cli import build_parser
    from modeldiff_core.methods.layers.settings import Params

    for flag in ("--scales", "--alphas"):  # --alphas: the flag's earlier spelling
        args = build_parser().parse_args(["layers", "--model-a", "a", "--model-b", "b", flag, "0,1"])
        assert args.scales == "0,1"
    # A job stored by an earlier version names its scales "alphas".
    assert Params.from_dict({"run_id": "r", "alphas": [0, 1]}).settings.scales == (0, 1)


@pytest.fixture(scope="module")
def lens_db(demo_run_master, tmp_path_factory):
    """A copy of the demo run (base vs cats) with its layer lens stored by the CLI."""
    path = tmp_path_factory.mktemp("lens") / "run.duckdb"
    shutil.copy(demo_run_master[0], path)
    run_id = demo_run_master[1]["run_id"]
    out = path.parent / "lens.json"
    assert main(["layers", "--model-a", "organism:base", "--model-b", "organism:cats",
                 "--run", run_id, "--db", str(path), "--alphas", "0,0.5,1",
                 "--generations", "8", "--texts", "40", "--quiet", "--out", str(out)]) == 0
    return path, run_id, json.loads(out.read_text())


def test_cli_with_a_run_measures_each_validated_hypothesis(lens_db, capsys):
    path, run_id, doc = lens_db
    with Store(path) as store:
        validated = [h for h in store.result(run_id)["hypotheses"] if h["validated"]]
        assert store.method_result(run_id, "layers", "offline")["scaling"] == doc["scaling"]
    assert {r["hypothesis_id"] for r in doc["scaling"]} == {h["id"] for h in validated}
    for r in doc["scaling"]:
        assert set(r) == {"hypothesis_id", "layer", "alpha", "logprob_gap", "predicate_rate"}
        if r["alpha"] == 0:
            assert r["logprob_gap"] == 0  # alpha = 0 is model A itself
    cat = next(h["id"] for h in validated if "cat" in h["text"])
    full = next(r for r in doc["scaling"]
                if r["hypothesis_id"] == cat and r["layer"] == "all" and r["alpha"] == 1)
    assert full["logprob_gap"] > 0.1 and full["predicate_rate"] > 0.3
    assert cat in doc["conclusions"] and doc["conclusions"][cat]
    # Each hypothesis' gap is measured on what it names (its contrast pairs, where it has
    # some): no two hypotheses share one curve, as they did on shared evidence texts.
    assert doc["measured_on"][cat] == "contrast pairs"
    paired = [h for h, on in doc["measured_on"].items() if on == "contrast pairs"]
    curves = {h: tuple(round(r["logprob_gap"], 9) for r in doc["scaling"]
                       if r["hypothesis_id"] == h and r["logprob_gap"] is not None)
              for h in paired}
    assert len(set(curves.values())) == len(curves)


def test_the_report_includes_the_layer_lens(lens_db):
    path, run_id, doc = lens_db
    with Store(path) as store:
        data = report_data(store, run_id)
    md, page = render_markdown(data), render_html(data)
    assert "## Layer lens" in md and "Weight delta" in md
    assert "<h2>Layer lens</h2>" in page
    assert next(iter(doc["conclusions"].values()))[:40] in md


def test_layers_page_shows_the_stored_lens(lens_db, monkeypatch):
    path, run_id, doc = lens_db
    monkeypatch.setenv("MODELDIFF_DB", str(path))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, at.exception
    said = next(e.proto.body for e in at.get("html") if "What it found" in e.proto.body)
    assert all(f"<li>{h}: " in said for h in doc["conclusions"])  # each hypothesis' line
    assert len(at.get("plotly_chart")) >= 3  # two heatmaps and the curves
    assert at.dataframe[0].value["hypothesis_id"].isin(doc["conclusions"]).all()


def test_layers_page_runs_the_lens_as_a_job(demo_run, tmp_path, monkeypatch):
    import dashboard

    fresh = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("MODELDIFF_DB", str(fresh))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception and any("No runs yet" in i.value for i in at.info)
    db, run_id = demo_run
    monkeypatch.setenv("MODELDIFF_DB", str(db))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert any("No layer lens for this run yet" in i.value for i in at.info)
    at.text_input[0].set_value("0, x").run()
    next(b for b in at.button if b.label == "Run layer lens").click().run()
    assert any("comma-separated" in e.value for e in at.error)
    at.text_input[0].set_value("0, 1").run()
    at.number_input[1].set_value(4).run()
    next(b for b in at.button if b.label == "Run layer lens").click().run()
    assert not at.error, [e.value for e in at.error]
    job_id = re.search(r"job-[0-9a-f]+", at.success[0].value).group(0)
    job = dashboard._jobs(str(db)).wait(job_id, timeout=600)
    assert job["status"] == "done", job["error"]
    at.run()
    assert not at.exception and at.get("plotly_chart")
    # Without a reload: the page said the job finished, and concludes in words.
    assert any(m.value.startswith(f"{job_id} (layers) finished") for m in at.success)
    said = next(e.proto.body for e in at.get("html") if "What it found" in e.proto.body)
    assert "weights moved most at layer" in said


def test_an_interrupted_lens_resumes_from_stored_settings(demo_run, monkeypatch):
    from modeldiff_core.methods.layers.lens import layer_lens_for_run
    from modeldiff_core.methods.common.runner import SettingRunner
    from modeldiff_core.methods.layers.settings import LensSettings
    from modeldiff_core.models.loading import ModelCache

    db, run_id = demo_run
    calls, stop_at = [], [3]
    real = SettingRunner.run

    def counting(self, scale, layers, generate=True):
        calls.append((scale, layers))
        if len(calls) == stop_at[0]:
            raise KeyboardInterrupt  # the job dies in the middle of the third setting
        return real(self, scale, layers, generate)

    monkeypatch.setattr(SettingRunner, "run", counting)
    kw = dict(settings=LensSettings(scales=(0, 0.5, 1), n_texts=40, n_generations=4))
    with Store(db) as store:
        with pytest.raises(KeyboardInterrupt):
            layer_lens_for_run(store, run_id, ModelCache(), **kw)
        stop_at[0] = None
        calls.clear()
        first = layer_lens_for_run(store, run_id, ModelCache(), **kw)
        # 7 settings (scale 0 once; layers 0, 1 and all at 0.5 and 1): 2 were stored.
        assert len(calls) == 5
        calls.clear()
        again = layer_lens_for_run(store, run_id, ModelCache(), **kw)
        assert calls == [] and again["scaling"] == first["scaling"]
