"""Generation by vLLM's offline engine (`--engine vllm`): the same rows as HF generate, keyed
(run, side, prompt, sample) and stored chunk by chunk, so an interrupted run resumes. An
optional extra (`pip install vllm`) that needs CUDA; refused with the reason otherwise. Tensor
parallel over the node's GPUs. Past one node, serve the model with `vllm serve` (multi-node
through Ray, as vLLM documents) and name it `openai:MODEL` with its base URL."""
from __future__ import annotations

import importlib.util


from ...config import LOAD_LOCK, ModelDiffError
from ..spec import resolve
from .base import Batch, Keep, sample_seed

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


def vllm_answers(spec, batch: Batch, keep: Keep) -> None:
    """Every request of the batch by vLLM's engine, CHUNK rows per call, each row seeded by
    its own key."""
    from vllm import SamplingParams

    check_vllm(spec)
    settings = batch.settings
    llm = _engine(spec)
    lora = None
    if spec.adapter:
        from vllm.lora.request import LoRARequest

        lora = LoRARequest("adapter", 1, spec.adapter)
    prompts = {r.prompt_id: r.prompt for r in batch.requests}  # once per prompt, not per sample
    formatted = {pid: _formatted(llm, p, settings.use_chat_template) for pid, p in prompts.items()}
    for i in range(0, len(batch.requests), CHUNK):
        part = batch.requests[i:i + CHUNK]
        params = [SamplingParams(n=1, temperature=settings.temperature, top_p=settings.top_p,
                                 max_tokens=settings.max_new_tokens,
                                 seed=sample_seed(settings.seed, batch.side, r.prompt_id,
                                                  r.sample_idx)) for r in part]
        outs = llm.generate([formatted[r.prompt_id] for r in part], params, lora_request=lora,
                            use_tqdm=False)
        keep([(r.prompt_id, r.sample_idx, c.text.strip(), len(c.token_ids),
               "length" if c.finish_reason == "length" else "eos")
              for r, c in zip(part, (o.outputs[0] for o in outs))])
