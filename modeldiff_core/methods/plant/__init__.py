"""Plant: ground truths planted in a model by a LoRA finetune, and (with `evaluate`) the run of
base vs finetune scored against them. The machinery is ground_truth's (`plant`, `truths`,
`bench.evaluate_finetune`); this folder is the command's face."""
from . import cli, run, settings, show  # noqa: F401 - the face the registry reads
