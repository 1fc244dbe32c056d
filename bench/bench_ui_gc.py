"""A dashboard job beside the jobs panel: the same work (embedding texts, then a UMAP map) in a
worker thread, once while the main thread runs a full garbage collection every second (what
Streamlit does after each script run when `runner.postScriptGC` is on, and the jobs panel
reruns each second) and once while it sleeps (the project's `.streamlit/config.toml`), side by
side in one process that holds what a dashboard holds (torch, transformers, the embedder).
Prints both times and the ratio."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import gc
import random
import threading
import time


def job(embedder, texts) -> None:
    from modeldiff_core.stages.cluster import umap_project

    umap_project(embedder.embed(texts), seed=0)


def timed(embedder, texts, collect_every: float) -> tuple[float, int]:
    """Seconds the job took, and how many collections ran beside it."""
    done = threading.Event()
    worker = threading.Thread(target=lambda: (job(embedder, texts), done.set()))
    t0 = time.perf_counter()
    worker.start()
    collections = 0
    while not done.wait(1.0):
        if collect_every:
            gc.collect(2)
            collections += 1
    worker.join()
    return time.perf_counter() - t0, collections


def main():
    from modeldiff_core.models.organism_corpus import BEHAVIOURS, make_document
    from modeldiff_core.embedders import make_embedder

    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=800)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    rng = random.Random(0)
    texts = [make_document(rng, rng.choice([None, *BEHAVIOURS])) for _ in range(args.texts)]
    embedder = make_embedder()
    job(embedder, texts[:64])  # load the model and compile UMAP's numba code before timing
    rows = {"gc every second": [], "no gc": []}
    for _ in range(args.repeats):  # interleaved, so drift in the machine hits both alike
        rows["gc every second"].append(timed(embedder, texts, 1.0))
        rows["no gc"].append(timed(embedder, texts, 0.0))
    best = {name: min(runs) for name, runs in rows.items()}
    for name, (seconds, collections) in best.items():
        print(f"{name:16s} {seconds:6.1f} s  ({collections} collections)")
    print(f"ratio            {best['gc every second'][0] / best['no gc'][0]:.2f}x")


if __name__ == "__main__":
    main()
