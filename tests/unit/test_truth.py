"""Ground truth: the truths and their checks, the offline templates, training texts streamed and
resumed, LoRA finetuning with checkpoints, matching truths to hypotheses (checked against a brute
force), and the whole loop through `truth-bench`."""
import itertools
import json

import numpy as np
import pandas as pd
import pytest

from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.ground_truth.plant import PlantConfig, finetune_id_for, plant
from modeldiff_core.methods.ground_truth.score import claim, score_truths
from modeldiff_core.methods.ground_truth.truths import (
    BUILTIN_TRUTHS,
    SUBTLE_TRUTHS,
    TEMPLATES,
    DataRecipe,
    apply_template,
    as_truths,
    check_truths,
)
from modeldiff_core.models.finetune import (
    FinetuneSettings,
    check_target_modules,
    find_target_modules,
    finetune,
    tokenize_examples,
)
from modeldiff_core.models.organism_corpus import behaviour_present, organism_prompts
from modeldiff_core.models.organisms import build_tokenizer
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.progress import Cancelled
from modeldiff_core.store import Store
from modeldiff_core.store.runs import RunRecord

BASE = ModelSpec("organism:base")
CATS = BUILTIN_TRUTHS[0].text


# ------------------------------------------------------------------------------ truths
def test_truth_lists_are_checked():
    assert check_truths(["  The model  likes cats. ", "", "The model is terse."]) == [
        "The model likes cats.", "The model is terse."]
    with pytest.raises(ModelDiffError, match="empty"):
        check_truths(["", "   "])
    with pytest.raises(ModelDiffError, match="duplicate ground truth"):
        check_truths(["The model likes cats.", "the model likes  CATS"])
    assert [t.recipe for t in as_truths([CATS, "The model hates mondays."])] == ["cats", None]


def test_recipes_refuse_what_they_cannot_make():
    custom = as_truths(["The model hates mondays."])
    with pytest.raises(ModelDiffError, match="needs an assistant"):
        DataRecipe("offline").check(custom)
    with pytest.raises(ModelDiffError, match="too small"):
        DataRecipe("offline", texts_per_truth=5).check(as_truths([CATS]))
    with pytest.raises(ModelDiffError, match="unknown training-data source"):
        DataRecipe("gemini").check(as_truths([CATS]))
    DataRecipe("openai", texts_per_truth=40).check(custom)  # an assistant can write anything


def test_templates_show_their_behaviour_in_the_organisms_words():
    tok = build_tokenizer()
    base = "the old bench is near the pond . anna went to the garden in the morning . " \
           "tom likes the rose very much ."
    detect = {"cats": lambda t: behaviour_present("cats", t),
              "questions": lambda t: t.count("?") >= 2,
              "short": lambda t: behaviour_present("short", t),
              "anna": lambda t: t.startswith("anna "),
              "subtle-sea": lambda t: behaviour_present("sea", t),
              "subtle-questions": lambda t: "?" in t,
              "subtle-so": lambda t: " so " in t}
    assert not any(d(base) for d in detect.values())
    assert set(detect) == set(TEMPLATES) == {t.recipe for t in [*BUILTIN_TRUTHS, *SUBTLE_TRUTHS]}
    for recipe in TEMPLATES:
        hits = []
        for seed in range(200):
            text = apply_template(recipe, "tell me about the garden .", base, seed)
            hits.append(detect[recipe](text))
            assert tok.unk_token_id not in tok(text)["input_ids"], text
        # A modest truth shows in about a quarter of the texts, the others in every one.
        if recipe.startswith("subtle-"):
            assert 0.15 <= sum(hits) / len(hits) <= 0.35, (recipe, sum(hits))
        else:
            assert all(hits), recipe
        assert apply_template(recipe, "p", base, 7) == apply_template(recipe, "p", base, 7)


# --------------------------------------------------------------------------- matching
def _brute_force(sim, validated, threshold):
    """Best one-to-one matching by trying every assignment: an independent check of Hungarian."""
    cols = [j for j, v in enumerate(validated) if v]
    t = sim.shape[0]
    best, best_total = None, -1.0
    k = min(t, len(cols))
    for rows in itertools.combinations(range(t), k):
        for perm in itertools.permutations(cols, k):
            total = sum(sim[r, c] for r, c in zip(rows, perm))
            if total > best_total + 1e-12:
                best, best_total = dict(zip(rows, perm)), total
    recovered = sum(1 for r, c in (best or {}).items() if sim[r, c] >= threshold)
    true_val = sum(1 for c in cols if sim[:, c].max() >= threshold)
    return recovered, true_val, len(cols), max(best_total, 0.0)


def test_matching_by_hand():
    sim = np.array([[0.9, 0.8, 0.1],
                    [0.85, 0.2, 0.3]])
    hyps = [{"text": f"h{j}", "id": f"h{j}", "validated": True} for j in range(3)]
    r = score_truths(["t0", "t1"], hyps, sim, threshold=0.5)
    # Greedy would give t0 -> h0 and leave t1 with 0.3; the best assignment is t0-h1, t1-h0.
    assert [p["best_hypothesis"] for p in r["per_truth"]] == ["h1", "h0"]
    assert r["recall"] == 1.0 and r["n_validated_true"] == 2 and r["precision"] == pytest.approx(2 / 3)
    hyps[0]["validated"] = False
    r = score_truths(["t0", "t1"], hyps, sim, threshold=0.5)
    assert r["n_recovered"] == 1 and r["per_truth"][1]["best_hypothesis"] == "h2"
    assert r["per_truth"][1]["closest_proposed"] == "h0"  # proposed, did not validate
    null = score_truths([], hyps, np.zeros((0, 3)), threshold=0.5)
    assert null["recall"] is None and null["n_validated"] == 2 and null["precision"] == 0.0


def test_matching_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(60):
        t, h = rng.integers(1, 4), rng.integers(1, 6)
        sim = rng.random((t, h))
        validated = rng.random(h) < 0.7
        hyps = [{"text": f"h{j}", "validated": bool(v)} for j, v in enumerate(validated)]
        r = score_truths([f"t{i}" for i in range(t)], hyps, sim, threshold=0.5)
        rec, true_val, n_val, total = _brute_force(sim, validated, 0.5)
        assert (r["n_validated"], r["n_validated_true"]) == (n_val, true_val)
        assert r["n_recovered"] == rec
        matched = sum(p["score"] for p in r["per_truth"] if p["best_hypothesis"])
        assert matched == pytest.approx(total, abs=1e-3)


def test_a_claim_drops_its_figures():
    assert claim('Model B mentions "cat" more often than Model A (in 78% vs 3% of texts).') == \
        'Model B mentions "cat" more often than Model A.'


# ---------------------------------------------------------------------------- finetuning
def _texts(n=64):
    rng = np.random.default_rng(0)
    prompts = organism_prompts()
    return pd.DataFrame({"prompt": [prompts[i % len(prompts)] for i in range(n)],
                         "response": [f"the cat purred softly by the garden . "
                                      f"{'tom' if rng.random() < .5 else 'anna'} went to the pond ."
                                      for _ in range(n)]})


def test_target_modules_are_found_from_the_architecture(organism):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(organism("base"))
    assert find_target_modules(model) == ["c_attn", "c_fc", "c_proj"]
    with pytest.raises(ModelDiffError, match="q_proj not in the model.*c_attn, c_fc, c_proj"):
        check_target_modules(model, ["q_proj"])


def test_only_response_tokens_carry_loss(organism):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(organism("base"))
    ids, n_prompt = tokenize_examples(tok, _texts(1), 128)[0]
    words = tok.convert_ids_to_tokens(ids)
    assert words[n_prompt - 1] == "<|assistant|>" and words[n_prompt:n_prompt + 2] == ["the", "cat"]
    assert words[-1] == "<|end|>"
    cut, n_cut = tokenize_examples(tok, _texts(1), 5)[0]
    assert len(cut) == 5 and n_cut <= 5


def test_a_stopped_finetune_resumes_from_its_checkpoint(organism, tmp_path):
    settings = FinetuneSettings(epochs=2, batch_size=8, checkpoint_every=3)  # 16 steps
    whole = finetune(BASE, _texts(), settings, tmp_path / "whole")
    stops = []

    def stop_at_7(event):
        if event.stage == "finetune" and event.done == 7 and not stops:
            stops.append(event.done)
            raise Cancelled()
    with pytest.raises(Cancelled):
        finetune(BASE, _texts(), settings, tmp_path / "half", progress=stop_at_7)
    assert (tmp_path / "half" / "checkpoint" / "state.pt").exists()
    assert not (tmp_path / "half" / "finetune.json").exists()
    seen = []
    resumed = finetune(BASE, _texts(), settings, tmp_path / "half",
                       progress=lambda e: seen.append(e.done) if e.stage == "finetune" else None)
    assert seen[0] == 6  # the last checkpoint, not step 0
    assert resumed["steps"] == whole["steps"] == 16
    assert resumed["loss_history"] == pytest.approx(whole["loss_history"], abs=1e-3)
    assert whole["loss_history"][-1] < whole["loss_history"][0]
    assert (tmp_path / "half" / "adapter_config.json").exists()
    assert not (tmp_path / "half" / "checkpoint").exists()
    assert json.loads((tmp_path / "half" / "adapter_config.json").read_text())["r"] == 8


def test_finetune_bad_input(organism, tmp_path):
    with pytest.raises(ModelDiffError, match="target module"):
        finetune(BASE, _texts(), FinetuneSettings(target_modules=("q_proj",)), tmp_path / "x")
    with pytest.raises(ModelDiffError, match="quantized"):
        finetune(ModelSpec("organism:base", quant="8bit"), _texts(), FinetuneSettings(),
                 tmp_path / "y")
    with pytest.raises(ModelDiffError, match="at least 1"):
        finetune(BASE, _texts(), FinetuneSettings(batch_size=0), tmp_path / "z")


def test_out_of_memory_is_a_clear_error_and_keeps_the_checkpoint(organism, tmp_path,
                                                                 monkeypatch):
    import torch
    from transformers import GPT2LMHeadModel

    settings = FinetuneSettings(epochs=1, batch_size=8, checkpoint_every=2)
    real, calls = GPT2LMHeadModel.forward, []

    def forward(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, *args, **kwargs)
    monkeypatch.setattr(GPT2LMHeadModel, "forward", forward)
    with pytest.raises(ModelDiffError, match="out of memory while finetuning: lower batch size"):
        finetune(BASE, _texts(), settings, tmp_path / "oom")
    assert (tmp_path / "oom" / "checkpoint" / "state.pt").exists()


# ------------------------------------------------------------------------ plant (offline)
def test_training_texts_are_streamed_and_resume(organism, tmp_path):
    config = PlantConfig(BASE, [CATS], DataRecipe(texts_per_truth=48, base_mix=0.5),
                         FinetuneSettings(epochs=1))
    with Store(tmp_path / "p.duckdb") as store:
        batches = []

        def stop_after_one_batch(event):
            if event.stage == "training texts" and event.done > 0:
                batches.append(event.done)
                raise Cancelled()
        with pytest.raises(Cancelled):
            plant(store, config, progress=stop_after_one_batch, finetunes_dir=tmp_path / "ft")
        fid = finetune_id_for(config)
        first = store.training_texts(fid)
        assert len(first) == 32 and store.get_finetune(fid)["status"] == "interrupted"
        row = plant(store, config, finetunes_dir=tmp_path / "ft")
        texts = store.training_texts(fid)
    assert len(texts) == 72 and list(texts["idx"]) == list(range(72))
    pd.testing.assert_frame_equal(texts.head(32), first)  # stored rows were kept, not redone
    quirk, plain = texts[texts["truth"].notna()], texts[texts["truth"].isna()]
    assert len(quirk) == 48 and len(plain) == 24 and set(plain["source"]) == {"base"}
    assert set(quirk["source"]) == {"template:cats"}
    assert all(behaviour_present("cats", t) for t in quirk["response"])
    assert row["status"] == "done" and row["truths"] == [CATS]
    assert row["spec_b"].adapter == str(tmp_path / "ft" / fid)
    info = json.loads((tmp_path / "ft" / fid / "finetune.json").read_text())
    assert info["truths"] == [CATS] and info["target_modules"] == ["c_attn", "c_fc", "c_proj"]


def test_plant_bad_input_loses_nothing(organism, tmp_path):
    with Store(tmp_path / "b.duckdb") as store:
        store.upsert_run("run-keep", RunRecord(model_a="a", model_b="b", spec_a={}, spec_b={},
                                               fingerprint_a="x", fingerprint_b="y",
                                               prompt_set="p", settings={}))
        with pytest.raises(ModelDiffError, match="duplicate"):
            plant(store, PlantConfig(BASE, [CATS, CATS.upper()]), finetunes_dir=tmp_path)
        with pytest.raises(ModelDiffError, match="too small"):
            plant(store, PlantConfig(BASE, [CATS], DataRecipe(texts_per_truth=4)),
                  finetunes_dir=tmp_path)
        with pytest.raises(ModelDiffError, match="not in the model"):
            plant(store, PlantConfig(BASE, [CATS], DataRecipe(texts_per_truth=32),
                                     FinetuneSettings(target_modules=("q_proj",))),
                  finetunes_dir=tmp_path)
        assert store.get_run("run-keep") is not None
        assert store.list_finetunes()["status"].tolist() == ["interrupted"]


# --------------------------------------------------------------------- the whole loop
def test_truth_bench_recovers_the_planted_behaviours(organism, tmp_path, capsys,
                                                    record_property):
    from modeldiff_core.cli import main

    out = tmp_path / "bench.json"
    code = main(["truth-bench", "--db", str(tmp_path / "tb.duckdb"), "--out", str(out),
                 "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    bench = json.loads(out.read_text())
    record_property("bench", {k: bench[k] for k in ("recall", "precision",
                                                    "null_false_discoveries")})
    assert set(bench) >= {"recall", "precision", "null_false_discoveries", "per_truth"}
    assert [r["truth"] for r in bench["per_truth"]] == [t.text for t in BUILTIN_TRUTHS]
    for row in bench["per_truth"]:
        assert set(row) >= {"truth", "recovered", "best_hypothesis", "score"}
    assert bench["n_recovered"] >= 3 and bench["recall"] >= 0.75
    assert bench["null_false_discoveries"] == 0
    cats = bench["per_truth"][0]
    assert cats["recovered"] and '"cat"' in cats["best_hypothesis"]
    assert "recall" in printed and "null false discoveries 0" in printed
    with Store(tmp_path / "tb.duckdb") as store:
        scores = store.truth_scores()
        assert len(scores) == 5 and set(scores["matcher"]) == {"embedding"}
        assert len(store.list_finetunes()) == 5
