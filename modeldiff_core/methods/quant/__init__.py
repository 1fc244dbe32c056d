"""Quantization metrics: what bf16 / fp16 / 8-bit / 4-bit / int8 cost one model against a
reference (KL, top-1 agreement, perplexity, answer flips), in two phases. Needs local weights.
Entry point: `study.quant_study`."""
from . import cli, run, settings, show  # noqa: F401,E402 - the face the registry reads
