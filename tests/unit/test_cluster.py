"""Clustering and the 2-d map, on synthetic blobs whose true labels are known."""
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from modeldiff_core.config import ModelDiffError
from modeldiff_core.stages.cluster import (
    HDBSCANClusterer,
    KMeansClusterer,
    make_clusterer,
    top_terms,
    umap_project,
)
from seeds import seeded


def blobs(n_per=40, k=3, dim=32, noise=0.05, seed=None, scale=1.0):
    """k gaussian blobs around random, nearly orthogonal directions (clusterers L2-normalise)."""
    seed = seeded(0) if seed is None else seed
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, dim))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    labels = np.repeat(np.arange(k), n_per)
    x = centers[labels] + noise * rng.standard_normal((k * n_per, dim))
    order = rng.permutation(len(x))
    return (scale * x[order]).astype(np.float32), labels[order]


# --- KMeans -----------------------------------------------------------------------

def test_kmeans_recovers_blobs():
    x, y = blobs(n_per=40, seed=seeded(1))
    pred = KMeansClusterer(n_clusters=3, seed=0).fit_predict(x)
    assert pred.shape == y.shape
    assert set(pred) == {0, 1, 2}
    assert adjusted_rand_score(y, pred) > 0.95


def test_kmeans_works_on_unnormalised_vectors():
    # Same directions, wildly different lengths: clustering is by direction (cosine).
    x, y = blobs(n_per=30, seed=seeded(2))
    lengths = np.random.default_rng(seeded(3)).uniform(0.1, 100, size=(len(x), 1)).astype(np.float32)
    pred = KMeansClusterer(n_clusters=3).fit_predict(x * lengths)
    assert adjusted_rand_score(y, pred) > 0.95


def test_kmeans_is_seeded():
    x, _ = blobs(n_per=30, k=5, noise=0.6, seed=seeded(4))  # overlapping: the seed could matter
    a = KMeansClusterer(n_clusters=5, seed=7).fit_predict(x)
    b = KMeansClusterer(n_clusters=5, seed=7).fit_predict(x)
    np.testing.assert_array_equal(a, b)


def test_kmeans_default_k_on_data():
    x, _ = blobs(n_per=100, k=4, seed=seeded(5))  # n=400 -> sqrt(100) = 10 clusters
    assert len(set(KMeansClusterer().fit_predict(x))) == 10


@pytest.mark.parametrize("n_clusters, n, expected", [
    (None, 2, 2), (None, 3, 2), (None, 4, 2), (None, 16, 2), (None, 36, 3), (None, 400, 10),
    (None, 1000, 16), (None, 6400, 40), (None, 100_000, 40),
    (5, 1000, 5), (5, 3, 3), (1, 100, 2), (100, 1000, 40), (100, 30, 30),
])
def test_k_for_bounds(n_clusters, n, expected):
    assert KMeansClusterer(n_clusters=n_clusters).k_for(n) == expected


def test_k_for_never_exceeds_n_or_leaves_range():
    for n in range(2, 3000, 7):
        for n_clusters in (None, 1, 3, 50):
            k = KMeansClusterer(n_clusters=n_clusters).k_for(n)
            assert 2 <= k <= min(40, n)


# --- UMAP -------------------------------------------------------------------------

def test_umap_project_shape_finite_and_seeded():
    x, y = blobs(n_per=20, seed=seeded(6))
    a = umap_project(x, seed=3)
    assert a.shape == (len(x), 2) and a.dtype == np.float64
    assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, umap_project(x, seed=3))
    # The map keeps the blobs apart: plain 2-d KMeans on it recovers them.
    assert adjusted_rand_score(y, _kmeans_raw(a, 3)) > 0.95


def _kmeans_raw(a, k):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, random_state=0, n_init=4).fit_predict(a)


_MAP_IN_A_NEW_PROCESS = """
import json
import numpy as np
import umap
from modeldiff_core.stages.cluster import umap_kernels, umap_project

def compiled():
    return {id(k): k for k in umap_kernels() if k.overloads}

at_import = compiled()  # a few tiny ones are compiled by the import itself, before any map
x = np.random.default_rng(0).standard_normal((60, 16)).astype(np.float32)
xy = umap_project(x, seed=1)
fit = [k for i, k in compiled().items() if i not in at_import]
print(json.dumps({"map": xy.tolist(), "used": sum(len(k.overloads) for k in fit),
                  "loaded": sum(sum(k.stats.cache_hits.values()) for k in fit)}))
"""


def test_a_second_process_loads_the_map_kernels_instead_of_compiling_them():
    """numba compiled UMAP's kernels anew in every process (10 s at each dashboard's or CLI
    run's first map); kept on disk — by this process's map, if no process before wrote them —
    a new process loads every kernel it runs, and draws this process's map."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    here = umap_project(np.random.default_rng(0).standard_normal((60, 16)).astype(np.float32),
                        seed=1)
    there = json.loads(subprocess.run([sys.executable, "-c", _MAP_IN_A_NEW_PROCESS], cwd=REPO,
                                      capture_output=True, text=True, check=True,
                                      timeout=300).stdout)
    assert there["used"] >= 3 and there["loaded"] == there["used"], there
    np.testing.assert_array_equal(here, there["map"])


def test_umap_project_other_dims_and_tiny_inputs():
    x, _ = blobs(n_per=3, k=2, seed=seeded(7))  # 6 points: n_neighbors is capped at n - 1
    out = umap_project(x, n_components=5, seed=0)
    assert out.shape == (6, 5) and np.all(np.isfinite(out))
    assert umap_project(x[:4], seed=0).shape == (4, 2)
    with pytest.raises(ModelDiffError, match="at least 4"):
        umap_project(x[:3])


# --- HDBSCAN ----------------------------------------------------------------------

def test_hdbscan_finds_blobs():
    x, y = blobs(n_per=100, k=3, seed=seeded(8))
    pred = HDBSCANClusterer(min_cluster_size=10, seed=0).fit_predict(x)
    assert pred.shape == y.shape
    found = set(pred) - {-1}
    assert len(found) == 3
    keep = pred != -1
    assert keep.mean() > 0.9
    assert adjusted_rand_score(y[keep], pred[keep]) > 0.95


# --- factory and params -------------------------------------------------------------

def test_make_clusterer():
    km = make_clusterer("kmeans", n_clusters=7, seed=3)
    assert isinstance(km, KMeansClusterer)
    assert km.params() == {"method": "kmeans", "n_clusters": 7, "seed": 3}
    hd = make_clusterer("hdbscan", min_cluster_size=25, seed=2)
    assert isinstance(hd, HDBSCANClusterer)
    assert hd.params() == {"method": "hdbscan", "min_cluster_size": 25, "seed": 2}
    assert isinstance(make_clusterer(), KMeansClusterer)


@pytest.mark.parametrize("method", ["dbscan", "KMeans", ""])
def test_make_clusterer_rejects_unknown(method):
    with pytest.raises(ModelDiffError, match="unknown clustering method"):
        make_clusterer(method)


# --- top terms --------------------------------------------------------------------

def test_top_terms_names_distinctive_word():
    shared = "the model wrote a reply about something today"
    texts, labels = [], []
    for c, word in [(0, "cats"), (1, "boats"), (2, "rainfall")]:
        for i in range(6):
            texts.append(f"{shared} {word} {word} filler{i}")
            labels.append(c)
    texts.append("noise text mentions nothing special zebra")
    labels.append(-1)
    terms = top_terms(texts, np.array(labels))
    assert set(terms) == {-1, 0, 1, 2}
    assert terms[0].split(", ")[0] == "cats"
    assert terms[1].split(", ")[0] == "boats"
    assert terms[2].split(", ")[0] == "rainfall"
    assert "zebra" in terms[-1].split(", ")
    # Stop words are never terms, and a word shared by every cluster is not the top term.
    for c in (0, 1, 2):
        words = terms[c].split(", ")
        assert "the" not in words and "about" not in words
        assert len(words) <= 6


def test_top_terms_n_terms_and_only_stop_words():
    texts = ["alpha beta gamma delta epsilon zeta eta theta"] * 2 + ["iota kappa"]
    terms = top_terms(texts, np.array([0, 0, 1]), n_terms=3)
    assert len(terms[0].split(", ")) == 3
    assert set(terms[1].split(", ")) == {"iota", "kappa"}
    assert top_terms(["the and of", "is it a"], np.array([0, 1])) == {0: "", 1: ""}
