"""`modeldiff token-diff`."""
from __future__ import annotations

from ...cli_args import add_pair_flags, add_store_flags, pair_from_args
from ...config import ModelDiffError, read_text_file
from .settings import Params

HELP = "one text scored token by token under A and B: where their probabilities part"


def add_arguments(p) -> None:
    add_pair_flags(p)
    p.add_argument("--text", help="the text to score")
    p.add_argument("--text-file", help="a file holding the text to score")
    p.add_argument("--prompt", help="score the text as the answer to this prompt")
    p.add_argument("--no-chat-template", action="store_true",
                   help="feed the prompt raw even when the tokenizer has a chat template")
    add_store_flags(p)


def params_from_args(args) -> Params:
    if (args.text is None) == (args.text_file is None):
        raise ModelDiffError("give the text to score: --text or --text-file (one of them)")
    text = args.text if args.text is not None else read_text_file(args.text_file, "--text-file")
    return Params(*pair_from_args(args), text, args.prompt, not args.no_chat_template)
