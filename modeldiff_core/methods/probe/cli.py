"""`modeldiff probe`: its flags come from the settings."""
from __future__ import annotations

from ...cli_args import add_hypothesis_set_flag, add_key_flags, add_store_flags
from ...params import add_options, from_args
from .settings import Params, ProbeSettings

HELP = ("the probe game: can a hypothesis tell the two models apart in conversation, against "
        "an empty-hypothesis control?")


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, help="a stored run whose models answer new prompts")
    p.add_argument("--hypothesis", action="append", dest="hypotheses",
                   help="a hypothesis id to probe (repeatable; default: the validated ones)")
    add_hypothesis_set_flag(p, "plays")
    add_key_flags(p)
    add_options(p, ProbeSettings)
    add_store_flags(p)


def params_from_args(args) -> Params:
    return Params(args.run, args.hypothesis_set, args.hypotheses,
                  from_args(ProbeSettings, args), args.assistant_base_url,
                  args.assistant_key_file)
