"""Proposal and coverage on the built-in organisms (demo size unless MODELDIFF_ORGANISM_SIZE
says otherwise): per organism, the first finding (the headline with the largest held-out
effect) verbatim with its held-out rates, its held-out accuracy against the bag-of-words
baseline on the same texts, what was folded under it, the other headlines (validated, explained
by no stronger one),
the coverage share of the validated set, and, per planted behaviour, whether a validated
hypothesis states it. Prints a Markdown table; with --json the last line is the list of runs."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import argparse
import json
import tempfile
import time

from planted import names_behaviour

from modeldiff_core.cli import _config_from_args, build_parser
from modeldiff_core.models.organisms import GRADUAL, LAYERED, PLANTED, SUBTLE
from modeldiff_core.pipeline import run_pipeline
from modeldiff_core.render.fmt import finding
from modeldiff_core.store import Store

STRONG = ["cats", "questions", "short", "long", "null", *LAYERED]
# Many samples for behaviours in part of the texts or spread over many words.
SPARSE = [*GRADUAL, *SUBTLE]


def one_run(organism: str, samples: int, db: Path) -> dict:
    # (The offline judge is free: it scores every held-out text, whatever the budget.)
    config = _config_from_args(build_parser().parse_args(
        ["demo", "--organism", organism, "--samples", str(samples)]))
    t0 = time.perf_counter()
    with Store(db) as store:
        result = run_pipeline(store, config)
    validated = [h for h in result["hypotheses"] if h["validated"]]
    top = validated[0] if validated else None  # the result lists the headlines first
    folded = [h["text"] for h in validated if top and h["explained_by"] == top["id"]]
    others = [h["text"] for h in validated[1:] if h["explained_by"] is None]
    return {"organism": organism, "samples": samples, "proposed": len(result["hypotheses"]),
            "validated": len(validated),
            "headlines": sum(h["explained_by"] is None for h in validated), "folded": folded,
            "other_headlines": others,
            "found": {b: any(names_behaviour(h, b) for h in validated) for b in PLANTED[organism]},
            "top": None if top is None else {"text": finding(top), **top["discriminative"]},
            "coverage": result["coverage"], "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organisms", default=",".join(STRONG + SPARSE))
    parser.add_argument("--samples", type=int, default=4, help="samples per prompt (strong)")
    parser.add_argument("--subtle-samples", type=int, default=8,
                        help="samples per prompt (the subtle and gradual organisms)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.organisms.split(","):
            samples = args.subtle_samples if name in SPARSE else args.samples
            runs.append(one_run(name, samples, Path(tmp) / "t.duckdb"))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    print("| organism | samples | validated / proposed | headlines | planted found | first finding "
          "| accuracy | baseline (same texts) | folded under it | other headlines | coverage share |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        c, t = r["coverage"], r["top"]
        found = ", ".join(f"{b} {'yes' if ok else '**no**'}" for b, ok in r["found"].items()) or "—"
        share = "n/a" if c["share"] is None else f"{c['share']:.2f}"
        base = "" if c["baseline_accuracy"] is None else f"{c['baseline_accuracy']:.2f}"
        head = (f"{t['text']} | {t['accuracy']:.2f} | {base} | {'; '.join(r['folded']) or '—'} | "
                f"{'; '.join(r['other_headlines']) or '—'}" if t else "— | | | — | —")
        print(f"| `{r['organism']}` | {r['samples']} | {r['validated']} / {r['proposed']} | "
              f"{r['headlines']} | {found} | {head} | {share} |")
    if args.json:
        print(json.dumps(runs))


if __name__ == "__main__":
    main()
