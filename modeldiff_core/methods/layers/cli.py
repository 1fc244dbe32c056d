"""`modeldiff layers`: its flags come from the settings."""
from __future__ import annotations

from ...cli_args import (add_hypothesis_set_flag, add_key_flags, add_pair_flags, add_store_flags,
                         pair_from_args)
from ...params import add_options, from_args
from .settings import LensSettings, Params

HELP = ("which layers carry B's difference: weight deltas, activation differences, "
        "delta-scaling interventions")


def add_arguments(p) -> None:
    add_pair_flags(p)
    p.add_argument("--run", help="a stored run of this pair: its held-out texts, validated "
                   "hypotheses and prompts drive the activation and scaling views")
    add_hypothesis_set_flag(p, "judges fresh generations for hypotheses without a predicate")
    add_key_flags(p)
    add_options(p, LensSettings)
    add_store_flags(p)


def params_from_args(args) -> Params:
    return Params(args.run, *pair_from_args(args), args.hypothesis_set,
                  from_args(LensSettings, args), args.assistant_base_url, args.assistant_key_file)
