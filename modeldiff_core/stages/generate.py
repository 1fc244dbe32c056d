"""Batched sampling from one model, stored batch by batch so an interrupted run resumes.

Rows are keyed (run, side, prompt, sample); rows already stored are never generated again.
"""
from __future__ import annotations

from typing import Optional

import pandas as pd

from ..models.generation import (GenerationSettings, batch_seed, format_prompt, free_cuda,
                                 generate_batch, is_oom)
from ..models.loading import LoadedModel
from ..progress import ProgressCallback, StageProgress


def generate_side(store, run_id: str, side: str, lm: LoadedModel, prompts: pd.DataFrame,
                  settings: GenerationSettings,
                  progress: Optional[ProgressCallback] = None) -> int:
    """Generate every (prompt, sample) of one side not yet stored; returns rows written."""
    done = store.generation_keys(run_id, side)
    total = len(prompts) * settings.samples_per_prompt
    todo = [(int(pid), s) for pid in prompts["prompt_id"] for s in range(settings.samples_per_prompt)
            if (int(pid), s) not in done]
    bar = StageProgress(progress, f"generate {side}", total, unit="texts", done=total - len(todo))
    if not todo:
        return 0
    text_by_id = dict(zip(prompts["prompt_id"].astype(int), prompts["prompt"]))
    formatted = {pid: format_prompt(lm.tokenizer, text_by_id[pid], settings.use_chat_template)
                 for pid in {pid for pid, _ in todo}}
    chat = settings.use_chat_template and bool(getattr(lm.tokenizer, "chat_template", None))
    lengths = {pid: len(lm.tokenizer(f, add_special_tokens=not chat)["input_ids"])
               for pid, f in formatted.items()}
    # Length-sorted batches waste the least compute on left padding.
    todo.sort(key=lambda key: (lengths[key[0]], key))
    batch_size, written, i = settings.batch_size, 0, 0
    while i < len(todo):
        keys = todo[i:i + batch_size]
        try:
            rows = generate_batch(lm, [formatted[pid] for pid, _ in keys], settings,
                                  batch_seed(settings.seed, side, keys[0]), chat)
        except RuntimeError as err:
            if not is_oom(err) or batch_size == 1:
                raise
            batch_size = max(1, batch_size // 2)  # halve and retry the same rows
            free_cuda()
            continue
        df = pd.DataFrame({"side": side, "prompt_id": [k[0] for k in keys],
                           "sample_idx": [k[1] for k in keys],
                           "text": [r[0] for r in rows], "n_tokens": [r[1] for r in rows],
                           "finish_reason": [r[2] for r in rows]})
        store.save_generations(run_id, df)
        written += len(keys)
        i += len(keys)
        bar.advance(len(keys))
    return written
