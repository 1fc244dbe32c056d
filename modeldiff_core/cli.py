"""Headless CLI: `python -m modeldiff_core run|demo|export` and one subcommand per analysis of
`methods.registry` (token-diff, quant, layers, features, probe, plant, truth-bench; the
contract in DESIGN.md). Each command checks its arguments, then calls one function."""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Optional

from .config import ModelDiffError, default_db_path, first_line
from .progress import stop_heartbeats
from .models.organism_corpus import BEHAVIOURS
from .models.organisms import DEFAULT_ORGANISM, LAYERED
from .models.spec import DTYPES, ENGINES, QUANTS, ModelSpec
from .cli_args import (add_hypothesis_set_flag, add_output_flags, add_run_flags, add_store_flags,
                       command_context, generation_from_args, stored_db, write_out)
from .cli_methods import add_method_parsers, is_method, method_command
from .render.terminal import run_summary
from .stages.prompts import builtin_prompt_set, load_prompt_file


# A dash, then a digit, a point, inf or nan: a negative number ("-1e5", "-inf", "-0.5,1"), not
# an option. argparse itself sees only "-1" and "-0.5" as numbers, so "--alpha -inf" was
# "expected one argument" instead of reaching the range check.
_NEGATIVE_NUMBER = re.compile(r"-(\d|\.\d|inf|nan)", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")

    def _parse_optional(self, arg_string):
        if _NEGATIVE_NUMBER.match(arg_string):
            return None  # a value
        return super()._parse_optional(arg_string)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="modeldiff", description="Find how two language models behave differently.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="compare two models")
    run.add_argument("--model-a", required=True,
                     help="HF id, local directory, organism:NAME, outputs:FILE (answers: JSONL, "
                          "CSV or Parquet with prompt and output), openai:MODEL or anthropic:MODEL")
    run.add_argument("--model-b", required=True)
    run.add_argument("--prompts", help="JSONL (prompt field) or CSV (prompt column); a file of "
                                       "answers brings its own prompts")
    for side in ("a", "b"):
        run.add_argument(f"--base-url-{side}", help=f"OpenAI-compatible server of model {side.upper()} "
                                                    "(vllm serve, SGLang, TGI, llama.cpp)")
        run.add_argument(f"--key-file-{side}", help=f"file holding model {side.upper()}'s API key "
                                                    "(else OPENAI_API_KEY / ANTHROPIC_API_KEY)")
        run.add_argument(f"--scorer-{side}", help=f"weights (HF id, directory) giving log-probs for "
                                                  f"model {side.upper()}'s file of answers")
    run.add_argument("--engine", choices=ENGINES, default="hf",
                     help="generation from local weights: HF generate, or vLLM's engine on CUDA")
    run.add_argument("--quant-a", choices=QUANTS, default="none")
    run.add_argument("--quant-b", choices=QUANTS, default="none")
    run.add_argument("--dtype", choices=DTYPES, default="auto")
    run.add_argument("--adapter-a", help="PEFT LoRA adapter directory for model A")
    run.add_argument("--adapter-b", help="PEFT LoRA adapter directory for model B")
    run.add_argument("--revision-a")
    run.add_argument("--revision-b")
    run.add_argument("--trust-remote-code", action="store_true")
    add_run_flags(run)
    demo = sub.add_parser("demo", help="built-in organisms, offline: base vs a finetuned organism")
    demo.add_argument("--organism", default=DEFAULT_ORGANISM,
                      choices=sorted([*BEHAVIOURS, *LAYERED]))
    add_run_flags(demo)
    export = sub.add_parser("export", help="write a run's texts as two outputs: files (JSONL)")
    export.add_argument("--run", required=True, help="the run's id")
    export.add_argument("--out", required=True, help="an existing folder to write them into")
    export.add_argument("--db", help=f"DuckDB file (default {default_db_path()})")
    add_output_flags(export)
    own = sub.add_parser("hypothesis", help="test your own hypothesis on a stored run, as the "
                                            "proposed ones are tested (it joins the run's ledger)")
    own.add_argument("--run", required=True, help="the run's id")
    own.add_argument("--text", required=True, help="one sentence on how B differs from A")
    own.add_argument("--direction", choices=["A", "B"], default="B",
                     help="the model that shows it more")
    own.add_argument("--keywords", help="comma-separated: for the offline judge, a text shows it "
                                        "when it mentions any of these")
    own.add_argument("--regex", help="or when this regular expression matches (case-insensitive)")
    add_hypothesis_set_flag(own, "judges it")
    add_store_flags(own)
    add_method_parsers(sub)
    return parser


def _spec_from_args(args, side: str) -> ModelSpec:
    arg = lambda name: getattr(args, f"{name}_{side}")  # noqa: E731
    model = arg("model")
    path = model[len("outputs:"):] if model.startswith("outputs:") else ""
    # Absolute: a resumed job may run from another folder. A blank path stays blank for the
    # file check to refuse: resolved, it would name the current folder.
    if path.strip():
        model = "outputs:" + str(Path(path).expanduser().resolve())
    return ModelSpec(model, revision=arg("revision"), dtype=args.dtype, quant=arg("quant"),
                     adapter=arg("adapter"), trust_remote_code=args.trust_remote_code,
                     base_url=arg("base_url"), engine=args.engine, scorer=arg("scorer"),
                     key_file=arg("key_file"))


def _config_from_args(args):
    from .stages.prompts import prompts_from_files
    from .pipeline import RunConfig
    from .stages.settings import ClusterSettings, HypothesisSettings

    gen = generation_from_args(args)
    notes: list[str] = []
    if args.command == "demo":
        spec_a, spec_b = ModelSpec("organism:base"), ModelSpec(f"organism:{args.organism}")
        prompts = builtin_prompt_set("organisms")
    else:
        spec_a, spec_b = _spec_from_args(args, "a"), _spec_from_args(args, "b")
        if "outputs" in (spec_a.kind, spec_b.kind):
            if args.prompts:
                raise ModelDiffError("--prompts does not go with outputs:FILE: the file's prompts "
                                     "are the run's")
            prompts, notes = prompts_from_files(spec_a, spec_b)
        elif args.prompts:
            prompts = load_prompt_file(args.prompts)
        elif spec_a.is_organism and spec_b.is_organism:
            prompts = builtin_prompt_set("organisms")
        else:
            prompts = builtin_prompt_set("chat")
    clustering = ClusterSettings(args.cluster_method, args.clusters,
                                 embedder=args.embedder)
    hypotheses = HypothesisSettings(
        args.assistant, args.assistant_model, args.assistant_base_url, args.assistant_key_file,
        args.alpha, args.judge_prompts, judge_mode=args.judge_mode,
        refine_rounds=args.refine_rounds)
    return RunConfig(spec_a, spec_b, prompts, gen, clustering=clustering, hypotheses=hypotheses,
                     notes=tuple(notes))


# Every number an argument takes: (least, most), inclusive; it must also be finite.
BOUNDS = {
    "samples": (1, 10_000), "max_new_tokens": (1, 1_000_000), "temperature": (0.0, 100.0),
    "batch_size": (1, 100_000), "seed": (0, 2 ** 32 - 1), "clusters": (2, 100_000),
    "judge_prompts": (1, 10_000_000), "refine_rounds": (0, 10), "texts_per_truth": (1, 1_000_000),
    "base_mix": (0.0, 10.0), "rank": (1, 4096), "lora_alpha": (1, 100_000),
    "lr": (1e-12, 10.0), "epochs": (0.001, 10_000.0), "max_length": (2, 1_000_000),
    "grad_accum": (1, 100_000),
}  # (an analysis's own numbers are bounded in its settings)


def _check_numbers(args) -> None:
    for name, (least, most) in BOUNDS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if not math.isfinite(value) or not least <= value <= most:
            raise ModelDiffError(f"{flag} must be a number from {least} to {most} (got {value})")
    alpha = getattr(args, "alpha", None)
    if alpha is not None and not 0 < alpha < 1:  # also refuses nan
        raise ModelDiffError(f"--alpha must be between 0 and 1 (got {alpha})")


def check_writable(path: str, what: str) -> None:
    """Refuse an output path that cannot be written, before any work (an existing file is
    left as it is: it is only opened for appending)."""
    target = Path(path).expanduser()
    if not target.resolve().parent.is_dir():
        raise ModelDiffError(f"cannot write {what} {path}: its folder does not exist")
    existed = target.exists()
    try:
        with open(target, "a", encoding="utf-8"):
            pass
    except OSError as err:
        raise ModelDiffError(f"cannot write {what} {path}: {err.strerror or err}") from None
    if not existed:
        target.unlink()


def _check_args(args) -> None:
    _check_numbers(args)
    named = [v for v in vars(args).values() if isinstance(v, str)]
    if args.command in ("demo", "truth-bench") or any(v.startswith("organism:") for v in named):
        from .models.organisms import check_environment

        check_environment()
    if args.out and args.command != "export":  # export's --out is a folder, checked there
        check_writable(args.out, "--out")


def quiet_libraries() -> None:
    """Keep the libraries' own chatter (bitsandbytes' kernel notice, transformers' loading
    bars, numba and UMAP warnings) off stderr, so that an error is one line."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("bitsandbytes", "transformers", "huggingface_hub", "peft", "accelerate",
                 "sentence_transformers", "numba", "umap", "pynndescent", "kernels"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.simplefilter("ignore")


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        quiet_libraries()
    try:
        return _main(args)
    except ModelDiffError as err:
        print(f"modeldiff: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("modeldiff: interrupted; run the same command again to resume from stored rows",
              file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - only DuckDB's own errors are answered here
        import duckdb

        if not isinstance(err, duckdb.Error):
            raise
        first = first_line(err)[:300]
        print(f"modeldiff: error: database {args.db or default_db_path()}: {first}; nothing "
              "stored in it was changed", file=sys.stderr)
        return 2
    finally:
        stop_heartbeats()


def _main(args) -> int:
    _check_args(args)
    if is_method(args.command):
        return method_command(args)
    if args.command == "export":
        return _export_command(args)
    if args.command == "hypothesis":
        return _hypothesis_command(args)
    from . import commands
    from .store import Store

    config = _config_from_args(args)
    plan = commands.judge_plan(config)  # what an LLM judge will cost, before anything is spent
    if plan and not args.quiet:
        print(f"modeldiff: {plan}", file=sys.stderr)
    with Store(args.db or default_db_path()) as store:
        result = commands.run(store, config, command_context(args))
    result["alpha"] = args.alpha
    print(run_summary(result, args.alpha))
    skipped = dict.fromkeys(h["generative_skipped"] for h in result["hypotheses"]
                            if h.get("generative_skipped"))
    for note in [*result.get("notes", []), *(f"generative test skipped: {s}" for s in skipped)]:
        print(f"modeldiff: note: {note}", file=sys.stderr)
    for step in result.get("failed_steps", []):
        print(f"modeldiff: warning: step failed (run again to retry it): {step}",
              file=sys.stderr)
    if args.out:
        write_out(args.out, json.dumps(result, indent=2, allow_nan=True),
                   args.db or default_db_path())
    return 0


def _export_command(args) -> int:
    from . import commands
    from .store import Store

    with Store(stored_db(args)) as store:
        out = commands.export(store, commands.ExportParams(args.run, args.out), command_context(args))
    print(f"run {out['run_id']}: model A's texts in {out['A']}, model B's in {out['B']}; compare "
          f"them again with run --model-a outputs:{out['A']} --model-b outputs:{out['B']}")
    return 0


def _hypothesis_command(args) -> int:
    from . import commands
    from .render.fmt import own_summary
    from .stages.own import OwnParams
    from .store import Store

    params = OwnParams(args.run, args.text, args.hypothesis_set, args.direction,
                       tuple((args.keywords or "").split(",")), args.regex)
    db = stored_db(args)
    with Store(db) as store:
        out = commands.hypothesis(store, params, command_context(args))
    row = next((h for h in out["result"]["hypotheses"] if h["id"] == out["hypothesis_id"]), None)
    print(own_summary(row) if row else f"{out['hypothesis_id']}: stored, not in the result")
    if args.out:
        write_out(args.out, json.dumps(out, indent=2, allow_nan=True), db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
