"""The first map of a process, with UMAP's numba kernels kept on disk and without: each arm in
fresh Python processes (a process's first map is what is measured, so it cannot share one),
alternated, all on the same texts-sized input, with a private numba cache folder primed once
by a process of its own. Prints each arm's median seconds to the first map and the ratio."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the processes import modeldiff_core from here

FIRST_MAP = """
import json, time
import numpy as np
from modeldiff_core.stages import cluster
if {compile!r}:
    cluster._kernels_kept = True  # as before: numba compiles every kernel in this process
import umap  # the import is not the map's cost
x = np.random.default_rng(0).standard_normal(({n}, 384)).astype(np.float32)
t0 = time.perf_counter()
cluster.umap_project(x, seed=0)
print(json.dumps({{"seconds": time.perf_counter() - t0}}))
"""


def first_map(n: int, compile: bool, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", FIRST_MAP.format(n=n, compile=compile)],
                         cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--texts", type=int, default=800, help="points in the map")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per arm")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, OMP_NUM_THREADS="2")
        first_map(args.texts, False, env)  # primes the private cache
        times = {"compiled": [], "kept": []}
        for _ in range(args.repeats):
            times["compiled"].append(first_map(args.texts, True, env))
            times["kept"].append(first_map(args.texts, False, env))
    med = {arm: statistics.median(t) for arm, t in times.items()}
    for arm, t in times.items():
        print(f"{arm:9s} first map {med[arm]:6.2f} s (median of {', '.join(f'{s:.2f}' for s in t)})")
    print(f"kernels kept on disk: {med['compiled'] / med['kept']:.1f}x faster to the first map "
          f"of {args.texts} points")


if __name__ == "__main__":
    main()
