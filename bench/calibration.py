"""Calibration of the held-out tests on simulated nulls: for each test (discriminative,
generative, cluster, probe, features) and scenario, the false-positive rate at alpha of the old test
and of the new one on the same simulated worlds, with its standard error, and
their power on a planted effect. See modeldiff_core/calibration.py for the worlds.

    python bench/calibration.py [--reps 1000] [--max-reps 4000] [--json]

A null whose new test's rate is within 3 SE of alpha gets more repetitions (batches of
--reps, on fresh worlds) until its SE is at most 0.004 or --max-reps is reached.

With --json the last line printed is one JSON list of
{test, scenario, method, reps, fpr, se, power} (power null for a null, fpr null for planted)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import json
import time

from modeldiff_core import calibration
from modeldiff_core.calibration import run_calibration


def _fmt(row) -> str:
    rate = row["fpr"] if row["fpr"] is not None else row["power"]
    kind = "FPR" if row["fpr"] is not None else "power"
    return (f"| {row['test']} | {row['scenario']} | {row['method']} | {kind} | "
            f"{rate:.3f} ± {row['se']:.3f} | {row['reps']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--max-reps", type=int, default=4000,
                        help="most repetitions of an undecided null (0: --reps only)")
    parser.add_argument("--tests", help="comma-separated subset: discriminative,generative,"
                        "cluster,probe,features")
    parser.add_argument("--probe-rounds", type=int, default=calibration.PROBE_ROUNDS,
                        help="rounds a probe game (the CLI's default: 12; 3 games)")
    parser.add_argument("--json", action="store_true", help="end with the rows as one JSON line")
    args = parser.parse_args()
    calibration.PROBE_ROUNDS = args.probe_rounds  # read by each probe repetition
    t0 = time.perf_counter()
    rows = run_calibration(args.reps, args.seed, args.alpha,
                           args.tests.split(",") if args.tests else None,
                           progress=lambda s: print(f"... {s}", file=sys.stderr, flush=True),
                           max_reps=args.max_reps)
    print(f"alpha = {args.alpha}, {args.reps} repetitions per scenario, "
          f"{time.perf_counter() - t0:.0f} s")
    print("| test | scenario | method | measure | rate ± SE | reps |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(_fmt(row))
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
