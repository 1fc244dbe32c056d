"""`modeldiff truth-bench`."""
from __future__ import annotations

from ...cli_args import add_run_flags, generation_from_args
from .settings import Params

HELP = ("plant each built-in ground truth in its own finetune of the base organism (plus a "
        "null), run, score recovery")


def add_arguments(p) -> None:
    p.add_argument("--subtle", action="store_true",
                   help="also the modest truths, each in about a quarter of the texts")
    add_run_flags(p)


def params_from_args(args) -> Params:
    return Params(generation_from_args(args), args.subtle, args.judge_prompts)
