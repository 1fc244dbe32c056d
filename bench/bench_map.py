"""How long the cluster-map page takes to build its figure (render.figures.map_figure) for 10k,
50k and 100k points, both colourings, and how large the figure is (what the browser gets):
above 20k points only a sample carries its text in the hover label."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import time

import numpy as np
import pandas as pd

from modeldiff_core.render.figures import map_figure


def points(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array(["the", "cat", "sat", "on", "a", "warm", "mat", "by", "river", "<b>"])
    texts = [" ".join(rng.choice(words, 30)) for _ in range(n)]
    return pd.DataFrame({"side": rng.choice(["A", "B"], n), "cluster_id": rng.integers(0, 30, n),
                         "x": rng.normal(size=n), "y": rng.normal(size=n), "text": texts})


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    data = {n: points(n) for n in (10_000, 50_000, 100_000)}
    map_figure(data[10_000].head(100))  # warm-up: plotly's first figure is slow
    results = {}
    for n, pts in data.items():
        for colour in ("model", "cluster"):
            # Bound now: the lambda runs inside best_of, within this iteration.
            results[n, colour] = best_of(
                lambda pts=pts, colour=colour: map_figure(pts, colour).to_json())
            size = len(map_figure(pts, colour).to_json()) / 2 ** 20
            print(f"{n:>6} points, colour by {colour:<7}: {results[n, colour]:.2f} s "
                  f"(figure built and serialised, best of 3), {size:.1f} MiB of JSON")
    print(f"50k / 10k time ratio (model colouring): "
          f"{results[50_000, 'model'] / results[10_000, 'model']:.1f}x; 100k / 10k: "
          f"{results[100_000, 'model'] / results[10_000, 'model']:.1f}x")


if __name__ == "__main__":
    main()
