"""What every command line shares: output flags, the run's generation and judging flags, the
flags of an analysis on a stored run, and writing --out. Methods' `cli.py` build on these."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional

from .config import ModelDiffError, default_db_path
from .progress import ProgressBar


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
    p.add_argument("--verbose", action="store_true",
                   help="let the libraries (transformers, bitsandbytes, ...) print their "
                        "own warnings and loading bars")


def add_store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="write the result JSON here")
    p.add_argument("--db", help=f"DuckDB file (default {default_db_path()})")
    add_output_flags(p)


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags of a run of the pipeline (run, demo, and the ground-truth commands)."""
    from .models.generation import GenerationSettings
    from .embedders import EMBEDDERS
    from .stages.settings import ClusterSettings, HypothesisSettings

    g, c, h = GenerationSettings(), ClusterSettings(), HypothesisSettings()
    p.add_argument("--samples", type=int, default=g.samples_per_prompt,
                   help="samples per prompt per model")
    p.add_argument("--max-new-tokens", type=int, default=g.max_new_tokens)
    p.add_argument("--temperature", type=float, default=g.temperature)
    p.add_argument("--batch-size", type=int, default=g.batch_size)
    p.add_argument("--seed", type=int, default=g.seed)
    p.add_argument("--alpha", type=float, default=h.alpha, help="significance level for q-values")
    p.add_argument("--assistant", choices=["offline", "anthropic", "openai"], default=h.assistant)
    p.add_argument("--assistant-model", help="model name for the anthropic/openai assistant")
    add_key_flags(p)
    p.add_argument("--clusters", type=int, default=None, help="number of KMeans clusters (default: auto)")
    p.add_argument("--cluster-method", choices=["kmeans", "hdbscan"], default=c.method)
    p.add_argument("--embedder", choices=list(EMBEDDERS), default=c.embedder,
                   help="default: MiniLM reading whole texts (ONNX Runtime); fast: a static "
                        "table distilled from it, for large runs; torch: the earlier path, "
                        "texts cut at 256 tokens (see the README's embedder table)")
    p.add_argument("--judge-mode", choices=["score", "pairwise"], default=h.judge_mode,
                   help="discriminative test: score each text, or ask which of a prompt's two "
                        "texts is B's (both orders; order-dependent answers dropped)")
    p.add_argument("--judge-prompts", type=int, default=h.max_judge_prompts,
                   help="held-out prompts an LLM judge scores per hypothesis (one A and one B "
                        "text each; the calls and an estimated cost are printed before the "
                        "run starts); a predicate judge (offline) scores every held-out text")
    p.add_argument("--refine-rounds", type=int, default=h.refine_rounds,
                   help="rounds of refinement on the discovery texts the hypotheses misjudge")
    p.add_argument("--no-chat-template", action="store_true",
                   help="feed prompts raw even when the tokenizer has a chat template")
    add_store_flags(p)


def add_pair_flags(p: argparse.ArgumentParser) -> None:
    """Two models with local weights, each with an optional adapter and quantization."""
    from .models.spec import QUANTS

    p.add_argument("--model-a", required=True, help="HF id, local directory or organism:NAME")
    p.add_argument("--model-b", required=True)
    for side in ("a", "b"):
        p.add_argument(f"--adapter-{side}",
                       help=f"PEFT LoRA adapter directory for model {side.upper()}")
    for side in ("a", "b"):
        p.add_argument(f"--quant-{side}", choices=QUANTS, default="none")


def pair_from_args(args) -> tuple:
    from .models.spec import ModelSpec

    return tuple(ModelSpec(getattr(args, f"model_{s}"), quant=getattr(args, f"quant_{s}"),
                           adapter=getattr(args, f"adapter_{s}")) for s in "ab")


def add_key_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assistant-base-url", help="API base URL (proxies, compatible servers)")
    p.add_argument("--assistant-key-file", help="file holding the API key (else the environment)")


def add_hypothesis_set_flag(p: argparse.ArgumentParser, role: str) -> None:
    """Which of a run's hypothesis sets an analysis takes (--assistant is its earlier name)."""
    p.add_argument("--hypothesis-set", "--assistant", dest="hypothesis_set", default="offline",
                   help="which of the run's hypothesis sets (offline, anthropic:MODEL, "
                        f"openai:MODEL); that set's assistant {role}")


def generation_from_args(args):
    from .models.generation import GenerationSettings

    return GenerationSettings(samples_per_prompt=args.samples, max_new_tokens=args.max_new_tokens,
                              temperature=args.temperature, batch_size=args.batch_size,
                              seed=args.seed, use_chat_template=not args.no_chat_template)


def progress_bar() -> ProgressBar:
    # Off a terminal a line every MODELDIFF_PROGRESS_EVERY seconds (30): enough for a log.
    try:
        every = float(os.environ.get("MODELDIFF_PROGRESS_EVERY", "30"))
    except ValueError:
        raise ModelDiffError("MODELDIFF_PROGRESS_EVERY must be a number of seconds") from None
    return ProgressBar(sys.stderr, every=every)


def command_context(args):
    from .context import Context

    return Context(progress=None if args.quiet else progress_bar())


def write_out(path: str, text: str, db: Optional[str]) -> None:
    """`db`: where the results are stored (None: a command that stores nothing)."""
    try:
        Path(path).write_text(text)
    except OSError as err:
        stored = (f"; the results are stored in {db} (run the same command again to write them)"
                  if db else "")
        raise ModelDiffError(f"cannot write --out {path}: {err.strerror or err}{stored}") from None


def as_json(result) -> str:
    return json.dumps(result, indent=2, default=float, allow_nan=True)


def stored_db(args) -> str:
    """The database a command reads a stored run from. Opening a file creates it, so a
    mistyped --db would leave an empty database behind and answer only "no run"."""
    path = Path(args.db or default_db_path())
    if not path.is_file():
        raise ModelDiffError(f"no database at {path}" + (" (it is a folder)" if path.is_dir()
                                                          else ""))
    return str(path)
