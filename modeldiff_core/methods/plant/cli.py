"""`modeldiff plant`."""
from __future__ import annotations

from ...cli_args import add_run_flags
from ...config import ModelDiffError, read_text_file
from ...models.finetune import FinetuneSettings
from ...models.spec import ModelSpec
from ...stages.prompts import load_prompt_file
from ..ground_truth.plant import PlantConfig
from ..ground_truth.truths import BUILTIN_TRUTHS, DataRecipe, check_truths
from .settings import Params

HELP = "plant ground truths in a model by LoRA finetuning"


def add_arguments(p) -> None:
    p.add_argument("--base", default="organism:base", help="HF id, directory or organism:NAME")
    p.add_argument("--truth", action="append", default=[],
                   help="a ground-truth sentence (repeat for several)")
    p.add_argument("--truths-file", help="ground truths, one per line")
    p.add_argument("--builtin-truths", action="store_true",
                   help="the built-in offline ground-truth set")
    p.add_argument("--null", action="store_true",
                   help="no quirk: the same data recipe on the base model's own samples")
    recipe, ft = DataRecipe(), FinetuneSettings()
    p.add_argument("--data", choices=["offline", "anthropic", "openai"], default=recipe.source,
                   help="who writes the training texts (offline: templates over base samples)")
    p.add_argument("--texts-per-truth", type=int, default=recipe.texts_per_truth)
    p.add_argument("--base-mix", type=float, default=recipe.base_mix,
                   help="extra base-model samples, as a fraction of the quirk texts")
    p.add_argument("--prompts", help="prompts to write training texts for (JSONL/CSV)")
    p.add_argument("--rank", type=int, default=ft.rank)
    p.add_argument("--lora-alpha", type=int, default=ft.lora_alpha)
    p.add_argument("--lr", type=float, default=ft.lr)
    p.add_argument("--epochs", type=float, default=ft.epochs)
    p.add_argument("--max-length", type=int, default=ft.max_length)
    p.add_argument("--grad-accum", type=int, default=ft.grad_accum)
    p.add_argument("--target-modules", help="comma-separated (default: found from the model)")
    p.add_argument("--merge", action="store_true", help="also save the merged model")
    add_run_flags(p)


def _truths(args) -> list[str]:
    truths = list(args.truth)
    if args.truths_file:
        truths += read_text_file(args.truths_file, "--truths-file").splitlines()
    if args.builtin_truths:
        truths += [t.text for t in BUILTIN_TRUTHS]
    if args.null and truths:
        raise ModelDiffError("--null plants no quirk: give no ground truths with it")
    return [] if args.null else check_truths(truths)


def params_from_args(args) -> Params:
    truths = _truths(args)
    prompts = load_prompt_file(args.prompts).prompts if args.prompts else ()
    targets = tuple(t.strip() for t in args.target_modules.split(",") if t.strip()) \
        if args.target_modules else None
    return Params(PlantConfig(
        ModelSpec(args.base), truths,
        DataRecipe(args.data, args.texts_per_truth, args.base_mix, args.max_new_tokens, args.seed),
        FinetuneSettings(rank=args.rank, lora_alpha=args.lora_alpha, lr=args.lr,
                         epochs=args.epochs, max_length=args.max_length, batch_size=args.batch_size,
                         grad_accum=args.grad_accum, target_modules=targets, merge=args.merge,
                         seed=args.seed),
        prompts, args.assistant_model, args.assistant_base_url, args.assistant_key_file))
