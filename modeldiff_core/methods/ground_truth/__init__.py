"""Ground truth: behaviours planted by a LoRA finetune (`truths` → `plant`), the pipeline on base
vs finetune, and recovery scored by matching validated hypotheses to the truths (`score`); the
truth bench runs the loop over the built-in truths (`bench`). Needs the base model's weights."""
from . import cli, run, settings, show  # noqa: F401,E402 - the face the registry reads
