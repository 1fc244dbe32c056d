"""Model specs: what names a model (HF id, directory, organism; dtype, quantization, adapter),
its fingerprint, and checking it from its files alone, before anything is built or loaded."""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from ..config import ModelDiffError, first_line
from ..progress import ProgressCallback
from . import organisms
from .hub import find_on_hub

DTYPES = ("auto", "bf16", "fp16", "fp32")
QUANTS = ("none", "8bit", "4bit")
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


# A model named by a prefix instead of weights: a file of answers, or a served endpoint.
SOURCE_PREFIXES = ("outputs:", "openai:", "anthropic:")
ENGINES = ("hf", "vllm")


@dataclass(frozen=True)
class ModelSpec:
    """One model: a HF id, a local directory or `organism:NAME`, plus how to load it; or a
    source without weights here: `outputs:PATH` (a file of answers), `openai:MODEL` (any
    OpenAI-compatible server at `base_url`), `anthropic:MODEL`."""
    model: str
    revision: Optional[str] = None
    dtype: str = "auto"
    quant: str = "none"
    adapter: Optional[str] = None
    trust_remote_code: bool = False
    base_url: Optional[str] = None  # an endpoint's server (None: the provider's own)
    engine: str = "hf"  # what generates from local weights: HF generate, or vLLM on CUDA
    scorer: Optional[str] = None  # weights that give log-probs for a file of answers
    key_file: Optional[str] = None  # an endpoint's API key in a file (else the environment)

    def to_dict(self) -> dict:
        # Fields added later are left out at their defaults, so the specs (and with them the
        # fingerprints and run ids) of earlier runs stay what they were.
        d = asdict(self)
        for name in ("base_url", "engine", "scorer", "key_file"):
            if d[name] == ModelSpec.__dataclass_fields__[name].default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @property
    def kind(self) -> str:
        """organism, outputs, openai, anthropic, local (a directory) or hf (a hub id)."""
        for prefix in ("organism:", *SOURCE_PREFIXES):
            if self.model.startswith(prefix):
                return prefix[:-1]
        return "local" if self.is_local else "hf"

    @property
    def name(self) -> str:
        """What follows the prefix: the organism, the file, the endpoint's model."""
        return self.model.partition(":")[2] if self.kind not in ("local", "hf") else self.model

    @property
    def has_weights(self) -> bool:
        return self.kind in ("organism", "local", "hf")

    @property
    def label(self) -> str:
        if self.kind == "outputs":
            return f"outputs:{Path(self.name).name}"
        parts = [self.model]
        if self.base_url:
            parts.append(f" @ {self.base_url}")
        if self.revision:
            parts.append(f"@{self.revision}")
        if self.quant != "none":
            parts.append(f" [{self.quant}]")
        if self.dtype != "auto":
            parts.append(f" [{self.dtype}]")
        if self.adapter:
            parts.append(f" + LoRA {Path(self.adapter).name}")
        return "".join(parts)

    @property
    def is_organism(self) -> bool:
        return self.model.startswith("organism:")

    @property
    def is_local(self) -> bool:
        m = self.model
        if m.startswith(SOURCE_PREFIXES):
            return False
        return self.is_organism or m.startswith(("/", ".", "~")) or Path(m).expanduser().exists()


def needs_weights(spec: ModelSpec, what: str) -> None:
    """Refuse a source without local weights for an analysis that reads them."""
    if not spec.has_weights:
        kind = "a file of answers" if spec.kind == "outputs" else "a served endpoint"
        raise ModelDiffError(f"{what} needs the model's weights; {spec.label} is {kind} "
                             "(text only)")


def pick_device() -> str:
    """cuda > mps > cpu, unless MODELDIFF_DEVICE says otherwise."""
    import torch

    forced = os.environ.get("MODELDIFF_DEVICE")
    if forced:
        return forced
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve(spec: ModelSpec, build: bool = True,
            progress: Optional["ProgressCallback"] = None) -> str:
    """Where the weights come from: a local directory path or a HF id.

    Built-in organisms are built on first use (reporting to `progress`) unless `build` is False."""
    if spec.is_organism:
        name, size = organisms.parse_organism_ref(spec.model)
        if build:
            return str(organisms.ensure_organism(name, size, progress=progress))
        return str(organisms.organism_path(name, size))
    if spec.is_local:
        return str(Path(spec.model).expanduser().resolve())
    return spec.model


def _dir_signature(path: Path) -> list:
    """Config bytes plus (name, size, mtime) of weight files: changes when the model does."""
    sig: list[Any] = []
    for name in ("config.json", "adapter_config.json"):
        f = path / name
        if f.exists():
            sig.append(hashlib.sha256(f.read_bytes()).hexdigest())
    for f in sorted(path.iterdir()):
        if f.suffix in (".safetensors", ".bin", ".pt"):
            st = f.stat()
            sig.append((f.name, st.st_size, st.st_mtime_ns))
    return sig


def fingerprint(spec: ModelSpec) -> str:
    """Stable cache key for a spec: what it says, and what its local files contain."""
    # Where the key is kept is not what the model is.
    payload: dict[str, Any] = {"spec": {k: v for k, v in spec.to_dict().items() if k != "key_file"}}
    if spec.kind == "outputs":  # the answers themselves: same file contents, same model
        path = Path(spec.name).expanduser()
        payload = {"outputs": hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file()
                   else None, "scorer": spec.scorer}
    if spec.is_organism or spec.is_local:
        path = Path(resolve(spec))
        payload["files"] = _dir_signature(path) if path.is_dir() else None
    if spec.adapter and Path(spec.adapter).expanduser().is_dir():
        payload["adapter_files"] = _dir_signature(Path(spec.adapter).expanduser())
    raw = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _quantizable_sizes(config) -> list[tuple[str, int]]:
    """(module name, output size) of every layer bitsandbytes would quantize."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.pytorch_utils import Conv1D

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    skip = {"lm_head"}
    out = []
    for name, mod in model.named_modules():
        if name.split(".")[-1] in skip:
            continue
        if isinstance(mod, torch.nn.Linear):
            out.append((name, mod.out_features))
        elif isinstance(mod, Conv1D):
            out.append((name, mod.nf))
    return out


def is_built(spec: ModelSpec) -> bool:
    """False only for a built-in organism that would be trained on first use."""
    if not spec.is_organism:
        return True
    name, size = organisms.parse_organism_ref(spec.model)
    return organisms.is_built(name, size)


def ensure_built(spec: ModelSpec, progress: Optional[ProgressCallback] = None) -> None:
    """Build a built-in organism now, reporting its training to `progress` (nothing to do for
    any other model): called once every cheap check has passed."""
    if spec.is_organism:
        resolve(spec, build=True, progress=progress)


def _check_adapter(spec: ModelSpec) -> None:
    adapter = Path(spec.adapter).expanduser()
    config = adapter / "adapter_config.json"
    if not config.exists():
        raise ModelDiffError(f"adapter {spec.adapter} is not a PEFT adapter directory "
                             "(no adapter_config.json)")
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelDiffError(f"adapter {spec.adapter}: adapter_config.json is not readable "
                             f"JSON ({type(err).__name__})") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("peft_type"), str):
        raise ModelDiffError(f"adapter {spec.adapter}: adapter_config.json is not a PEFT "
                             "adapter config (no peft_type)")


def check_spec(spec: ModelSpec, device: Optional[str] = None, build: bool = False):
    """Raise ModelDiffError with a one-line reason if the spec cannot be loaded; return its
    config. An organism not built yet is checked by name only (its config is ours) and gives
    None, unless `build` builds it first: a check never trains by itself."""
    from transformers import AutoConfig

    needs_weights(spec, "loading")
    if spec.engine not in ENGINES:
        raise ModelDiffError(f"unknown engine {spec.engine!r}; choose one of {', '.join(ENGINES)}")
    if spec.dtype not in DTYPES:
        raise ModelDiffError(f"unknown dtype {spec.dtype!r}; choose one of {', '.join(DTYPES)}")
    if spec.quant not in QUANTS:
        raise ModelDiffError(f"unknown quantization {spec.quant!r}; choose one of {', '.join(QUANTS)}")
    if not spec.model.strip():
        raise ModelDiffError("model is empty: give a HF id, a local directory or organism:NAME")
    if spec.is_organism:
        organisms.parse_organism_ref(spec.model)
    elif spec.is_local or not _HF_ID.match(spec.model):
        path = Path(spec.model).expanduser()
        if not path.exists():
            raise ModelDiffError(f"model path {spec.model} does not exist (nor is it a valid HF id)")
        if not (path / "config.json").exists():
            raise ModelDiffError(f"{spec.model} is not a HF model directory (no config.json)")
    if spec.adapter:
        _check_adapter(spec)
    if not build and not is_built(spec):
        return None
    if spec.kind == "hf":  # the one check that asks the network: after every local one
        find_on_hub(spec.model, spec.revision)
    where = resolve(spec, build=build)
    try:
        config = AutoConfig.from_pretrained(where, revision=spec.revision,
                                            trust_remote_code=spec.trust_remote_code)
    except Exception as err:  # noqa: BLE001 - hub/offline/format errors all mean "cannot load"
        first = first_line(err)
        raise ModelDiffError(f"cannot load model {spec.model}: {first}") from None
    device = device or pick_device()
    if spec.quant != "none":
        try:
            import bitsandbytes  # noqa: F401
        except Exception as err:  # noqa: BLE001
            raise ModelDiffError(f"{spec.quant} quantization needs bitsandbytes: {err}") from None
        if spec.quant == "4bit" and device == "cpu":
            bad = [(n, s) for n, s in _quantizable_sizes(config) if s % 32]
            if bad:
                name, size = bad[0]
                raise ModelDiffError(
                    f"4-bit on CPU needs every linear layer's output size to be a multiple of 32 "
                    f"(bitsandbytes); {spec.model} has {name} with {size}")
        if device == "mps":
            raise ModelDiffError("bitsandbytes quantization is not available on Apple MPS")
    return config


