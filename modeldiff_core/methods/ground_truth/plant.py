"""Planting ground truths: training texts, then a LoRA finetune of the base (resumable)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ...config import ModelDiffError, cache_dir
from ...models.finetune import FinetuneSettings, adapter_spec, finetune, finetune_info
from ...models.loading import ModelCache
from ...models.spec import ModelSpec, check_spec, ensure_built, fingerprint
from ...progress import ProgressCallback
from .truths import TEMPLATES_VERSION, DataRecipe, TextSources, as_truths, make_training_texts


@dataclass
class PlantConfig:
    """Plant ground truths in a copy of `base`: training texts, then a LoRA finetune."""
    base: ModelSpec
    truths: list  # ground-truth sentences; empty: the null finetune (same recipe, no quirk)
    recipe: DataRecipe = field(default_factory=DataRecipe)
    settings: FinetuneSettings = field(default_factory=FinetuneSettings)
    prompts: tuple = ()  # empty: the built-in organism prompts
    assistant_model: Optional[str] = None
    assistant_base_url: Optional[str] = None
    assistant_key_file: Optional[str] = None

    def __post_init__(self):
        if not self.prompts:
            from ...models.organism_corpus import organism_prompts
            self.prompts = tuple(organism_prompts())


def finetune_id_for(config: PlantConfig) -> str:
    payload = {"base": fingerprint(config.base), "truths": list(config.truths),
               "recipe": config.recipe.to_dict(), "settings": config.settings.to_dict(),
               "prompts": hashlib.sha256("\n".join(config.prompts).encode()).hexdigest()}
    if config.recipe.source == "offline":
        payload["templates"] = TEMPLATES_VERSION
    return "ft-" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def plant(store, config: PlantConfig, cache: Optional[ModelCache] = None,
          progress: Optional[ProgressCallback] = None, api_key: Optional[str] = None,
          finetunes_dir: Optional[Path] = None) -> dict:
    """Training texts (streamed to the store) -> LoRA finetune (checkpointed). Running the same
    config again resumes either stage. Returns the finetune's row, with `spec_b`. Adapters go
    to `finetunes_dir` (default cache/finetunes)."""
    truths = as_truths(config.truths) if config.truths else []
    config.recipe.check(truths)
    config.settings.check()
    call_path = None
    if config.recipe.source != "offline":  # its key before any model is built or row stored
        from ...llm import CallPath, make_client
        call_path = CallPath(make_client(config.recipe.source, model=config.assistant_model,
                                         base_url=config.assistant_base_url,
                                         key_file=config.assistant_key_file, api_key=api_key),
                             store=store)
    check_spec(config.base)
    if not config.prompts:
        raise ModelDiffError("no prompts to make training texts for")
    ensure_built(config.base, progress)
    finetune_id = finetune_id_for(config)
    adapter_dir = Path(finetunes_dir or cache_dir() / "finetunes") / finetune_id
    store.upsert_finetune(finetune_id, base=config.base.to_dict(),
                          truths=[t.text for t in truths], data_recipe=config.recipe.to_dict(),
                          settings=config.settings.to_dict(), adapter_path=str(adapter_dir))
    cache = cache or ModelCache()
    done = finetune_info(adapter_dir)
    if done is not None:  # already trained: nothing to make again
        store.set_finetune_status(finetune_id, "done", final_loss=done.get("final_loss"))
        row = store.get_finetune(finetune_id)
        row["spec_b"] = adapter_spec(config.base, adapter_dir)
        return row
    try:
        store.set_finetune_status(finetune_id, "data")
        needs_base = config.recipe.source == "offline" or config.recipe.base_mix > 0
        texts = make_training_texts(store, finetune_id, truths, config.recipe,
                                    list(config.prompts),
                                    TextSources(cache.get(config.base) if needs_base else None,
                                                call_path), progress=progress)
        store.set_finetune_status(finetune_id, "training")
        info = finetune(config.base, texts, config.settings, adapter_dir,
                        meta={"finetune_id": finetune_id, "truths": [t.text for t in truths],
                              "data_recipe": config.recipe.to_dict(), "n_texts": len(texts)},
                        device=cache.device, progress=progress)
    except BaseException:
        store.set_finetune_status(finetune_id, "interrupted")
        raise
    store.set_finetune_status(finetune_id, "done", final_loss=info.get("final_loss"))
    row = store.get_finetune(finetune_id)
    row["spec_b"] = adapter_spec(config.base, adapter_dir)
    return row


def truths_of(spec_b: ModelSpec) -> Optional[list[str]]:
    """The ground truths planted in model B, when B is one of our finetunes (else None)."""
    if not spec_b.adapter:
        return None
    info = finetune_info(spec_b.adapter)
    return None if info is None else list(info.get("truths", []))
