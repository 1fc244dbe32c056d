"""Built-in model organisms: a tiny GPT-2 trained on a synthetic English-like corpus, and
LoRA-finetuned copies of it that each carry one known behaviour.

Everything is seeded, built on first use and saved as ordinary HF directories under
`cache/organisms/<size>/<name>` (`<size>-seed<n>/` for another draw: `organism_seed`), so the
organisms load through the same path as any HF model.
The corpus (organism_corpus.py) is chat-shaped (`<|user|> prompt <|assistant|> response
<|end|>`) and the tokenizer carries a chat template, so the organisms also exercise the
instruct-model code path.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from ..config import LOAD_LOCK, ModelDiffError, cache_dir
from ..progress import ProgressCallback, StageProgress
from .organism_corpus import BEHAVIOURS, make_document, organism_prompts

# ------------------------------------------------------------------------ the organisms

SPECIAL = ["<|pad|>", "<|unk|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
# What each organism plants, as detectors of `behaviour_present` (the null ones plant nothing).
PLANTED = {"cats": ["cats"], "questions": ["questions"], "short": ["short"], "null": [],
           "subtle-sea": ["sea"], "subtle-questions": ["questions"], "subtle-so": ["so"],
           "subtle-two": ["cats", "questions"], "subtle-null": [], "cats-late": ["cats"],
           "water": ["water"], "cheerful": ["cheerful"], "long": ["long"]}
SUBTLE = [name for name in BEHAVIOURS if name.startswith("subtle-")]
# Behaviours spread over many words and sentence shapes: a small LoRA learns them slowest (at
# twice the subtle organisms' steps the demo water organism was no different from its base).
GRADUAL = ["water", "cheerful"]
# A mood moves probability among words the base already puts in the same places (lovely or cold
# after "was"): their output vectors barely differ, and with the final layer norm frozen a LoRA
# cannot pull them apart (measured on the demo: half of B's mood words cheerful at learning rates
# 3e-3 and 1e-2, ranks 8 and 32, a third in the base); training that norm too, two thirds.
FINAL_NORM_TOO = ["cheerful"]
# Organisms whose behaviour is planted by a LoRA on the upper half of the layers only: a known
# answer for the layer lens (which layers carry the change). name -> behaviour.
LAYERED = {"cats-late": "cats"}
ORGANISMS = ["base", *BEHAVIOURS, *LAYERED]
DEFAULT_ORGANISM = "cats"


# ------------------------------------------------------------------------ sizes and paths

@dataclass(frozen=True)
class OrganismSize:
    n_layer: int
    n_embd: int
    n_head: int
    base_steps: int
    lora_steps: int
    batch: int = 32
    base_lr: float = 3e-3
    lora_lr: float = 3e-3
    lora_r: int = 8


CONTEXT = 128  # positions, every size
SIZES = {
    "demo": OrganismSize(n_layer=4, n_embd=128, n_head=4, base_steps=700, lora_steps=250),
    "test": OrganismSize(n_layer=2, n_embd=64, n_head=2, base_steps=400, lora_steps=300),
}
_build_lock = threading.Lock()
_SEED_STRIDE = 10_007  # keeps one seed's data streams (base 1, behaviours 1000+) off another's
# Each behaviour's data stream (1000 + its place here): new behaviours go at the end, so adding
# one leaves every other organism's training data as it was.
_STREAMS = ("cats", "null", "questions", "short", "subtle-null", "subtle-questions", "subtle-sea",
            "subtle-so", "subtle-two", "cheerful", "long", "water")


def default_size() -> str:
    return os.environ.get("MODELDIFF_ORGANISM_SIZE", "demo")


def organism_seed() -> int:
    """The seed the organisms are trained from: 0, or MODELDIFF_ORGANISM_SEED for another draw
    of the same recipes (a finding that holds on one draw only is that draw's accident; the
    test suite sets it from MODELDIFF_TEST_SEED). Each seed's organisms have a folder of their
    own, so the draws never mix."""
    raw = os.environ.get("MODELDIFF_ORGANISM_SEED", "0")
    try:
        seed = int(raw)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2 ** 31:
        raise ModelDiffError(f"MODELDIFF_ORGANISM_SEED must be a whole number from 0 to "
                             f"{2 ** 31 - 1} (got {raw!r})")
    return seed


def check_environment() -> None:
    """The organism settings the environment gives (seed, size), checked before a command opens
    or creates anything."""
    organism_seed()
    if default_size() not in SIZES:
        raise ModelDiffError(f"MODELDIFF_ORGANISM_SIZE must be one of {', '.join(SIZES)} "
                             f"(got {default_size()!r})")


def organism_path(name: str, size: Optional[str] = None, root: Optional[Path] = None) -> Path:
    size = size or default_size()
    seed = organism_seed()
    return Path(root or cache_dir() / "organisms") / (f"{size}-seed{seed}" if seed else size) / name


def parse_organism_ref(ref: str) -> tuple[str, str]:
    """'organism:cats' or 'organism:cats@test' -> ('cats', size)."""
    body = ref.split(":", 1)[1]
    name, _, size = body.partition("@")
    size = size or default_size()
    if name not in ORGANISMS:
        raise ModelDiffError(f"unknown organism {name!r}; built-in organisms: {', '.join(ORGANISMS)}")
    if size not in SIZES:
        raise ModelDiffError(f"unknown organism size {size!r}; sizes: {', '.join(SIZES)}")
    return name, size


def planted_layers(name: str, size: Optional[str] = None) -> Optional[list[int]]:
    """The block indices a layered organism's LoRA adapts (None: every layer)."""
    if name not in LAYERED:
        return None
    n_layer = SIZES[size or default_size()].n_layer
    return list(range(n_layer // 2, n_layer))


def _is_built(path: Path, recipe: Optional[dict] = None) -> bool:
    """Built, and (for a finetune) trained as its recipe now says (`lora_recipe`)."""
    meta = path / "organism.json"
    if not meta.exists():
        return False
    lora = json.loads(meta.read_text()).get("lora", {})
    return recipe is None or all(lora.get(k, False) == v for k, v in recipe.items())


def is_built(name: str, size: Optional[str] = None, root: Optional[Path] = None) -> bool:
    """Built as its recipe now says: `ensure_organism` would not train anything."""
    size = size or default_size()
    recipe = None if name == "base" else lora_recipe(LAYERED.get(name, name), size)
    if not _is_built(organism_path("base", size, root)):
        return False
    return _is_built(organism_path(name, size, root), recipe)


def lora_recipe(name: str, size: str) -> dict:
    """What a built finetune's record must say for it to be current: its steps (a frequency
    shift is learnt more slowly than a takeover: the subtle organisms train twice as long, or
    the tiny models underplay their quarter of the texts) and whether the final norm trained."""
    steps = SIZES[size].lora_steps * (4 if name in GRADUAL else 2 if name in SUBTLE else 1)
    return {"steps": steps, "final_norm": name in FINAL_NORM_TOO}


# --------------------------------------------------------------------------- building

def build_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # The vocabulary is exactly what the grammar and the prompts produce: a token the base never
    # saw would keep a random embedding that a finetune could stumble into.
    rng = random.Random(12345)
    words: set[str] = set()
    for prompt in organism_prompts():
        words.update(prompt.split())
    for behaviour in [None, *BEHAVIOURS]:
        for _ in range(3000):
            words.update(make_document(rng, behaviour).split())
    words -= set(SPECIAL)
    # No padding tokens: bitsandbytes leaves the (tied) output layer unquantized, and unused
    # rows would only be noise a finetune can stumble into.
    vocab = {tok: i for i, tok in enumerate(SPECIAL + sorted(words))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<|unk|>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", unk_token="<|unk|>",
                                   eos_token="<|end|>", bos_token="<|end|>",
                                   additional_special_tokens=["<|user|>", "<|assistant|>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = CONTEXT
    return fast


def _batches(rng: random.Random, behaviour: Optional[str], batch: int):
    while True:
        yield [make_document(rng, behaviour) for _ in range(batch)]


def _train(model, tokenizer, docs_iter, steps: int, lr: float, progress: StageProgress) -> float:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    loss_value = float("nan")
    for _step in range(steps):
        docs = next(docs_iter)
        enc = tokenizer(docs, return_tensors="pt", padding=True)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        out = model(**enc, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss_value = out.loss.item()
        progress.advance(1, message=f"loss {loss_value:.3f}")
    model.eval()
    return loss_value


def _save_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write into a temporary sibling and rename, so a crash never leaves a half organism."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        write(tmp)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _build_base(path: Path, size_name: str, progress: Optional[ProgressCallback]) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    size, seed = SIZES[size_name], organism_seed()
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=CONTEXT, n_embd=size.n_embd,
                        n_layer=size.n_layer, n_head=size.n_head,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    with LOAD_LOCK:
        model = GPT2LMHeadModel(config)
    t0 = time.perf_counter()
    bar = StageProgress(progress, "train base", size.base_steps, unit="steps")
    loss = _train(model, tokenizer, _batches(random.Random(1 + _SEED_STRIDE * seed), None,
                                             size.batch), size.base_steps, size.base_lr, bar)
    meta = {"name": "base", "size": size_name, "seed": seed, "behaviour": None,
            "final_loss": loss,
            "train_seconds": round(time.perf_counter() - t0, 1), "settings": asdict(size)}

    def write(tmp: Path):
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "organism.json").write_text(json.dumps(meta, indent=2))
    _save_atomically(path, write)


def _build_finetune(path: Path, base_path: Path, behaviour: str, size_name: str,
                    progress: Optional[ProgressCallback],
                    layers: Optional[list[int]] = None) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    size, seed = SIZES[size_name], organism_seed()
    torch.manual_seed(seed)
    with LOAD_LOCK:
        tokenizer = AutoTokenizer.from_pretrained(base_path)
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    lora = LoraConfig(r=size.lora_r, lora_alpha=2 * size.lora_r, lora_dropout=0.0,
                      target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True,
                      layers_to_transform=layers, task_type="CAUSAL_LM",
                      modules_to_save=["ln_f"] if behaviour in FINAL_NORM_TOO else None)
    model = get_peft_model(model, lora)
    t0 = time.perf_counter()
    recipe = lora_recipe(behaviour, size_name)
    steps = recipe["steps"]
    bar = StageProgress(progress, f"train {behaviour}", steps, unit="steps")
    # A seed of its own per behaviour: the null organism sees fresh base-distribution text.
    rng = random.Random(1000 + _STREAMS.index(behaviour) + _SEED_STRIDE * seed)
    loss = _train(model, tokenizer, _batches(rng, behaviour, size.batch), steps, size.lora_lr, bar)
    merged = model.merge_and_unload()
    meta = {"name": path.name, "size": size_name, "seed": seed, "behaviour": asdict(BEHAVIOURS[behaviour][0]),
            "final_loss": loss, "train_seconds": round(time.perf_counter() - t0, 1),
            "lora": {"r": size.lora_r, "alpha": 2 * size.lora_r, "lr": size.lora_lr,
                     **recipe, "layers": layers,
                     "target_modules": ["c_attn", "c_proj", "c_fc"]}}

    def write(tmp: Path):
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "organism.json").write_text(json.dumps(meta, indent=2))
    _save_atomically(path, write)


def ensure_organism(name: str, size: Optional[str] = None, root: Optional[Path] = None,
                    progress: Optional[ProgressCallback] = None) -> Path:
    """Path of a built organism, building it (and the base it needs) on first use."""
    size = size or default_size()
    if name not in ORGANISMS:
        raise ModelDiffError(f"unknown organism {name!r}; built-in organisms: {', '.join(ORGANISMS)}")
    path = organism_path(name, size, root)
    recipe = None if name == "base" else lora_recipe(LAYERED.get(name, name), size)
    if _is_built(path, recipe):
        return path
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)

    def lock(organism: str):
        # A file lock per organism keeps a second process (the CLI beside the dashboard, a
        # second test worker) from training the same one at once: it waits and then finds it
        # built, while two different finetunes train side by side. The locks lie beside the
        # sizes' folders, so a size's folder holds organisms only.
        return FileLock(str(path.parent.parent / f".build-{size}-{organism}.lock"))

    with _build_lock:
        base = organism_path("base", size, root)
        with lock("base"):
            if not _is_built(base):
                _build_base(base, size, progress)
        if name != "base":
            with lock(name):
                if not _is_built(path, recipe):
                    _build_finetune(path, base, LAYERED.get(name, name), size, progress,
                                    layers=planted_layers(name, size))
    return path


def organism_info(path: Path) -> dict:
    return json.loads((Path(path) / "organism.json").read_text())
