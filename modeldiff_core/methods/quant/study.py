"""What a quantization level costs, LMdiff / llama.cpp style, in two phases.

Phase 1 runs the reference (full precision) once over an evaluation set and caches its full
next-token distributions on disk. Phase 2 loads each level in turn, alone, and compares its
distributions with the cached ones: per-token KL(reference || level) (mean, median, p99), top-1
agreement, perplexity of the text under both, and answer flips on a small multiple-choice set.
Only one model is in memory at a time, and a level added later costs one pass, not two.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ...config import ModelDiffError, cache_dir
from ...models.loading import _free_memory, load
from ...models.spec import ModelSpec, check_spec, ensure_built, fingerprint, is_built, pick_device
from ...progress import ProgressCallback, StageProgress
from ...models.scoring import encode_texts, iter_logits, token_logprobs
from ..common.eval_sets import EvalSet, MCItem, eval_set_for

# Level name -> how the spec changes; int8-dynamic is torch's own CPU quantization, the
# non-bitsandbytes reference point.
LEVELS = {"fp32": {"dtype": "fp32"}, "bf16": {"dtype": "bf16"}, "fp16": {"dtype": "fp16"},
          "8bit": {"quant": "8bit"}, "4bit": {"quant": "4bit"}, "int8-dynamic": {"dtype": "fp32"}}
BYTES_PER_PARAM = {"fp32": 4, "bf16": 2, "fp16": 2, "8bit": 1.1, "4bit": 0.6, "int8-dynamic": 5}
# Full reference distributions are float32 up to this size on disk, float16 beyond (a note says so).
FLOAT32_REFERENCE_BYTES = 2 * 1024 ** 3


# ------------------------------------------------------------------------------ levels

def level_spec(spec: ModelSpec, level: str) -> ModelSpec:
    if level not in LEVELS:
        raise ModelDiffError(f"unknown quantization level {level!r}; choose from {', '.join(LEVELS)}")
    fields = {**spec.to_dict(), "quant": "none", **LEVELS[level]}
    return ModelSpec.from_dict(fields)


def _param_count(config) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def _available_bytes(device: str) -> Optional[int]:
    if device == "cuda":
        import torch
        return torch.cuda.mem_get_info()[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_level(spec: ModelSpec, level: str, device: Optional[str] = None) -> ModelSpec:
    """The spec of a level this hardware can run, or ModelDiffError with the reason."""
    device = device or pick_device()
    lspec = level_spec(spec, level)
    if level == "int8-dynamic" and device != "cpu":
        raise ModelDiffError("int8-dynamic is torch's CPU quantization; it does not run on "
                             f"{device}")
    if level == "bf16" and device == "mps":
        raise ModelDiffError("bf16 is not supported on Apple MPS here; use fp16")
    config = check_spec(lspec, device)  # bitsandbytes limits (e.g. 4-bit on CPU) are said here
    if config is None:  # an organism not built yet: tiny, and its layers fit 4-bit by design
        return lspec
    need = _param_count(config) * BYTES_PER_PARAM[level]
    have = _available_bytes(device)
    if have is not None and need > 0.9 * have:
        raise ModelDiffError(f"{spec.model} at {level} needs about {need / 1024 ** 3:.1f} GiB, "
                             f"only {have / 1024 ** 3:.1f} GiB is free on {device}")
    return lspec


def _conv1d_to_linear(model) -> None:
    """torch's dynamic quantization knows nn.Linear only; GPT-2-style Conv1D is the same map
    with its weight transposed."""
    import torch
    from transformers.pytorch_utils import Conv1D

    for _name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, Conv1D):
                lin = torch.nn.Linear(child.weight.shape[0], child.nf, bias=child.bias is not None)
                lin.weight.data = child.weight.data.t().contiguous()
                if child.bias is not None:
                    lin.bias.data = child.bias.data
                setattr(mod, child_name, lin)


def load_level(spec: ModelSpec, level: str, device: Optional[str] = None):
    """A LoadedModel at the given level (checked first)."""
    return _load_checked(check_level(spec, level, device), level, device)


def _load_checked(lspec: ModelSpec, level: str, device: Optional[str]):
    """Load the spec check_level returned for `level`, applying torch's int8 where asked."""
    import torch

    try:
        lm = load(lspec, device)
    except (torch.OutOfMemoryError, MemoryError):
        raise ModelDiffError(f"{lspec.model} at {level} does not fit in memory") from None
    if level == "int8-dynamic":
        from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

        _conv1d_to_linear(lm.model)
        # The output layer stays in full precision, as bitsandbytes leaves it.
        names = {n: default_dynamic_qconfig for n, m in lm.model.named_modules()
                 if isinstance(m, torch.nn.Linear) and n.split(".")[-1] != "lm_head"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao deprecation notices; the API still works
            lm.model = quantize_dynamic(lm.model, names, dtype=torch.qint8, inplace=True)
    return lm


# ------------------------------------------------------------------------ the two phases

@dataclass
class Reference:
    """Phase 1's output: full next-token log-probs of every scored position (memory-mapped)."""
    logprobs: np.ndarray  # [n_tokens, vocab]
    picked: np.ndarray  # log p(actual token) under the reference
    argmax: np.ndarray
    offsets: np.ndarray  # text i's positions are rows offsets[i]:offsets[i+1]
    mc_answers: np.ndarray
    notes: list


def _positions(seqs, starts) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(s) - st for s, st in zip(seqs, starts)])])


def _rows(logits, ids, seqs, starts, idx):
    """(row i of idx, log-probs and actual ids of its scored positions) for one batch."""
    import torch

    logp = torch.log_softmax(logits[:, :-1], dim=-1).cpu()
    for row, i in enumerate(idx):
        sl = slice(starts[i] - 1, len(seqs[i]) - 1)
        yield i, logp[row, sl], ids[row, 1:][sl]


def mc_answers(lm, items: tuple[MCItem, ...], batch_size: int = 16) -> np.ndarray:
    """Index of the choice with the highest summed log-prob, per item."""
    texts = [c for m in items for c in m.choices]
    contexts = [m.context for m in items for _ in m.choices]
    if not texts:
        return np.zeros(0, dtype=int)
    sums = [lp.sum() for lp in token_logprobs(lm, texts, contexts, batch_size,
                                              use_chat_template=False)]
    out, k = [], 0
    for m in items:
        out.append(int(np.argmax(sums[k:k + len(m.choices)])))
        k += len(m.choices)
    return np.array(out)


def reference_pass(lm, eval_set: EvalSet, path: Path, batch_size: int = 16,
                   progress: Optional[ProgressCallback] = None) -> Reference:
    """Phase 1: compute the reference distributions once and cache them at `path` (.npy plus a
    .npz of the small arrays); a later call with the same path reads them back."""
    meta_path = path.with_suffix(".npz")
    if path.exists() and meta_path.exists():
        meta = np.load(meta_path, allow_pickle=False)
        return Reference(np.load(path, mmap_mode="r"), meta["picked"], meta["argmax"],
                         meta["offsets"], meta["mc_answers"], list(meta["notes"]))
    seqs, starts = encode_texts(lm, list(eval_set.texts))
    offsets = _positions(seqs, starts)
    vocab = lm.model.get_output_embeddings().weight.shape[0]
    n = int(offsets[-1])
    dtype = np.float32 if n * vocab * 4 <= FLOAT32_REFERENCE_BYTES else np.float16
    notes = [] if dtype == np.float32 else [
        "reference distributions cached as float16 (large vocabulary x tokens): KL figures "
        "carry about 1e-3 of rounding"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial.npy")
    logprobs = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n, vocab))
    picked, argmax = np.zeros(n), np.zeros(n, dtype=np.int64)
    bar = StageProgress(progress, "reference", len(seqs), unit="texts")
    for idx, ids, logits in iter_logits(lm, seqs, batch_size):
        for i, lp, actual in _rows(logits[..., :vocab], ids, seqs, starts, idx):
            rows = slice(offsets[i], offsets[i + 1])
            logprobs[rows] = lp.numpy().astype(dtype)
            picked[rows] = lp.gather(-1, actual.unsqueeze(-1)).squeeze(-1).double().numpy()
            argmax[rows] = lp.argmax(-1).numpy()
        bar.advance(len(idx))
    logprobs.flush()
    del logprobs
    answers = mc_answers(lm, eval_set.mc, batch_size)
    np.savez(meta_path, picked=picked, argmax=argmax, offsets=offsets, mc_answers=answers,
             notes=np.array(notes, dtype=str))
    tmp.rename(path)  # last: a reference on disk is always complete
    return Reference(np.load(path, mmap_mode="r"), picked, argmax, offsets, answers, notes)


def compare_to_reference(lm, eval_set: EvalSet, ref: Reference, batch_size: int = 16,
                         progress: Optional[ProgressCallback] = None, stage: str = "level"
                         ) -> dict:
    """Phase 2 for one model: its distributions against the cached reference."""
    import torch

    seqs, starts = encode_texts(lm, list(eval_set.texts))
    if not np.array_equal(_positions(seqs, starts), ref.offsets):
        raise ModelDiffError("the level tokenizes the evaluation texts differently from the "
                             "reference; it is not the same model")
    vocab = ref.logprobs.shape[1]
    n = int(ref.offsets[-1])
    kl, picked, agree = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
    bar = StageProgress(progress, stage, len(seqs), unit="texts")
    for idx, ids, logits in iter_logits(lm, seqs, batch_size):
        for i, lp, actual in _rows(logits[..., :vocab], ids, seqs, starts, idx):
            rows = slice(ref.offsets[i], ref.offsets[i + 1])
            lp = lp.double()
            lr = torch.from_numpy(np.asarray(ref.logprobs[rows], dtype=np.float64))
            kl[rows] = (lr.exp() * (lr - lp)).sum(-1).numpy()
            picked[rows] = lp.gather(-1, actual.unsqueeze(-1)).squeeze(-1).numpy()
            agree[rows] = (lp.argmax(-1).numpy() == ref.argmax[rows])
        bar.advance(len(idx))
    answers = mc_answers(lm, eval_set.mc, batch_size)
    gold = np.array([m.answer for m in eval_set.mc])
    return {
        "kl_mean": float(kl.mean()), "kl_median": float(np.median(kl)),
        "kl_p99": float(np.percentile(kl, 99)), "kl_max": float(kl.max()),
        "top1_agreement": float(agree.mean()),
        "ppl_ref": float(np.exp(-ref.picked.mean())), "ppl": float(np.exp(-picked.mean())),
        "flips": int((answers != ref.mc_answers).sum()), "n_mc": int(len(gold)),
        "mc_accuracy_ref": float((ref.mc_answers == gold).mean()) if len(gold) else None,
        "mc_accuracy": float((answers == gold).mean()) if len(gold) else None,
        "n_tokens": n}


# ------------------------------------------------------------------------------- a study

def study_id_for(spec: ModelSpec, reference: str, eval_set: EvalSet) -> str:
    raw = f"{fingerprint(level_spec(spec, reference))}:{reference}:{eval_set.name}:{eval_set.digest}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def parse_levels(text: str) -> list[str]:
    levels = [x.strip() for x in text.split(",") if x.strip()]
    if not levels:
        raise ModelDiffError("no quantization levels given; e.g. --levels bf16,8bit,4bit")
    for level in levels:
        if level not in LEVELS:
            raise ModelDiffError(f"unknown quantization level {level!r}; choose from "
                                 f"{', '.join(LEVELS)}")
    return list(dict.fromkeys(levels))


def quant_study(store, spec: ModelSpec, levels: list[str], reference: str = "fp32",
                eval_set: Optional[EvalSet] = None, device: Optional[str] = None,
                batch_size: int = 16, progress: Optional[ProgressCallback] = None) -> dict:
    """Every level against the reference, each stored as it finishes; levels already stored
    for the same model, reference and evaluation set are not computed again. Every level is
    checked before anything runs, so an impossible one costs nothing."""
    device = device or pick_device()
    eval_set = eval_set or eval_set_for(spec)
    if not eval_set.texts:
        raise ModelDiffError("the evaluation set has no texts")
    built = is_built(spec)
    checked = {level: check_level(spec, level, device) for level in [reference, *levels]}
    if not built:  # the organism is trained now; its config makes the memory check possible
        ensure_built(spec, progress)
        checked = {level: check_level(spec, level, device) for level in [reference, *levels]}
    study_id = study_id_for(spec, reference, eval_set)
    store.upsert_quant_study(study_id, model=spec.model, spec=spec.to_dict(),
                             reference=reference, eval_set=eval_set.name,
                             n_texts=len(eval_set.texts))
    done = {r["level"] for r in store.quant_levels(study_id)}
    todo = [lv for lv in levels if lv not in done]
    if todo:
        path = cache_dir() / "quant" / f"{study_id}.npy"
        lm = None
        if not (path.exists() and path.with_suffix(".npz").exists()):
            lm = _load_checked(checked[reference], reference, device)
        ref = reference_pass(lm, eval_set, path, batch_size, progress)
        del lm
        for level in todo:
            lm = _load_checked(checked[level], level, device)
            metrics = compare_to_reference(lm, eval_set, ref, batch_size, progress, stage=level)
            metrics["notes"] = ref.notes
            store.save_quant_level(study_id, level, metrics)
            del lm
            _free_memory()
    return quant_result(store, study_id, levels)


def quant_result(store, study_id: str, levels: Optional[list[str]] = None) -> dict:
    """The CLI document: {model, reference, levels:[{level, kl_mean, ...}]}."""
    study = store.get_quant_study(study_id)
    if study is None:
        raise ModelDiffError(f"no quantization study {study_id}")
    rows = store.quant_levels(study_id)
    if levels is not None:
        rows = sorted((r for r in rows if r["level"] in levels), key=lambda r: levels.index(r["level"]))
    return {"study_id": study_id, "model": study["model"], "reference": study["reference"],
            "eval_set": study["eval_set"], "n_texts": study["n_texts"],
            "levels": [{"level": r["level"], **r["metrics"]} for r in rows]}

