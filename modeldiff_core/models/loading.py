"""Loading a spec's weights and tokenizer onto a device, and the cache that holds loaded models."""
from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..config import LOAD_LOCK, ModelDiffError, first_line
from . import organisms
from .spec import ModelSpec, check_spec, fingerprint, pick_device, resolve


@dataclass
class LoadedModel:
    spec: ModelSpec
    fingerprint: str
    model: Any
    tokenizer: Any
    device: str
    meta: dict = field(default_factory=dict)

    @property
    def input_device(self):
        return next(self.model.parameters()).device


def _torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        if device == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device == "mps" else torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def load(spec: ModelSpec, device: Optional[str] = None) -> LoadedModel:
    """Load a checked spec: tokenizer (left padding), model in eval mode, adapter applied."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    device = device or pick_device()
    check_spec(spec, device, build=True)
    where = resolve(spec)
    dtype = _torch_dtype(spec.dtype, device)
    kwargs: dict[str, Any] = {"revision": spec.revision, "dtype": dtype,
                              "trust_remote_code": spec.trust_remote_code}
    if spec.quant == "8bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    elif spec.quant == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)
    if spec.quant != "none":
        kwargs["device_map"] = {"": device if device != "cuda" else 0}
    with LOAD_LOCK:
        try:
            tokenizer = AutoTokenizer.from_pretrained(where, revision=spec.revision,
                                                      trust_remote_code=spec.trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
        except Exception as err:  # noqa: BLE001
            first = first_line(err)
            if "mismatched_sizes" in first or "size mismatch" in first:
                # transformers points at a report it logged; the reason in words instead.
                first = "its weights do not have the shapes its config.json describes"
            raise ModelDiffError(f"cannot load model {spec.model}: {first}") from None
        if spec.quant == "none":
            model = model.to(device)
        if spec.adapter:
            from peft import PeftModel
            try:
                model = PeftModel.from_pretrained(model, str(Path(spec.adapter).expanduser()))
            except Exception as err:  # noqa: BLE001 - a bad config or weights of another shape
                first = first_line(err)
                raise ModelDiffError(f"cannot apply adapter {spec.adapter} to {spec.model}: "
                                     f"{first[:300]}") from None
    model.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    meta = organisms.organism_info(Path(where)) if spec.is_organism else {}
    return LoadedModel(spec, fingerprint(spec), model, tokenizer, device, meta)


class ModelCache:
    """Keeps loaded models by fingerprint; `retain` frees the ones a new pair no longer needs."""

    def __init__(self, device: Optional[str] = None):
        self.device = device
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, spec: ModelSpec) -> LoadedModel:
        key = fingerprint(spec)
        with self._lock:
            if key not in self._models:
                self._models[key] = load(spec, self.device)
            return self._models[key]

    def retain(self, specs: list[ModelSpec]) -> None:
        keep = {fingerprint(s) for s in specs}
        with self._lock:
            dropped = [k for k in self._models if k not in keep]
            for key in dropped:
                del self._models[key]
        if dropped:  # a full collection costs seconds in a large process: only when it frees
            _free_memory()

    def release_all(self) -> None:
        with self._lock:
            dropped = bool(self._models)
            self._models.clear()
        if dropped:
            _free_memory()

    def __len__(self) -> int:
        return len(self._models)


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
