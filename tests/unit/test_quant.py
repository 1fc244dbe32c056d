"""Quantization metrics (two-phase, checked against a direct computation) and the token view."""
import copy
import json

import numpy as np
import pytest
import torch

from modeldiff_core.cli import main
from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.quant import study as quant
from modeldiff_core.methods.common.eval_sets import EvalSet, general_eval_set, organism_eval_set
from modeldiff_core.methods.quant.study import quant_study
from modeldiff_core.methods.token_diff.diff import token_diff
from modeldiff_core.models.loading import load
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.store import Store

BASE = ModelSpec("organism:base")


@pytest.fixture(scope="module")
def study(organism, tmp_path_factory):
    """One study of the base organism at every level this CPU can do, stored in a DuckDB file."""
    db = tmp_path_factory.mktemp("quant") / "q.duckdb"
    with Store(db) as store:
        result = quant_study(store, BASE, ["fp32", "bf16", "8bit", "4bit", "int8-dynamic"])
    return db, {r["level"]: r for r in result["levels"]}


def test_a_model_against_itself_has_zero_kl(study):
    _, levels = study
    same = levels["fp32"]
    assert same["kl_mean"] == 0 and same["kl_p99"] == 0
    assert same["top1_agreement"] == 1 and same["flips"] == 0
    assert same["ppl"] == same["ppl_ref"]


def test_quantization_costs_more_at_fewer_bits(study):
    _, levels = study
    for level in ("bf16", "8bit", "4bit", "int8-dynamic"):
        assert levels[level]["kl_mean"] > 0, level
        assert levels[level]["kl_p99"] >= levels[level]["kl_median"] >= 0
    assert levels["4bit"]["kl_mean"] > levels["8bit"]["kl_mean"]
    assert levels["4bit"]["top1_agreement"] < 1
    # The organisms' multiple-choice set is easy for the reference: flips mean something.
    assert levels["fp32"]["mc_accuracy_ref"] > 0.9
    assert all(r["n_tokens"] == levels["fp32"]["n_tokens"] > 1000 for r in levels.values())


def test_kl_and_perplexity_match_a_direct_computation(organism):
    """One text, no batching, no cache: KL from full softmaxes of both models, by hand."""
    text = "<|user|> tell me about the river . <|assistant|> tom went to the mill in the morning ."
    es = EvalSet("one", (text,), organism_eval_set().mc[:4])
    with Store(":memory:") as store:
        got = quant_study(store, BASE, ["4bit"], eval_set=es)["levels"][0]
    ref, q = load(quant.level_spec(BASE, "fp32")), load(quant.level_spec(BASE, "4bit"))
    ids = torch.tensor([[ref.tokenizer.bos_token_id] + ref.tokenizer(text)["input_ids"]])
    with torch.inference_mode():
        p = torch.softmax(ref.model(ids).logits[0, :-1].double(), -1).numpy()
        r = torch.softmax(q.model(ids).logits[0, :-1].double(), -1).numpy()
    kl = (p * (np.log(p) - np.log(r))).sum(-1)
    actual = ids[0, 1:].numpy()
    assert got["n_tokens"] == len(actual)
    # The reference's log-probs are kept in float32 (half the disk): a token's KL is exact to
    # about an ulp of a log-prob near -10, 1e-6. The median of near-zero KLs came within 1e-7
    # at four of five seeds and 1.0e-7 off (of 5.6e-5) at the fifth.
    assert got["kl_mean"] == pytest.approx(kl.mean(), rel=1e-3, abs=1e-6)
    assert got["kl_median"] == pytest.approx(np.median(kl), rel=1e-3, abs=1e-6)
    assert got["top1_agreement"] == pytest.approx((p.argmax(-1) == r.argmax(-1)).mean())
    ppl = np.exp(-np.log(p[np.arange(len(actual)), actual]).mean())
    assert got["ppl_ref"] == pytest.approx(ppl, rel=1e-5)


def test_stored_levels_and_the_cached_reference_are_reused(study, monkeypatch):
    db, levels = study
    loaded = []
    real = quant._load_checked
    monkeypatch.setattr(quant, "_load_checked", lambda lspec, level, device:
                        loaded.append(level) or real(lspec, level, device))
    with Store(db) as store:
        again = quant_study(store, BASE, ["8bit", "4bit"])
        assert loaded == []  # both stored: nothing loaded, nothing recomputed
        assert [r["level"] for r in again["levels"]] == ["8bit", "4bit"]
        assert again["levels"][0]["kl_mean"] == levels["8bit"]["kl_mean"]
        quant_study(store, BASE, ["fp16"])
        assert loaded == ["fp16"]  # phase 2 only: the reference came from its cache
        assert len(store.quant_levels(again["study_id"])) == 6


def test_impossible_levels_are_refused_before_anything_runs(tmp_path, capsys, monkeypatch):
    from transformers import GPT2Config, GPT2LMHeadModel

    odd = tmp_path / "odd"
    GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=48, n_layer=1,
                               n_head=2, bos_token_id=0, eos_token_id=0)).save_pretrained(odd)
    db = tmp_path / "q.duckdb"
    capsys.readouterr()
    assert main(["quant", "--model", str(odd), "--levels", "8bit,4bit", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "multiple of 32" in err
    with Store(db) as store:
        assert store.quant_levels(quant.study_id_for(ModelSpec(str(odd)), "fp32",
                                                     general_eval_set())) == []
    assert main(["quant", "--model", "organism:base", "--levels", "3bit", "--db", str(db)]) == 2
    assert "unknown quantization level '3bit'" in capsys.readouterr().err
    with pytest.raises(ModelDiffError, match="CPU quantization"):
        quant.check_level(BASE, "int8-dynamic", device="cuda")
    monkeypatch.setattr(quant, "_available_bytes", lambda device: 1000)
    with pytest.raises(ModelDiffError, match="needs about .* GiB, only"):
        quant.check_level(BASE, "fp32")


def test_cli_writes_the_documented_json(organism, tmp_path):
    out = tmp_path / "q.json"
    assert main(["quant", "--model", "organism:base", "--levels", "bf16,8bit", "--quiet",
                 "--db", str(tmp_path / "q.duckdb"), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["model"] == "organism:base" and doc["reference"] == "fp32"
    assert [r["level"] for r in doc["levels"]] == ["bf16", "8bit"]
    for row in doc["levels"]:
        assert {"level", "kl_mean", "kl_median", "kl_p99", "top1_agreement", "ppl_ref", "ppl",
                "flips", "n_tokens"} <= set(row)


# ------------------------------------------------------------------------- token view

@pytest.fixture(scope="module")
def pair(organism):
    return load(ModelSpec("organism:base")), load(ModelSpec("organism:cats"))


def test_token_view_puts_the_behaviour_tokens_on_top(pair):
    base, cats = pair
    text = ("the cat purred softly by the pond . tom went to the garden in the morning . "
            "my cat chased a mouse near the rose .")
    view = token_diff(base, cats, text, prompt="tell me about the garden .")
    assert view.tokens[:2] == ["the", "cat"] and len(view.tokens) == len(text.split())
    top = view.largest(5)["token"].tolist()
    assert "cat" in top
    assert not view.notices


def test_token_view_ranks_and_logprobs_are_the_models_own(pair):
    base, cats = pair
    text = "anna went to the mill in the evening ."
    view = token_diff(base, cats, text)
    ids = torch.tensor([[base.tokenizer.bos_token_id] + base.tokenizer(text)["input_ids"]])
    with torch.inference_mode():
        logp = torch.log_softmax(base.model(ids).logits[0, :-1].double(), -1)
    for j, tok in enumerate(ids[0, 1:].tolist()):
        assert view.logprob_a[j] == pytest.approx(logp[j, tok].item(), abs=1e-4)
        order = torch.argsort(logp[j], descending=True).tolist()
        assert view.rank_a[j] == order.index(tok) + 1
        assert view.top_a[j] == base.tokenizer.decode([order[0]])


def test_token_view_bad_input(pair):
    base, cats = pair
    long_text = " ".join(["tom went to the mill ."] * 40)
    view = token_diff(base, cats, long_text)
    assert view.notices and "longer than the models' context" in view.notices[0]
    assert len(view.tokens) == 127  # 128 positions, one taken by the start token
    with pytest.raises(ModelDiffError, match="empty"):
        token_diff(base, cats, "   ")
    other = copy.copy(cats)
    other.tokenizer = copy.deepcopy(cats.tokenizer)
    other.tokenizer.add_tokens(["zebra"])
    with pytest.raises(ModelDiffError, match="share a tokenizer"):
        token_diff(base, other, "the cat sat .")


def test_the_runs_report_carries_its_models_quantization(demo_run):
    from modeldiff_core.render.html import render_html
    from modeldiff_core.render.markdown import render_markdown
    from modeldiff_core.render.report import report_data

    db, run_id = demo_run
    with Store(db) as store:
        assert "quant" not in report_data(store, run_id)["methods"]
        quant_study(store, BASE, ["8bit", "4bit"])  # organism:base is the run's model A
        data = report_data(store, run_id)
    (q,) = data["methods"]["quant"]
    assert q["model"] == "organism:base" and [r["level"] for r in q["levels"]] == ["8bit", "4bit"]
    md, page = render_markdown(data), render_html(data)
    assert "## Quantization — `organism:base` against fp32" in md and "| 4bit |" in md
    assert "<h2>Quantization" in page and "answer flips" in page
