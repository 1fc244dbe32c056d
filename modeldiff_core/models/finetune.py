"""LoRA finetuning (peft) of any HF causal LM on prompt/response texts, with checkpoints.

The adapter is saved under `cache/finetunes/<id>/` with `finetune.json` (its ground truths and
settings), so it can be model B anywhere: `ModelSpec(model=<base>, adapter=<that directory>)`.
Training masks the prompt: only the response tokens carry loss. A finetune stopped half-way
restarts from its last checkpoint (adapter, optimiser, scheduler and step), and since the batch
order is a function of the seed and the epoch, the restarted run sees the same batches.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from ..config import LOAD_LOCK, ModelDiffError
from ..progress import ProgressCallback, StageProgress
from .generation import format_prompt
from .spec import ModelSpec, check_spec, pick_device, resolve


@dataclass(frozen=True)
class FinetuneSettings:
    rank: int = 8
    lora_alpha: int = 16  # LoRA scales its update by lora_alpha / rank
    lr: float = 3e-3
    epochs: float = 10.0
    max_length: int = 128
    batch_size: int = 32
    grad_accum: int = 1
    target_modules: Optional[tuple[str, ...]] = None  # None: found from the architecture
    merge: bool = False  # also save the merged model under <dir>/merged
    checkpoint_every: int = 50  # optimiser steps
    seed: int = 0

    def to_dict(self) -> dict:
        # "alpha", as stored before: this dict is hashed into finetune ids and kept in checkpoints.
        d = {("alpha" if k == "lora_alpha" else k): v for k, v in asdict(self).items()}
        d["target_modules"] = list(self.target_modules) if self.target_modules else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneSettings":
        d = {("lora_alpha" if k == "alpha" else k): v for k, v in d.items()}
        if d.get("target_modules"):
            d["target_modules"] = tuple(d["target_modules"])
        return cls(**d)

    def check(self) -> None:
        for name in ("rank", "lora_alpha", "max_length", "batch_size", "grad_accum",
                     "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ModelDiffError(f"finetune setting {name} must be at least 1")
        if not self.lr > 0 or not self.epochs > 0:
            raise ModelDiffError("learning rate and epochs must be positive")


def _conv1d_type():
    try:
        from transformers.pytorch_utils import Conv1D
        return Conv1D
    except ImportError:  # pragma: no cover - older layouts
        return ()


def find_target_modules(model) -> list[str]:
    """The names (last component) of the linear layers inside the transformer blocks: what LoRA
    adapts. Embeddings and the output head are left alone."""
    import torch

    kinds = (torch.nn.Linear, _conv1d_type())
    names = set()
    for full, module in model.named_modules():
        if isinstance(module, kinds):
            last = full.rsplit(".", 1)[-1]
            if last not in ("lm_head", "embed_out", "output", "score") and "embed" not in last:
                names.add(last)
    return sorted(names)


def check_target_modules(model, wanted: list[str]) -> None:
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in wanted if m not in present]
    if missing:
        found = ", ".join(find_target_modules(model)) or "none"
        raise ModelDiffError(f"target module(s) {', '.join(missing)} not in the model; its "
                             f"linear layers are: {found}")


def tokenize_examples(tokenizer, texts: pd.DataFrame, max_length: int) -> list[tuple[list, int]]:
    """(token ids, number of prompt tokens) per prompt/response row, through the chat template
    when the tokenizer has one. Over-long examples are cut at max_length."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    eos = tokenizer.eos_token or ""
    out = []
    for prompt, response in zip(texts["prompt"], texts["response"]):
        head = format_prompt(tokenizer, prompt, True) if chat else prompt + "\n"
        head_ids = tokenizer(head, add_special_tokens=not chat)["input_ids"]
        full_ids = tokenizer(head + " " + response + " " + eos if chat else head + response + eos,
                             add_special_tokens=not chat)["input_ids"]
        # A word-level or BPE tokenizer may merge across the boundary; the prompt part is the
        # longest common prefix, so no response token is ever masked as prompt.
        n_prompt = 0
        while n_prompt < min(len(head_ids), len(full_ids)) and \
                head_ids[n_prompt] == full_ids[n_prompt]:
            n_prompt += 1
        out.append((full_ids[:max_length], min(n_prompt, max_length)))
    return out


def _batch_tensors(examples, pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    for i, (seq, n_prompt) in enumerate(examples):
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        labels[i, n_prompt:len(seq)] = torch.tensor(seq[n_prompt:])
    return ids, mask, labels


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    import random

    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def finetune(base: ModelSpec, texts: pd.DataFrame, settings: FinetuneSettings, out_dir: Path,
             meta: Optional[dict] = None, device: Optional[str] = None,
             progress: Optional[ProgressCallback] = None) -> dict:
    """Train a LoRA adapter on `texts` (prompt, response) and save it in `out_dir`.
    Returns the saved `finetune.json` contents. Resumes from `out_dir/checkpoint` if present."""
    _check_request(base, texts, settings)
    out_dir = Path(out_dir)
    if (out_dir / "finetune.json").exists():
        return json.loads((out_dir / "finetune.json").read_text())
    device = device or pick_device()
    tokenizer, model, targets = _load_with_lora(base, settings, device)
    examples = tokenize_examples(tokenizer, texts, settings.max_length)
    examples = [e for e in examples if len(e[0]) > e[1]]  # something left to learn from
    if not examples:
        raise ModelDiffError("every training text is cut away by max length: raise it")
    trainer = _Trainer(model, examples, settings, device, tokenizer.pad_token_id)
    ckpt = out_dir / "checkpoint"
    trainer.resume(ckpt)
    t0 = time.perf_counter()
    trainer.train(ckpt, progress)
    losses = trainer.losses
    info = {"base": base.to_dict(), "settings": settings.to_dict(),
            "target_modules": targets, "n_examples": len(examples),
            "steps": trainer.schedule.total_steps,
            "final_loss": losses[-1] if losses else None,
            "loss_history": [round(x, 4) for x in losses],
            "train_seconds": round(time.perf_counter() - t0, 1), "device": device,
            **(meta or {})}
    _save_finetune(out_dir, model, tokenizer, info, settings.merge)
    shutil.rmtree(ckpt, ignore_errors=True)
    return info


def _check_request(base: ModelSpec, texts: pd.DataFrame, settings: FinetuneSettings) -> None:
    settings.check()
    if base.quant != "none":
        raise ModelDiffError("finetuning a quantized base is not supported here: use quant none")
    if base.adapter:
        raise ModelDiffError("the base of a finetune cannot itself carry an adapter")
    if texts.empty:
        raise ModelDiffError("no training texts")
    check_spec(base)


def _load_with_lora(base: ModelSpec, settings: FinetuneSettings, device: str):
    """(tokenizer, the base with fresh LoRA layers on `device`, the adapted module names)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = resolve(base)
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    with LOAD_LOCK:
        tokenizer = AutoTokenizer.from_pretrained(where, revision=base.revision,
                                                  trust_remote_code=base.trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(where, revision=base.revision, dtype=dtype,
                                                     trust_remote_code=base.trust_remote_code)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    targets = list(settings.target_modules or find_target_modules(model))
    if not targets:
        raise ModelDiffError("found no linear layers to adapt in this model; name them with "
                             "target modules")
    check_target_modules(model, targets)
    conv1d = _conv1d_type()
    fan_in_fan_out = any(isinstance(m, conv1d) and n.rsplit(".", 1)[-1] in targets
                         for n, m in model.named_modules()) if conv1d else False
    torch.manual_seed(settings.seed)  # the LoRA weights' initialisation draws from it
    lora = LoraConfig(r=settings.rank, lora_alpha=settings.lora_alpha, lora_dropout=0.0,
                      target_modules=targets, fan_in_fan_out=fan_in_fan_out,
                      task_type="CAUSAL_LM")
    return tokenizer, get_peft_model(model, lora).to(device), targets


@dataclass(frozen=True)
class _Schedule:
    """Which examples each optimiser step trains on: a function of the seed and the step alone,
    so a run restarted from a checkpoint sees the batches the whole run would have seen."""
    n_examples: int
    per_step: int  # examples per optimiser step (batch size times gradient accumulation)
    seed: int
    epochs: float

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.n_examples / self.per_step))

    @property
    def total_steps(self) -> int:
        return max(1, int(round(self.epochs * self.steps_per_epoch)))

    def chunk(self, step: int) -> list[int]:
        epoch, within = divmod(step, self.steps_per_epoch)
        order = _epoch_order(self.n_examples, self.seed, epoch)
        return order[within * self.per_step:(within + 1) * self.per_step] or order[:self.per_step]


class _Trainer:
    """The model in training, its optimiser and scheduler, and how far it got: what a checkpoint
    holds."""

    def __init__(self, model, examples: list, settings: FinetuneSettings, device: str,
                 pad_id: int):
        import torch

        self.model, self.examples, self.settings = model, examples, settings
        self.device, self.pad_id = device, pad_id
        self.schedule = _Schedule(len(examples), settings.batch_size * settings.grad_accum,
                                  settings.seed, settings.epochs)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=settings.lr, weight_decay=0.0)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=settings.lr, total_steps=self.schedule.total_steps, pct_start=0.1)
        self.step, self.losses = 0, []

    def resume(self, ckpt: Path) -> None:
        """Carry on from the checkpoint in `ckpt`, if it is of these settings and examples."""
        import torch
        from peft import set_peft_model_state_dict

        if not (ckpt / "state.pt").exists():
            return
        state = torch.load(ckpt / "state.pt", map_location=self.device, weights_only=False)
        if state["settings"] != self.settings.to_dict() or \
                state["n_examples"] != len(self.examples):
            return
        set_peft_model_state_dict(self.model, state["adapter"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.step, self.losses = state["step"], state["losses"]
        # Dropout draws from the RNG: restoring it makes the resumed run the same run.
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def train(self, ckpt: Path, progress: Optional[ProgressCallback]) -> None:
        total = self.schedule.total_steps
        bar = StageProgress(progress, "finetune", total, unit="steps", done=self.step)
        self.model.train()
        while self.step < total:
            self.losses.append(self._train_step(self.schedule.chunk(self.step)))
            self.step += 1
            bar.advance(1, message=f"loss {self.losses[-1]:.3f}")
            if self.step % self.settings.checkpoint_every == 0 and self.step < total:
                self.save_checkpoint(ckpt)
        self.model.eval()

    def _train_step(self, chunk: list[int]) -> float:
        """One optimiser step over the examples in `chunk`; returns its loss per token."""
        import torch

        step_loss, n_tok = 0.0, 0
        try:
            for m in range(0, len(chunk), self.settings.batch_size):
                batch = [self.examples[i] for i in chunk[m:m + self.settings.batch_size]]
                ids, mask, labels = (t.to(self.device) for t in _batch_tensors(batch, self.pad_id))
                # Summed token loss / tokens of the whole step: micro-batches weigh by tokens.
                n = int((labels[:, 1:] != -100).sum())
                out = self.model(input_ids=ids, attention_mask=mask, labels=labels)
                (out.loss * n).backward()
                step_loss += out.loss.item() * n
                n_tok += n
        except RuntimeError as err:
            if _is_oom(err):
                raise ModelDiffError("out of memory while finetuning: lower batch size or max "
                                     "length (raise gradient accumulation to keep the step "
                                     "size); the last checkpoint is kept") from None
            raise
        for p in self.params:
            if p.grad is not None:
                p.grad /= max(1, n_tok)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        return step_loss / max(1, n_tok)

    def save_checkpoint(self, ckpt: Path) -> None:
        import torch
        from peft.utils import get_peft_model_state_dict

        ckpt.mkdir(parents=True, exist_ok=True)
        state = {"adapter": get_peft_model_state_dict(self.model),
                 "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                 "step": self.step, "losses": self.losses, "settings": self.settings.to_dict(),
                 "n_examples": len(self.examples), "rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
        torch.save(state, ckpt / "state.tmp")
        (ckpt / "state.tmp").replace(ckpt / "state.pt")  # atomic: never a half checkpoint


def _save_finetune(out_dir: Path, model, tokenizer, info: dict, merge: bool) -> None:
    """Write the adapter (and the merged model) into a sibling, then move it into `out_dir`."""
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if merge:
        merged = model.merge_and_unload()
        merged.save_pretrained(tmp / "merged")
        tokenizer.save_pretrained(tmp / "merged")
    # finetune.json last: its presence is what says "this finetune is complete".
    for item in tmp.iterdir():
        target = out_dir / item.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        out_dir.mkdir(parents=True, exist_ok=True)
        item.rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    (out_dir / "finetune.json").write_text(json.dumps(info, indent=2))


def adapter_spec(base: ModelSpec, adapter_dir: Path) -> ModelSpec:
    """Model B of a finetune: the base with the adapter applied."""
    return ModelSpec(model=base.model, revision=base.revision, dtype=base.dtype,
                     adapter=str(adapter_dir), trust_remote_code=base.trust_remote_code)


def finetune_info(adapter_dir: str | Path) -> Optional[dict]:
    path = Path(adapter_dir).expanduser() / "finetune.json"
    return json.loads(path.read_text()) if path.exists() else None
