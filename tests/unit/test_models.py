"""Model specs: fingerprints, up-front checks, loading (fp32 / 8-bit / 4-bit / LoRA), the cache.

Every model is a tiny GPT-2 built here from a random init; nothing is downloaded."""
import os
import shutil
import time
import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from modeldiff_core.config import ModelDiffError  # noqa: E402
from modeldiff_core.models import spec as models  # noqa: E402
from modeldiff_core.models.loading import ModelCache, load  # noqa: E402
from modeldiff_core.models.organisms import build_tokenizer  # noqa: E402
from modeldiff_core.models.spec import ModelSpec, check_spec, fingerprint  # noqa: E402

PROMPT = "the cats sat on the mat by the river ."


def _save_gpt2(path, n_embd, seed, n_layer=1):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = build_tokenizer()
    cfg = GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=2, vocab_size=len(tok),
                     n_positions=64, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     initializer_range=0.1)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(cfg)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 1-layer GPT-2 whose linear layers are all multiples of 32 wide (4-bit-able on CPU)."""
    return _save_gpt2(tmp_path_factory.mktemp("tiny64") / "m", 64, seed=0)


@pytest.fixture(scope="module")
def tiny48(tmp_path_factory):
    """n_embd=48: c_attn is 144 wide, which bitsandbytes cannot 4-bit quantize on the CPU."""
    return _save_gpt2(tmp_path_factory.mktemp("tiny48") / "m", 48, seed=0)


@pytest.fixture(scope="module")
def adapter(tiny, tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"],
                                                 fan_in_fan_out=True, lora_dropout=0.0))
    torch.manual_seed(1)
    n = 0
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * 0.5)  # B is zero at init: the adapter would be a no-op
                n += 1
    assert n > 0
    out = tmp_path_factory.mktemp("adapter") / "lora"
    peft_model.save_pretrained(out)
    return out


def _logits(loaded):
    enc = loaded.tokenizer(PROMPT, return_tensors="pt").to(loaded.input_device)
    with torch.no_grad():
        return loaded.model(**enc).logits.float().cpu()


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.fixture(scope="module")
def fp32_logits(tiny):
    return _logits(load(ModelSpec(str(tiny)), device="cpu"))


# --- spec -----------------------------------------------------------------------

def test_spec_dict_roundtrip_and_label(tiny):
    spec = ModelSpec(str(tiny), revision="main", dtype="bf16", quant="8bit", adapter="/x/lora")
    assert ModelSpec.from_dict({**spec.to_dict(), "unrelated": 1}) == spec
    assert spec.label == f"{tiny}@main [8bit] [bf16] + LoRA lora"
    assert ModelSpec("gpt2").label == "gpt2"
    assert ModelSpec(str(tiny)).is_local and not ModelSpec("gpt2").is_local
    assert ModelSpec("organism:cats").is_organism


# --- fingerprint ----------------------------------------------------------------

def test_fingerprint_stable_and_sensitive_to_spec(tiny):
    base = ModelSpec(str(tiny))
    fp = fingerprint(base)
    assert fp == fingerprint(base) == fingerprint(ModelSpec(str(tiny)))
    assert len(fp) == 16
    variants = [ModelSpec(str(tiny), quant="8bit"), ModelSpec(str(tiny), quant="4bit"),
                ModelSpec(str(tiny), dtype="fp16"), ModelSpec(str(tiny), dtype="fp32"),
                ModelSpec(str(tiny), revision="v2")]
    fps = [fingerprint(s) for s in variants]
    assert fp not in fps and len(set(fps)) == len(fps)


def test_fingerprint_changes_with_weights_and_config(tiny, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    hour_ago = time.time() - 3600  # so coarse file-system timestamps cannot hide the rewrite
    for f in copy.iterdir():
        os.utime(f, (hour_ago, hour_ago))
    spec = ModelSpec(str(copy))
    before = fingerprint(spec)
    assert fingerprint(spec) == before
    _save_gpt2(copy, 64, seed=123)  # same shapes (same file size), different weights
    after = fingerprint(spec)
    assert after != before
    assert fingerprint(spec) == after
    _save_gpt2(copy, 64, seed=123, n_layer=2)  # config.json changes too
    assert fingerprint(spec) not in (before, after)


def test_fingerprint_includes_adapter_files(tiny, adapter, tmp_path):
    copy = tmp_path / "lora"
    shutil.copytree(adapter, copy)
    with_adapter = ModelSpec(str(tiny), adapter=str(copy))
    fp = fingerprint(with_adapter)
    assert fp != fingerprint(ModelSpec(str(tiny)))
    cfg = copy / "adapter_config.json"
    cfg.write_text(cfg.read_text().replace('"r": 4', '"r": 4 '))
    assert fingerprint(with_adapter) != fp


# --- check_spec -----------------------------------------------------------------

def _one_line_error(spec, match, device="cpu"):
    with pytest.raises(ModelDiffError, match=match) as info:
        check_spec(spec, device=device)
    msg = str(info.value)
    assert "\n" not in msg and msg.strip() == msg
    return msg


def test_check_spec_accepts_a_good_local_model(tiny):
    config = check_spec(ModelSpec(str(tiny)), device="cpu")
    assert config.model_type == "gpt2" and config.n_embd == 64
    assert check_spec(ModelSpec(str(tiny), quant="4bit"), device="cpu").n_embd == 64


def test_check_spec_missing_path(tmp_path):
    _one_line_error(ModelSpec(str(tmp_path / "nowhere")), "does not exist")
    _one_line_error(ModelSpec("not a valid id!"), "does not exist")


def test_check_spec_dir_without_config(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"x")
    _one_line_error(ModelSpec(str(tmp_path)), r"not a HF model directory \(no config.json\)")


def test_check_spec_adapter_without_adapter_config(tiny, tmp_path):
    msg = _one_line_error(ModelSpec(str(tiny), adapter=str(tmp_path)), "no adapter_config.json")
    assert str(tmp_path) in msg
    _one_line_error(ModelSpec(str(tiny), adapter=str(tmp_path / "missing")),
                    "not a PEFT adapter directory")


@pytest.mark.parametrize("field, value, what", [("quant", "3bit", "quantization"),
                                                ("dtype", "fp64", "dtype"),
                                                ("quant", "8-bit", "quantization")])
def test_check_spec_unknown_quant_or_dtype(tiny, field, value, what):
    msg = _one_line_error(ModelSpec(str(tiny), **{field: value}), f"unknown {what} '{value}'")
    assert "none" in msg or "fp32" in msg  # lists the choices


def test_check_spec_empty_model():
    _one_line_error(ModelSpec("   "), "model is empty")


def test_check_spec_unloadable_hub_id_offline():
    _one_line_error(ModelSpec("modeldiff-test-nobody/no-such-model"),
                    "offline: cannot reach the hub to find modeldiff-test-nobody/no-such-model")


def test_check_spec_4bit_on_cpu_needs_multiples_of_32(tiny48):
    msg = _one_line_error(ModelSpec(str(tiny48), quant="4bit"), "multiple of 32")
    assert "144" in msg and "c_attn" in msg
    # The same model is fine unquantized, 8-bit, and 4-bit where the restriction does not apply.
    check_spec(ModelSpec(str(tiny48)), device="cpu")
    check_spec(ModelSpec(str(tiny48), quant="8bit"), device="cpu")


def test_check_spec_quant_on_mps_is_refused(tiny):
    _one_line_error(ModelSpec(str(tiny), quant="8bit"), "MPS", device="mps")


# --- load -----------------------------------------------------------------------

def test_load_fp32(tiny, fp32_logits):
    spec = ModelSpec(str(tiny))
    loaded = load(spec, device="cpu")
    assert loaded.device == "cpu" and loaded.fingerprint == fingerprint(spec)
    assert str(loaded.input_device) == "cpu"
    assert not loaded.model.training
    assert loaded.tokenizer.padding_side == "left" and loaded.tokenizer.pad_token is not None
    assert next(loaded.model.parameters()).dtype == torch.float32
    logits = _logits(loaded)
    assert logits.shape[-1] == len(build_tokenizer())
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits, fp32_logits)  # deterministic


def test_load_bf16(tiny, fp32_logits):
    loaded = load(ModelSpec(str(tiny), dtype="bf16"), device="cpu")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    logits = _logits(loaded)
    assert torch.isfinite(logits).all()
    assert 0 < _rel(logits, fp32_logits) < 0.05


@pytest.mark.parametrize("quant, tol", [("8bit", 0.1), ("4bit", 0.5)])
def test_load_quantized_on_cpu(tiny, tiny48, fp32_logits, quant, tol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load(ModelSpec(str(tiny), quant=quant), device="cpu")
        logits = _logits(loaded)
    import bitsandbytes as bnb

    layer = loaded.model.transformer.h[0].attn.c_attn
    assert isinstance(layer, bnb.nn.Linear8bitLt if quant == "8bit" else bnb.nn.Linear4bit)
    assert torch.isfinite(logits).all()
    err = _rel(logits, fp32_logits)
    assert 1e-4 < err < tol, err  # close to the fp32 model, but really quantized
    # ...and much closer to its source than an unrelated model (same vocabulary) is.
    unrelated = _logits(load(ModelSpec(str(tiny48)), device="cpu"))
    assert err < 0.5 * _rel(unrelated, fp32_logits)


def test_lora_adapter_changes_logits(tiny, adapter, fp32_logits):
    loaded = load(ModelSpec(str(tiny), adapter=str(adapter)), device="cpu")
    from peft import PeftModel

    assert isinstance(loaded.model, PeftModel)
    assert not loaded.model.training
    logits = _logits(loaded)
    assert torch.isfinite(logits).all()
    assert _rel(logits, fp32_logits) > 1e-3
    assert loaded.fingerprint != fingerprint(ModelSpec(str(tiny)))


def test_load_reports_broken_weights_in_one_line(tiny, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelDiffError, match="cannot load model") as info:
        load(ModelSpec(str(broken)), device="cpu")
    assert "\n" not in str(info.value)


# --- cache and device -------------------------------------------------------------

def test_model_cache_reuses_and_retains(tiny, tiny48, monkeypatch):
    import modeldiff_core.models.loading as loading

    # A full garbage collection takes seconds in a large process (a dashboard, a test
    # session): it runs when a model was dropped, not on every run that keeps its models.
    collections = []
    monkeypatch.setattr(loading, "_free_memory", lambda: collections.append(len(cache)))
    cache = ModelCache(device="cpu")
    a, b = ModelSpec(str(tiny)), ModelSpec(str(tiny48))
    cache.retain([a])
    first = cache.get(a)
    assert cache.get(ModelSpec(str(tiny))) is first
    second = cache.get(b)
    assert second is not first and len(cache) == 2
    cache.retain([a, b])
    assert collections == []
    cache.retain([b])
    assert len(cache) == 1 and cache.get(b) is second and collections == [1]
    cache.retain([])
    assert len(cache) == 0 and collections == [1, 0]
    again = cache.get(a)
    assert again is not first  # reloaded after being freed
    cache.release_all()
    assert len(cache) == 0 and collections == [1, 0, 0]
    cache.release_all()
    assert collections == [1, 0, 0]


def test_pick_device(monkeypatch):
    monkeypatch.delenv("MODELDIFF_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert models.pick_device() == expected
    monkeypatch.setenv("MODELDIFF_DEVICE", "mps")
    assert models.pick_device() == "mps"
    monkeypatch.setenv("MODELDIFF_DEVICE", "cpu")
    assert models.pick_device() == "cpu"


# --- finetune settings ----------------------------------------------------------

def test_finetune_settings_keep_their_stored_form():
    from modeldiff_core.models.finetune import FinetuneSettings

    # This dict is hashed into every finetune id: a change here renames existing finetunes.
    stored = {"rank": 8, "alpha": 16, "lr": 3e-3, "epochs": 10.0, "max_length": 128,
              "batch_size": 32, "grad_accum": 1, "target_modules": None, "merge": False,
              "checkpoint_every": 50, "seed": 0}
    assert FinetuneSettings().to_dict() == stored
    old = FinetuneSettings.from_dict({**stored, "alpha": 32, "target_modules": ["c_attn"]})
    assert old.lora_alpha == 32 and old.target_modules == ("c_attn",)
    assert FinetuneSettings.from_dict(old.to_dict()) == old
    with pytest.raises(ModelDiffError, match="lora_alpha"):
        FinetuneSettings(lora_alpha=0).check()
