"""Generation by vLLM's offline engine (`--engine vllm`): the same rows as HF generate, keyed
(run, side, prompt, sample) and stored chunk by chunk, so an interrupted run resumes. An
optional extra (`pip install vllm`) that needs CUDA; refused with the reason otherwise. Tensor
parallel over the node's GPUs. Past one node, serve the model with `vllm serve` (multi-node
through Ray, as vLLM documents) and name it `openai:MODEL` with its base URL."""
from __future__ import annotations

import importlib.util
from typing import Optional

import pandas as pd

from ...config import LOAD_LOCK, ModelDiffError
from ...progress import ProgressCallback, StageProgress
from ..spec import resolve
from .base import sample_seed

CHUNK = 512  # rows per engine call: large enough to fill the GPU, small enough to store often
_DTYPES = {"auto": "auto", "bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
_engines: dict = {}


def check_vllm(spec=None) -> None:
    import torch

    if not torch.cuda.is_available():
        raise ModelDiffError("--engine vllm needs a CUDA GPU, and this machine has none "
                             "(the default engine, hf, runs anywhere)")
    if importlib.util.find_spec("vllm") is None:
        raise ModelDiffError("--engine vllm needs vLLM installed: pip install vllm")
    if spec is not None and spec.quant != "none":
        raise ModelDiffError("--engine vllm does not take bitsandbytes --quant here; use the "
                             "hf engine for 8-bit/4-bit, or a quantized checkpoint")


def _engine(spec):
    """One engine per spec per process: vLLM takes the GPUs' memory for its cache up front."""
    import torch
    from vllm import LLM

    key = (spec.model, spec.revision, spec.dtype, spec.adapter)
    with LOAD_LOCK:
        if key not in _engines:
            _engines.clear()  # free the previous model's GPU memory first
            _engines[key] = LLM(model=resolve(spec), revision=spec.revision,
                                dtype=_DTYPES.get(spec.dtype, "auto"),
                                tensor_parallel_size=max(1, torch.cuda.device_count()),
                                trust_remote_code=spec.trust_remote_code,
                                enable_lora=spec.adapter is not None, seed=0)
        return _engines[key]


def _formatted(llm, prompt: str, use_chat_template: bool) -> str:
    from ..generation import format_prompt

    return format_prompt(llm.get_tokenizer(), prompt, use_chat_template)


def generate_side_vllm(store, run_id: str, side: str, spec, prompts: pd.DataFrame, settings,
                       progress: Optional[ProgressCallback] = None) -> int:
    """Every (prompt, sample) of one side not yet stored, by vLLM; returns rows written."""
    from vllm import SamplingParams

    check_vllm(spec)
    done = store.generation_keys(run_id, side)
    total = len(prompts) * settings.samples_per_prompt
    todo = [(int(pid), s) for pid in prompts["prompt_id"] for s in range(settings.samples_per_prompt)
            if (int(pid), s) not in done]
    bar = StageProgress(progress, f"generate {side} (vLLM)", total, unit="texts",
                        done=total - len(todo))
    if not todo:
        return 0
    llm = _engine(spec)
    lora = None
    if spec.adapter:
        from vllm.lora.request import LoRARequest

        lora = LoRARequest("adapter", 1, spec.adapter)
    text_by_id = dict(zip(prompts["prompt_id"].astype(int), prompts["prompt"]))
    formatted = {pid: _formatted(llm, text_by_id[pid], settings.use_chat_template)
                 for pid in {pid for pid, _ in todo}}
    written = 0
    for i in range(0, len(todo), CHUNK):
        keys = todo[i:i + CHUNK]
        params = [SamplingParams(n=1, temperature=settings.temperature, top_p=settings.top_p,
                                 max_tokens=settings.max_new_tokens,
                                 seed=sample_seed(settings.seed, side, *k)) for k in keys]
        outs = llm.generate([formatted[pid] for pid, _ in keys], params, lora_request=lora,
                            use_tqdm=False)
        first = [o.outputs[0] for o in outs]
        store.save_generations(run_id, pd.DataFrame({
            "side": side, "prompt_id": [k[0] for k in keys], "sample_idx": [k[1] for k in keys],
            "text": [c.text.strip() for c in first], "n_tokens": [len(c.token_ids) for c in first],
            "finish_reason": ["length" if c.finish_reason == "length" else "eos" for c in first]}))
        written += len(keys)
        bar.advance(len(keys))
    return written
