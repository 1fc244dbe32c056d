"""`modeldiff quant`: its flags come from the settings."""
from __future__ import annotations

from ...cli_args import add_store_flags
from ...models.spec import ModelSpec
from ...params import add_options, from_args
from .settings import Params

HELP = ("what quantization levels cost: KL, top-1 agreement, perplexity and answer flips "
        "against a full-precision reference")


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="HF id, local directory or organism:NAME")
    p.add_argument("--revision")
    p.add_argument("--trust-remote-code", action="store_true")
    add_options(p, Params)
    add_store_flags(p)


def params_from_args(args) -> Params:
    spec = ModelSpec(args.model, revision=args.revision, trust_remote_code=args.trust_remote_code)
    return from_args(Params, args, spec=spec)
