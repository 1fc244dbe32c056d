"""The analyses' subcommands of the CLI — quant, export, probe, layers, features: their
arguments and their thin adapters onto `commands` (the run, demo and ground-truth commands are
in cli.py, which dispatches here)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import ModelDiffError, default_db_path
from .models.spec import QUANTS, ModelSpec
from .progress import ProgressBar
from .render.terminal import features_summary, layers_summary, probe_summary, quant_summary


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
    p.add_argument("--verbose", action="store_true",
                   help="let the libraries (transformers, bitsandbytes, ...) print their "
                        "own warnings and loading bars")


def add_method_parsers(sub) -> None:
    quant = sub.add_parser("quant", help="what quantization levels cost: KL, top-1 agreement, "
                           "perplexity and answer flips against a full-precision reference")
    quant.add_argument("--model", required=True, help="HF id, local directory or organism:NAME")
    quant.add_argument("--levels", default="bf16,8bit,4bit",
                       help="comma-separated, from fp32,bf16,fp16,8bit,4bit,int8-dynamic")
    quant.add_argument("--reference", default="fp32", help="the level the others are compared to")
    quant.add_argument("--prompts", help="texts to score (JSONL prompt field or CSV prompt column)")
    quant.add_argument("--revision")
    quant.add_argument("--trust-remote-code", action="store_true")
    quant.add_argument("--out", help="write the result JSON here")
    quant.add_argument("--db", help=f"DuckDB file (default {default_db_path()})")
    quant.add_argument("--batch-size", type=int, default=16)
    add_output_flags(quant)
    export = sub.add_parser("export", help="write a run's texts as two outputs: files (JSONL)")
    export.add_argument("--run", required=True, help="the run's id")
    export.add_argument("--out", required=True, help="an existing folder to write them into")
    export.add_argument("--db", help=f"DuckDB file (default {default_db_path()})")
    add_output_flags(export)
    probe = sub.add_parser("probe", help="the probe game: can a hypothesis tell the two models "
                           "apart in conversation, against an empty-hypothesis control?")
    probe.add_argument("--run", required=True, help="a stored run whose models answer new prompts")
    probe.add_argument("--hypothesis", action="append", dest="hypotheses",
                       help="a hypothesis id to probe (repeatable; default: the validated ones)")
    probe.add_argument("--assistant", default="offline",
                       help="which hypothesis set (offline, anthropic:MODEL, openai:MODEL): its "
                            "assistant plays")
    probe.add_argument("--rounds", type=int, default=12, help="rounds per game")
    probe.add_argument("--games", type=int, default=3, help="games per hypothesis (and control)")
    probe.add_argument("--answers", type=int, default=4,
                       help="answers of the hidden model to each probe")
    probe.add_argument("--examples", type=int, default=3,
                       help="labelled discovery examples shown to an LLM assistant")
    probe.add_argument("--alpha", type=float, default=0.05, help="significance level for q-values")
    probe.add_argument("--assistant-base-url", help="API base URL (proxies, compatible servers)")
    probe.add_argument("--assistant-key-file", help="file holding the API key (else the environment)")
    probe.add_argument("--out", help="write the result JSON here")
    probe.add_argument("--db", help=f"DuckDB file (default {default_db_path()})")
    add_output_flags(probe)
    layers = sub.add_parser("layers", help="which layers carry B's difference: weight deltas, "
                            "activation differences, delta-scaling interventions")
    layers.add_argument("--model-a", required=True, help="HF id, local directory or organism:NAME")
    layers.add_argument("--model-b", required=True)
    layers.add_argument("--adapter-a", help="PEFT LoRA adapter directory for model A")
    layers.add_argument("--adapter-b", help="PEFT LoRA adapter directory for model B")
    layers.add_argument("--quant-a", choices=QUANTS, default="none")
    layers.add_argument("--quant-b", choices=QUANTS, default="none")
    layers.add_argument("--run", help="a stored run of this pair: its held-out texts, validated "
                        "hypotheses and prompts drive the activation and scaling views")
    layers.add_argument("--assistant", default="offline",
                        help="whose hypotheses of the run to use (offline, anthropic:MODEL, ...); "
                        "that assistant judges fresh generations for hypotheses without a predicate")
    layers.add_argument("--assistant-base-url", help="API base URL (proxies, compatible servers)")
    layers.add_argument("--assistant-key-file", help="file holding the API key (else the environment)")
    layers.add_argument("--scales", "--alphas", dest="scales", default="0,0.25,0.5,0.75,1",
                        help="factors on B's change, W_A + scale (W_B - W_A); --alphas is the "
                        "earlier spelling")
    layers.add_argument("--window", type=int, default=1, help="consecutive layers scaled together")
    layers.add_argument("--generations", type=int, default=32,
                        help="fresh generations per setting for behaviour rates")
    layers.add_argument("--texts", type=int, default=200, help="held-out texts for activations")
    layers.add_argument("--out", help="write the result JSON here")
    layers.add_argument("--db", help=f"DuckDB file (default {default_db_path()})")
    add_output_flags(layers)
    feats = sub.add_parser("features", help="the feature lens: sparse dictionaries over one "
                           "layer's MLP (A's, and what B adds), the features B adds, their "
                           "links to hypotheses, and B with them scaled")
    feats.add_argument("--run", required=True, help="a stored run of two models with weights")
    feats.add_argument("--layer", type=int,
                       help="the layer (default: the layer lens's first, else the middle one)")
    feats.add_argument("--width", type=int, default=8,
                       help="base dictionary latents as a multiple of the model's width")
    feats.add_argument("--delta-width", type=int, default=2,
                       help="delta dictionary latents as a multiple of the model's width")
    feats.add_argument("--steps", type=int, default=3000, help="training steps per dictionary")
    feats.add_argument("--max-tokens", type=int, default=100_000,
                       help="MLP activations kept per model and set of texts")
    feats.add_argument("--assistant", default="offline",
                       help="whose hypotheses of the run to link and scale (offline, "
                       "anthropic:MODEL, ...); that assistant judges fresh generations for "
                       "hypotheses without a predicate")
    feats.add_argument("--alphas", default="0,0.25,0.5,0.75,1",
                       help="scales of the delta inside B (1 is B itself)")
    feats.add_argument("--generations", type=int, default=32,
                       help="fresh generations per setting for behaviour rates")
    feats.add_argument("--texts", type=int, default=240,
                       help="held-out texts (paired by prompt) for the feature table")
    feats.add_argument("--assistant-base-url", help="API base URL (proxies, compatible servers)")
    feats.add_argument("--assistant-key-file", help="file holding the API key (else the environment)")
    feats.add_argument("--out", help="write the result JSON here")
    feats.add_argument("--db", help=f"DuckDB file (default {default_db_path()})")
    add_output_flags(feats)


def progress_bar() -> ProgressBar:
    # Off a terminal a line every MODELDIFF_PROGRESS_EVERY seconds (30): enough for a log.
    try:
        every = float(os.environ.get("MODELDIFF_PROGRESS_EVERY", "30"))
    except ValueError:
        raise ModelDiffError("MODELDIFF_PROGRESS_EVERY must be a number of seconds") from None
    return ProgressBar(sys.stderr, every=every)


def write_out(path: str, text: str, db: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise ModelDiffError(f"cannot write --out {path}: {err.strerror or err}; the results "
                             f"are stored in {db} (run the same command again to write them)") from None


def stored_db(args) -> str:
    """The database a command reads a stored run from. Opening a file creates it, so a
    mistyped --db would leave an empty database behind and answer only "no run"."""
    path = Path(args.db or default_db_path())
    if not path.is_file():
        raise ModelDiffError(f"no database at {path}" + (" (it is a folder)" if path.is_dir()
                                                          else ""))
    return str(path)


def command_context(args):
    from .commands import Context

    return Context(progress=None if args.quiet else progress_bar())


def _quant_command(args) -> int:
    from . import commands
    from .methods.quant.study import parse_levels
    from .store import Store

    spec = ModelSpec(args.model, revision=args.revision, trust_remote_code=args.trust_remote_code)
    params = commands.QuantParams(spec, parse_levels(args.levels), args.reference,
                                  prompts_file=args.prompts, batch_size=args.batch_size)
    with Store(args.db or default_db_path()) as store:
        result = commands.quant(store, params, command_context(args))
    if args.out:
        write_out(args.out, json.dumps(result, indent=2), args.db or default_db_path())
    print(quant_summary(result))
    return 0


def _export_command(args) -> int:
    from . import commands
    from .store import Store

    with Store(stored_db(args)) as store:
        out = commands.export(store, commands.ExportParams(args.run, args.out), command_context(args))
    print(f"run {out['run_id']}: model A's texts in {out['A']}, model B's in {out['B']}; compare "
          f"them again with run --model-a outputs:{out['A']} --model-b outputs:{out['B']}")
    return 0


def _probe_command(args) -> int:
    from . import commands
    from .methods.probe.game import ProbeSettings
    from .store import Store

    settings = ProbeSettings(args.rounds, args.games, args.answers, args.examples, args.alpha)
    params = commands.ProbeParams(args.run, args.assistant, args.hypotheses, settings,
                                  args.assistant_base_url, args.assistant_key_file)
    with Store(stored_db(args)) as store:
        result = commands.probe(store, params, command_context(args))
    if args.out:
        write_out(args.out, json.dumps(result, indent=2), args.db or default_db_path())
    print(probe_summary(result))
    return 0


def _layers_command(args) -> int:
    from . import commands
    from .methods.layers.settings import parse_scales
    from .store import Store

    try:
        scales = parse_scales(args.scales)
    except ModelDiffError as err:
        raise ModelDiffError(f"--{err}") from None
    params = commands.LayersParams(
        args.run, ModelSpec(args.model_a, quant=args.quant_a, adapter=args.adapter_a),
        ModelSpec(args.model_b, quant=args.quant_b, adapter=args.adapter_b), args.assistant,
        scales, args.window, args.generations, args.texts, args.assistant_base_url,
        args.assistant_key_file)
    with Store(stored_db(args) if args.run else args.db or default_db_path()) as store:
        result = commands.layers(store, params, command_context(args))
    if args.out:
        write_out(args.out, json.dumps(result, indent=2, default=float),
                   args.db or default_db_path())
    print(layers_summary(result))
    return 0


def _features_command(args) -> int:
    from . import commands
    from .methods.features.dictionary import DictionarySettings
    from .methods.features.lens import FeatureSettings
    from .methods.layers.settings import parse_scales
    from .store import Store

    try:
        alphas = tuple(parse_scales(args.alphas))
    except ModelDiffError as err:
        raise ModelDiffError(f"--alphas: {err}") from None
    settings = FeatureSettings(
        layer=args.layer, dictionary=DictionarySettings(width=args.width,
                                                        delta_width=args.delta_width,
                                                        steps=args.steps),
        n_texts=args.texts, max_tokens=args.max_tokens, alphas=alphas,
        n_generations=args.generations)
    params = commands.FeaturesParams(args.run, args.assistant, settings,
                                     args.assistant_base_url, args.assistant_key_file)
    with Store(stored_db(args)) as store:
        result = commands.features(store, params, command_context(args))
    if args.out:
        write_out(args.out, json.dumps(result, indent=2, default=float),
                   args.db or default_db_path())
    print(features_summary(result))
    return 0


METHODS = {"quant": _quant_command, "export": _export_command, "probe": _probe_command,
           "layers": _layers_command, "features": _features_command}
