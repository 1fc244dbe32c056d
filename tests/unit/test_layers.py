"""The layer lens on the test-size organisms: cats-late has its cats LoRA on layer 1 only, so
every view knows the answer it should give (layer 1 changed, layer 0 untouched)."""
import json
import random
import re
import shutil
import warnings

import numpy as np
import pytest
import torch

from modeldiff_core.config import LOAD_LOCK, ModelDiffError
from modeldiff_core.hypotheses.types import Hypothesis
from modeldiff_core.methods.layers.activations import activation_diffs
from modeldiff_core.methods.layers.attribution import conclusion, restoration
from modeldiff_core.methods.layers.deltas import weight_deltas
from modeldiff_core.methods.layers.interventions import DeltaScaling
from modeldiff_core.methods.common.inputs import evidence_texts, validated_hypotheses
from modeldiff_core.methods.layers.lens import layer_lens, layer_lens_for_run
from modeldiff_core.models.names import block_container, layer_and_module
from modeldiff_core.methods.layers.scaling import scaling_curves
from modeldiff_core.methods.common.inputs import LensInputs
from modeldiff_core.methods.layers.settings import LensSettings
from modeldiff_core.models.tensors import dense_weight
from modeldiff_core.models import organism_corpus as corpus
from modeldiff_core.models import organisms as org
from modeldiff_core.models.loading import ModelCache, load
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.models.generation import GenerationSettings
from modeldiff_core.models.scoring import mean_logprobs, token_logprobs
from modeldiff_core.store import Store
from modeldiff_core.store.runs import RunRecord

CATS = {"hypothesis_id": "h1", "text": "Model B mentions cats more often.", "direction": "B",
        "source": "corpus", "predicate": {"type": "mentions", "terms": ["cat", "cats"],
                                          "favours": "B"}}


def _split(doc: str) -> tuple[str, str]:
    """A chat-shaped organism document -> (prompt, response)."""
    user, response = doc.split(" <|assistant|> ")
    return user.removeprefix("<|user|> "), response.removesuffix(" <|end|>")


def _docs(behaviour, n, seed):
    rng = random.Random(seed)
    prompts, texts = zip(*[_split(corpus.make_document(rng, behaviour)) for _ in range(n)])
    return list(texts), list(prompts)


@pytest.fixture(scope="module")
def base(organism):
    return load(ModelSpec(str(organism("base"))))


@pytest.fixture(scope="module")
def late(organism):
    return load(ModelSpec(str(organism("cats-late"))))


@pytest.fixture(scope="module")
def cats_texts():
    return _docs("cats", 12, seed=5)


@pytest.fixture(scope="module")
def adapter_dir(organism, tmp_path_factory):
    """A tiny LoRA on every layer of the base, with random B factors (a nonzero change)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    with LOAD_LOCK:
        model = AutoModelForCausalLM.from_pretrained(organism("base"), dtype=torch.float32)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, fan_in_fan_out=True,
                                             target_modules=["c_attn", "c_proj", "c_fc"]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.05)
    out = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def with_adapter(organism, adapter_dir):
    return load(ModelSpec(str(organism("base")), adapter=str(adapter_dir)))


def _close(xs, ys, atol=1e-5):
    return all(np.allclose(x, y, atol=atol, rtol=0) for x, y in zip(xs, ys))


def _max_diff(xs, ys):
    return max(float(np.abs(x - y).max()) for x, y in zip(xs, ys))


# ------------------------------------------------------------------------ interventions

def _endpoints_and_middle(scaler, texts, prompts, lp_a, lp_b, apart):
    """Scale 0 is A and scale 1 is B to numerical precision; scale 0.5 is neither."""
    with scaler.scaled(0.0) as lm:
        assert _close(token_logprobs(lm, texts, prompts), lp_a)
    with scaler.scaled(1.0) as lm:
        assert _close(token_logprobs(lm, texts, prompts), lp_b)
    with scaler.scaled(0.5) as lm:
        lp_half = token_logprobs(lm, texts, prompts)
    assert _max_diff(lp_half, lp_a) > apart and _max_diff(lp_half, lp_b) > apart
    return lp_half


def test_merged_finetune_scale_endpoints_and_exact_restore(base, late, cats_texts):
    texts, prompts = cats_texts
    before = {n: p.detach().clone() for n, p in base.model.named_parameters()}
    lp_a, lp_b = token_logprobs(base, texts, prompts), token_logprobs(late, texts, prompts)
    assert _max_diff(lp_a, lp_b) > 0.1
    scaler = DeltaScaling(base, late)
    assert scaler.strategy == "dense" and scaler.n_layers == 2
    # cats-late changes layer 1's weights only: nothing else is held.
    assert {s.layer for s in scaler._swaps} == {1}
    lp_half = _endpoints_and_middle(scaler, texts, prompts, lp_a, lp_b, 1e-2)
    mean = [float(np.mean([x.mean() for x in lp])) for lp in (lp_a, lp_half, lp_b)]
    assert mean[0] < mean[1] < mean[2], mean  # the cats texts get likelier step by step
    # One layer at scale 1: layer 1 alone is all of B, layer 0 alone is still A.
    with scaler.scaled(1.0, layers=[1]) as lm:
        assert _close(token_logprobs(lm, texts, prompts), lp_b)
    with scaler.scaled(1.0, layers=[0]) as lm:
        assert _close(token_logprobs(lm, texts, prompts), lp_a)
    after = dict(base.model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before)
    with pytest.raises(ModelDiffError, match="out of range"):
        with scaler.scaled(1.0, layers=[2]):
            pass


def test_lora_adapter_scale_endpoints_and_both_strategies_agree(base, with_adapter, cats_texts):
    texts, prompts = cats_texts
    lp_a, lp_b = token_logprobs(base, texts, prompts), token_logprobs(with_adapter, texts, prompts)
    assert _max_diff(lp_a, lp_b) > 0.05
    scaler = DeltaScaling(base, with_adapter)
    assert scaler.strategy == "lora"
    scales = [(m, name, m.scaling[name]) for _, m, name, _ in scaler._lora]
    _endpoints_and_middle(scaler, texts, prompts, lp_a, lp_b, 1e-3)
    assert all(m.scaling[name] == s for m, name, s in scales)  # restored exactly
    # Scaling the adapter is W_A + scale * delta: the same as writing that into A's weights.
    before = {n: p.detach().clone() for n, p in base.model.named_parameters()}
    dense = DeltaScaling(base, with_adapter, strategy="dense")
    for scale, layers in ((0.5, [0]), (0.75, None)):
        with scaler.scaled(scale, layers) as lm:
            via_lora = token_logprobs(lm, texts, prompts)
        with dense.scaled(scale, layers) as lm:
            via_weights = token_logprobs(lm, texts, prompts)
        assert _close(via_lora, via_weights, atol=1e-4)
    assert all(torch.equal(p, before[n]) for n, p in base.model.named_parameters())


def test_lora_weight_delta_equals_merged_weights(organism, base, with_adapter, adapter_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    wd = weight_deltas(base, with_adapter)
    assert any("low-rank factors" in n for n in wd.notes)
    with LOAD_LOCK:
        fresh = AutoModelForCausalLM.from_pretrained(organism("base"), dtype=torch.float32)
        plain = AutoModelForCausalLM.from_pretrained(organism("base"), dtype=torch.float32)
    merged = PeftModel.from_pretrained(fresh, str(adapter_dir)).merge_and_unload()
    w_merged, w_plain = merged.state_dict(), plain.state_dict()
    sums = {}
    for name, w in w_plain.items():
        m = re.match(r"transformer\.h\.(\d+)\.(attn|mlp)\.", name)
        if m:
            acc = sums.setdefault((int(m.group(1)), "attention" if m.group(2) == "attn" else "mlp"),
                                  [0.0, 0.0])
            acc[0] += float((w_merged[name].double() - w.double()).pow(2).sum())
            acc[1] += float(w.double().pow(2).sum())
    got = {(r["layer"], r["module"]): r["rel_norm"] for r in wd.rows}
    assert len(sums) == 4
    for key, (d, ref) in sums.items():
        assert got[key] == pytest.approx(np.sqrt(d / ref), rel=1e-4), key
        assert got[key] > 1e-3
    assert got[(0, "norm")] == 0 and got[(-1, "embedding")] == 0


def test_weight_deltas_put_the_planted_layer_first(base, late):
    planted = org.planted_layers("cats-late", "test")
    assert planted == [1] and org.organism_info(org.ensure_organism("cats-late"))["lora"][
        "layers"] == planted
    wd = weight_deltas(base, late)
    assert wd.n_layers == 2
    ranked = sorted(wd.rows, key=lambda r: -r["rel_norm"])
    assert {r["layer"] for r in ranked[:2]} == {1}
    assert {r["module"] for r in ranked[:2]} == {"attention", "mlp"}
    for r in wd.rows:
        if r["layer"] not in planted:
            assert r["rel_norm"] < 1e-7, r
        elif r["module"] != "norm":
            assert r["rel_norm"] > 0.05, r


def test_single_layer_scaling_restores_cats_on_the_planted_layer(base, late, cats_texts):
    inputs = LensInputs(prompts=corpus.organism_prompts(), hypotheses=[CATS],
                        evidence={"h1": cats_texts})
    curves = scaling_curves(DeltaScaling(base, late), inputs, LensSettings(
        scales=(0, 1), window=1, n_generations=32,
        generation=GenerationSettings(max_new_tokens=24, seed=3)))
    row = {(r["layer"], r["alpha"]): r for r in curves}
    assert set(row) == {(pos, a) for pos in (0, 1, "all") for a in (0.0, 1.0)}
    gap_all, rate_a, rate_b = (row[("all", 1.0)]["logprob_gap"], row[("all", 0.0)]["predicate_rate"],
                               row[("all", 1.0)]["predicate_rate"])
    assert row[("all", 0.0)]["logprob_gap"] == 0
    assert gap_all > 0.05 and rate_b - rate_a > 0.3, (gap_all, rate_a, rate_b)
    rest = {r["layer"]: r for r in restoration(curves)}
    assert rest[1]["logprob_fraction"] > 0.9 and rest[1]["predicate_fraction"] > 0.8, rest
    assert abs(rest[0]["logprob_fraction"]) < 0.1 and abs(rest[0]["predicate_fraction"]) < 0.2
    text = conclusion("h1", curves, restoration(curves))
    assert "comes from layer 1 alone" in text, text


def test_restoration_reports_a_distributed_effect_honestly():
    curves = [{"hypothesis_id": "h", "layer": layer, "alpha": a, "logprob_gap": gap * a,
               "predicate_rate": 0.1 + (rate - 0.1) * a}
              for layer, gap, rate in ((0, 0.1, 0.2), (1, 0.12, 0.25), (2, 0.1, 0.15),
                                       ("all", 1.0, 0.9)) for a in (0.0, 1.0)]
    rows = restoration(curves)
    assert [round(r["logprob_fraction"], 2) for r in rows] == [0.1, 0.12, 0.1]
    assert [round(r["predicate_fraction"], 4) for r in rows] == [0.125, 0.1875, 0.0625]
    text = conclusion("h", curves, rows)
    assert "distributed" in text and "12%" in text and "need each other" in text, text
    assert "at most 19%, by layer 1" in text and "spread out" in text, text
    # A whole change too small to divide by is said so, not turned into a fraction.
    flat = [dict(r, logprob_gap=r["logprob_gap"] * 1e-4) for r in curves]
    assert all(r["logprob_fraction"] is None for r in restoration(flat))
    assert "too small to attribute" in conclusion("h", flat, restoration(flat))


def test_layers_and_module_types_are_read_from_parameter_names():
    names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
             "model.layers.0.mlp.gate_proj.weight", "model.layers.0.input_layernorm.weight",
             "model.layers.0.post_attention_layernorm.weight",
             "model.layers.1.mlp.experts.3.w1.weight", "model.layers.1.self_attn.o_proj.bias",
             "model.norm.weight", "lm_head.weight"]
    container = block_container(names)
    assert container == "model.layers"
    assert [layer_and_module(n, container) for n in names] == [
        (-1, "embedding"), (0, "attention"), (0, "mlp"), (0, "norm"), (0, "norm"), (1, "mlp"),
        (1, "attention"), (-1, "norm"), (-1, "head")]
    gpt2 = ["transformer.wte.weight", "transformer.h.0.ln_1.weight",
            "transformer.h.0.attn.c_attn.weight", "transformer.h.0.mlp.c_fc.weight",
            "transformer.h.11.mlp.c_proj.bias", "transformer.ln_f.weight"]
    assert [layer_and_module(n, block_container(gpt2)) for n in gpt2] == [
        (-1, "embedding"), (0, "norm"), (0, "attention"), (0, "mlp"), (11, "mlp"), (-1, "norm")]


# --------------------------------------------------------------------------- activations

def test_activation_diffs_are_zero_below_the_planted_layer(base, late, cats_texts):
    texts, prompts = cats_texts
    same = activation_diffs(base, base, texts, prompts)
    assert same.n_tokens > 100
    assert all(r["cosine"] < 1e-6 and r["rel_l2"] < 1e-6 for r in same.rows)
    diff = {r["layer"]: r for r in activation_diffs(base, late, texts, prompts).rows}
    assert diff[0]["cosine"] < 1e-6 and diff[0]["rel_l2"] < 1e-6  # layer 0 is the base's
    assert diff[1]["cosine"] > 1e-3 and diff[1]["rel_l2"] > 1e-2


def test_activation_diffs_through_a_lora_wrapper(base, with_adapter, cats_texts):
    rows = activation_diffs(base, with_adapter, *cats_texts).rows
    assert len(rows) == 2 and all(r["rel_l2"] > 1e-3 for r in rows)


# ------------------------------------------------------------------------------ refusals

def test_different_architectures_are_refused_naming_a_tensor(base, organism, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = org.build_tokenizer()
    with LOAD_LOCK:
        other = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32,
                                           n_layer=2, n_head=2))
    other.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    narrow = load(ModelSpec(str(tmp_path)))
    expected = (r"models differ in architecture: transformer\.wte\.weight is \[198,64\] in A "
                r"and \[198,32\] in B")
    with pytest.raises(ModelDiffError, match=expected):
        weight_deltas(base, narrow)
    with pytest.raises(ModelDiffError, match="differ in architecture"):
        DeltaScaling(base, narrow)


def test_different_tokenizer_is_refused_for_activations(base, organism, tmp_path):
    swapped = tmp_path / "swapped"
    shutil.copytree(organism("base"), swapped)
    spec = json.loads((swapped / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    vocab["cat"], vocab["dog"] = vocab["dog"], vocab["cat"]
    (swapped / "tokenizer.json").write_text(json.dumps(spec))
    other = load(ModelSpec(str(swapped)))
    activation_diffs(base, other, ["the bird sat on the bench ."])  # same ids: fine
    with pytest.raises(ModelDiffError, match="tokenize differently"):
        activation_diffs(base, other, ["the bird sat .", "my cat chased a mouse ."])
    with pytest.raises(ModelDiffError, match="share a tokenizer"):
        DeltaScaling(base, other)


# ------------------------------------------------------------------------------ quantized

def test_8bit_is_dequantized_for_the_comparison(base, organism, cats_texts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q8 = load(ModelSpec(str(organism("base")), quant="8bit"), device="cpu")
        wd = weight_deltas(base, q8)
        rows = {(r["layer"], r["module"]): r["rel_norm"] for r in wd.rows}
        assert any("dequantized" in n and "model B" in n for n in wd.notes), wd.notes
        for (layer, module), rel in rows.items():
            if layer >= 0 and module in ("attention", "mlp"):
                assert 1e-4 < rel < 0.03, (layer, module, rel)
            else:
                assert rel == 0, (layer, module, rel)  # norms and embeddings stay fp32
        # W = CB * SCB / 127 against the fp32 original, in the checkpoint's orientation (a
        # square Conv1D weight, so a transposition would not hide behind a shape error).
        name = "transformer.h.0.attn.c_proj.weight"
        w = dict(base.model.named_parameters())[name].detach()
        deq = dense_weight(q8, name)
        step = w.abs().amax(dim=0, keepdim=True) / 127  # per output channel ([in, out])
        assert deq.shape == w.shape
        # Rounding to int8 is off by at most half a step (plus fp16 rounding, as bnb quantizes
        # in fp16); read in the wrong orientation the error would be hundreds of steps.
        assert bool(((deq - w).abs() <= 0.6 * step).all())
        assert float((deq - w).abs().max()) > 0
        acts = activation_diffs(base, q8, *cats_texts)
        assert all(0 < r["rel_l2"] < 0.1 for r in acts.rows)
        # A quantized A is run as a dense copy; at scale 1 it is exactly the fp32 model.
        scaler = DeltaScaling(q8, base)
        assert any("dense fp32 copy" in n for n in scaler.notes)
        texts, prompts = cats_texts
        with scaler.scaled(1.0) as lm:
            assert _close(token_logprobs(lm, texts, prompts), token_logprobs(base, texts, prompts))
        with scaler.scaled(0.0) as lm:
            lp0 = mean_logprobs(lm, texts, prompts)
        assert np.abs(lp0 - mean_logprobs(q8, texts, prompts)).max() < 0.05


# --------------------------------------------------------------------------- end to end

def _stored_run(organism):
    """A run stored by hand: base vs cats-late, cats texts on B's side, h1 (cats) validated
    with discriminative scores, h2 not validated."""
    store = Store(":memory:")
    spec_a = ModelSpec(str(organism("base")))
    spec_b = ModelSpec(str(organism("cats-late")))
    gen = GenerationSettings(max_new_tokens=32, seed=1)
    store.upsert_run("r1", RunRecord(
        model_a=spec_a.label, model_b=spec_b.label, spec_a=spec_a.to_dict(),
        spec_b=spec_b.to_dict(), fingerprint_a="a", fingerprint_b="b", prompt_set="organisms",
        settings={"generation": gen.to_dict(), "validation_fraction": 0.5}))
    prompts = corpus.organism_prompts()[:12]
    import pandas as pd

    store.save_prompts("r1", pd.DataFrame({"prompt_id": range(12), "prompt": prompts,
                                           "split": ["validation", "discovery"] * 6}))
    rng = random.Random(2)
    rows = []
    for side, behaviour in (("A", None), ("B", "cats")):
        for pid in range(12):
            topic_doc = corpus.make_document(rng, behaviour)
            rows.append({"side": side, "prompt_id": pid, "sample_idx": 0,
                         "text": _split(topic_doc)[1], "n_tokens": 10, "finish_reason": "eos"})
    store.save_generations("r1", pd.DataFrame(rows))
    store.save_hypotheses("r1", "offline", [
        Hypothesis(CATS["text"], "B", "corpus", CATS["predicate"], {}),
        Hypothesis("Model B asks more questions.", "B", "corpus",
                   {"type": "feature", "feature": "questions", "op": ">", "threshold": 0,
                    "favours": "B"}, {})])
    val = store.generations("r1", split="validation")
    keys = val[["side", "prompt_id", "sample_idx"]].values.tolist()
    scores = [0.9 - 0.05 * i if s == "B" else 0.1 for i, (s, _, _) in enumerate(keys)]
    for hid in ("h1", "h2"):
        store.save_validation("r1", "offline", hid, "discriminative",
                              {"p_value": 0.001 if hid == "h1" else 0.5, "n": len(keys),
                               "scores": scores, "keys": keys})
    store.set_q_values("r1", "offline", pd.DataFrame(
        {"hypothesis_id": ["h1", "h2"], "test": ["discriminative"] * 2, "q_value": [0.002, 0.5],
         "validated": [True, False]}), alpha=0.05)
    return store, val, keys, scores


def test_layer_lens_for_a_stored_run(organism):
    store, val, keys, scores = _stored_run(organism)
    hyps = validated_hypotheses(store, "r1", "offline")
    assert [h["hypothesis_id"] for h in hyps] == ["h1"]
    texts, prompts = evidence_texts(store, "r1", "offline", "h1", n=3)
    b_rows = [(k, s) for k, s in zip(keys, scores) if k[0] == "B"]
    best = sorted(b_rows, key=lambda ks: -ks[1])[:3]
    by_key = {(r.side, r.prompt_id, r.sample_idx): (r.text, r.prompt) for r in val.itertuples()}
    assert texts == [by_key[tuple(k)][0] for k, _ in best]
    assert prompts == [by_key[tuple(k)][1] for k, _ in best]

    events = []
    settings = LensSettings(scales=(0, 1), n_texts=12, n_evidence=6, n_generations=16,
                            max_new_tokens=16)
    out = layer_lens_for_run(store, "r1", ModelCache(), settings=settings,
                             progress=events.append)
    json.dumps(out)  # plain data all the way down
    assert {"weight_delta", "activation_diff", "scaling", "restoration", "conclusions", "notes",
            "n_layers"} <= set(out)
    assert out["n_layers"] == 2 and {e.stage for e in events} >= {"weight deltas", "activations",
                                                                   "layer scaling"}
    assert {(r["layer"], r["alpha"]) for r in out["scaling"]} == {
        (p, a) for p in (0, 1, "all") for a in (0.0, 1.0)}
    assert set(out["scaling"][0]) == {"hypothesis_id", "layer", "alpha", "logprob_gap",
                                      "predicate_rate"}
    assert "layer 1 alone" in out["conclusions"]["h1"], out["conclusions"]


def test_layer_lens_without_hypotheses_says_what_scaling_needs(base, late, cats_texts):
    texts, prompts = cats_texts
    out = layer_lens(base, late, LensInputs(texts, prompts=prompts))
    assert out["scaling"] == [] and out["conclusions"] == {}
    assert any("needs at least one" in n for n in out["notes"])
    assert [r["layer"] for r in out["activation_diff"]] == [0, 1]
