"""The cluster map stays light at 100k points: hover texts for a seeded sample only, every
point still selectable (its customdata is its row)."""
import numpy as np
import pandas as pd

from modeldiff_core.render.figures import map_figure


def _points(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"side": rng.choice(["A", "B"], n), "cluster_id": rng.integers(0, 5, n),
                         "x": rng.normal(size=n), "y": rng.normal(size=n),
                         "text": [f"text <b>{i}</b>" for i in range(n)]})


def _labels(fig) -> list[str]:
    return [h for trace in fig.data for h in trace.hovertext]


def test_small_maps_show_every_text_escaped():
    fig = map_figure(_points(300))
    labels = _labels(fig)
    assert len(labels) == 300 and all("<br>text &lt;b&gt;" in h for h in labels)


def test_large_maps_sample_the_hover_texts_but_keep_every_point():
    fig = map_figure(_points(100_000), max_hover_texts=2_000)
    labels = _labels(fig)
    rows = sorted(int(r) for trace in fig.data for r in trace.customdata)
    assert rows == list(range(100_000))
    assert sum("<br>" in h for h in labels) == 2_000
    assert all(t.type == "scattergl" for t in fig.data)
    again = _labels(map_figure(_points(100_000), max_hover_texts=2_000))
    assert again == labels  # seeded: the same sample on every rerun of the page
