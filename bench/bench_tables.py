"""The cluster tables stage alone (the prompt-level cluster tests and the marking words), best of
3 at each size, with 40 clusters as KMeans gives from 5k texts on: does it grow like n, as
bench_scale's single runs of it cannot tell apart from noise?

    .venv/bin/python bench/bench_tables.py [--sizes 20000,50000]
"""
import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

SAMPLES, CLUSTERS = 4, 40


def best_of_3(n: int) -> float:
    from modeldiff_core.models.organism_corpus import make_document
    from modeldiff_core.stages.cluster import cluster_tables, top_terms

    rng = random.Random(0)
    texts = [make_document(rng, "cats" if rng.random() < 0.15 else None) for _ in range(2 * n)]
    sides = np.array(["A"] * n + ["B"] * n)
    prompts = np.array([i // SAMPLES for i in range(n)] * 2)
    splits = np.where(prompts % 2 == 0, "discovery", "validation")
    labels = np.random.default_rng(0).integers(0, CLUSTERS, 2 * n)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        cluster_tables(labels, sides, prompts, splits)
        top_terms(texts, labels)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="20000,50000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    seconds = [best_of_3(n) for n in sizes]
    for n, s in zip(sizes, seconds):
        print(f"{n:>6} texts per side: cluster tables {s:.2f} s (best of 3)")
    for (n0, s0), (n1, s1) in zip(zip(sizes, seconds), zip(sizes[1:], seconds[1:])):
        print(f"growth exponent {n0} -> {n1}: {math.log(s1 / s0) / math.log(n1 / n0):.2f}")


if __name__ == "__main__":
    main()
