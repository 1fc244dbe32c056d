"""`modeldiff features`: its flags come from the settings."""
from __future__ import annotations

from ...cli_args import add_hypothesis_set_flag, add_key_flags, add_store_flags
from ...params import add_options, from_args
from .settings import FeatureSettings, Params

HELP = ("the feature lens: sparse dictionaries over one layer's MLP (A's, and what B adds), the "
        "features B adds, their links to hypotheses, and B with them scaled")


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, help="a stored run of two models with weights")
    add_hypothesis_set_flag(p, "judges fresh generations for hypotheses without a predicate "
                               "(its validated hypotheses are linked and scaled)")
    add_key_flags(p)
    add_options(p, FeatureSettings)
    add_store_flags(p)


def params_from_args(args) -> Params:
    return Params(args.run, args.hypothesis_set, from_args(FeatureSettings, args),
                  args.assistant_base_url, args.assistant_key_file)
