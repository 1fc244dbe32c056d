"""Token diff: one text scored token by token under A and B (log-prob, rank, top choice).
Needs local weights of both models and one tokenizer. Entry point: `diff.token_diff`."""
from . import cli, run, settings, show  # noqa: F401,E402 - the face the registry reads
