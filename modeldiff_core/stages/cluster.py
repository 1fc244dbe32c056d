"""Cluster both models' texts together and map them to 2-d.

Clusterers are swappable components behind `Clusterer`. UMAP always runs euclidean on
L2-normalised vectors (equivalent to cosine, and it avoids a second numba compile).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from ..config import ModelDiffError
from ..embedders import suggestion
from ..hypotheses import stats
from ..progress import ProgressCallback, StageProgress
from .embed import Embedder, embed_texts


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


_kernels_kept = False


def umap_kernels() -> list:
    """numba's compiled functions (dispatchers) in the UMAP and pynndescent modules imported
    so far; none where numba has moved its internals."""
    import sys

    try:
        from numba.core.dispatcher import Dispatcher
    except ImportError:
        return []
    return [obj for name, module in list(sys.modules.items())
            if module is not None and name.split(".")[0] in ("umap", "pynndescent")
            for obj in list(vars(module).values()) if isinstance(obj, Dispatcher)]


def keep_umap_kernels() -> None:
    """Have numba keep UMAP's (and pynndescent's) compiled kernels on disk, so that only the
    first process on a machine compiles them: most are declared without numba's cache, and
    compiling them took 10 s (30 s cold) at the first map of every dashboard, CLI run and test
    process. The cached machine code is the code numba compiles, so maps are unchanged. Where
    no cache folder is writable, or numba has moved its internals, they compile as before."""
    global _kernels_kept
    if _kernels_kept:
        return
    import umap  # noqa: F401  (imports the modules whose kernels are kept)

    _kernels_kept = True
    try:
        from numba.core.caching import NullCache
    except ImportError:
        return
    for kernel in umap_kernels():
        if isinstance(getattr(kernel, "_cache", None), NullCache):
            try:
                kernel.enable_caching()
            except RuntimeError:  # numba: no writable place for this module's cache
                continue


def umap_project(x: np.ndarray, n_components: int = 2, seed: int = 0, n_neighbors: int = 15,
                 min_dist: float = 0.1) -> np.ndarray:
    import warnings

    from umap import UMAP

    keep_umap_kernels()

    n = len(x)
    if n < 4:
        raise ModelDiffError(f"need at least 4 texts to build a map, got {n}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        reducer = UMAP(n_components=n_components, metric="euclidean", random_state=seed,
                       n_neighbors=min(n_neighbors, n - 1), min_dist=min_dist,
                       init="spectral" if n > n_components + 1 else "random")
        return reducer.fit_transform(_normalise(x)).astype(np.float64)


class Clusterer(ABC):
    """Assigns a cluster id to every vector (-1 = noise, where the method has it)."""

    @abstractmethod
    def fit_predict(self, x: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def params(self) -> dict: ...


@dataclass
class KMeansClusterer(Clusterer):
    n_clusters: Optional[int] = None  # None: about sqrt(n / 4), between 2 and 40
    seed: int = 0

    def k_for(self, n: int) -> int:
        k = self.n_clusters or int(round(math.sqrt(n / 4)))
        return max(2, min(k, 40, n))

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=self.k_for(len(x)), random_state=self.seed,
                      n_init=4).fit_predict(_normalise(x))

    def params(self) -> dict:
        return {"method": "kmeans", "n_clusters": self.n_clusters, "seed": self.seed}


@dataclass
class HDBSCANClusterer(Clusterer):
    """HDBSCAN on a 5-d UMAP: on raw 384-d vectors it is far too slow and density is meaningless."""
    min_cluster_size: int = 10
    seed: int = 0

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        from sklearn.cluster import HDBSCAN

        low = umap_project(x, n_components=5, seed=self.seed, min_dist=0.0)
        return HDBSCAN(min_cluster_size=self.min_cluster_size).fit_predict(low)

    def params(self) -> dict:
        return {"method": "hdbscan", "min_cluster_size": self.min_cluster_size, "seed": self.seed}


def make_clusterer(method: str = "kmeans", n_clusters: Optional[int] = None,
                   min_cluster_size: int = 10, seed: int = 0) -> Clusterer:
    if method == "kmeans":
        return KMeansClusterer(n_clusters=n_clusters, seed=seed)
    if method == "hdbscan":
        return HDBSCANClusterer(min_cluster_size=min_cluster_size, seed=seed)
    raise ModelDiffError(f"unknown clustering method {method!r}; choose kmeans or hdbscan")


def top_terms(texts: list[str], labels: np.ndarray, n_terms: int = 6) -> dict[int, str]:
    """Words that mark each cluster against the rest (class-based TF-IDF, as in BERTopic)."""
    from sklearn.feature_extraction.text import CountVectorizer

    clusters = sorted(set(int(c) for c in labels))
    docs = [" ".join(t for t, lab in zip(texts, labels) if lab == c) for c in clusters]
    try:
        vec = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
        counts = vec.fit_transform(docs).toarray().astype(float)
    except ValueError:  # nothing but stop words
        return {c: "" for c in clusters}
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    idf = np.log(1 + counts.sum(axis=1).mean() / np.maximum(counts.sum(axis=0), 1))
    score = tf * idf
    words = np.array(vec.get_feature_names_out())
    out = {}
    for i, c in enumerate(clusters):
        order = np.argsort(-score[i])[:n_terms]
        out[c] = ", ".join(words[j] for j in order if score[i, j] > 0)
    return out


DISCOVERY_COLUMNS = {"size_a": "disc_size_a", "size_b": "disc_size_b",
                     "log_odds": "disc_log_odds", "p_value": "disc_p_value",
                     "q_value": "disc_q_value"}


def cluster_tables(labels, sides, prompt_ids, splits, seed: int = 0) -> pd.DataFrame:
    """The cluster table over all texts (for the map; descriptive), joined with the same table
    over discovery texts only (`disc_*` columns): the one proposal reads, so that validation
    texts never steer which clusters are mined."""
    labels, splits = np.asarray(labels), np.asarray(splits)
    table = stats.cluster_table(labels, sides, prompt_ids, seed=seed)
    disc = splits == "discovery"
    part = stats.cluster_table(labels[disc], np.asarray(sides)[disc],
                               np.asarray(prompt_ids)[disc], seed=seed)
    part = part[["cluster_id", *DISCOVERY_COLUMNS]].rename(columns=DISCOVERY_COLUMNS)
    table = table.merge(part, on="cluster_id", how="left")
    for col in ("disc_size_a", "disc_size_b"):
        table[col] = table[col].fillna(0).astype(int)
    return table


def cluster_run(store, run_id: str, clustering, seed: int, embedder: Embedder,
                progress: Optional[ProgressCallback] = None) -> pd.DataFrame:
    """Embed all texts of both sides, cluster them together (`clustering`: a
    settings.ClusterSettings), map them; store and return clusters.
    A clustering stored for these texts with these settings and this embedder is returned as
    it is: a finished run started again costs no embedding and no UMAP fit."""
    gens = store.generations(run_id)
    if gens.empty:
        raise ModelDiffError(f"run {run_id} has no generations yet")
    # The fingerprint, not only the choice: vectors of another runtime or weights map anew.
    settings = {**clustering.stored(seed), "fingerprint": embedder.name}
    stored = _stored_clustering(store, run_id, settings, gens)
    if stored is not None:
        return stored
    x = embed_texts(store, embedder, gens["text"].tolist(), progress=progress,
                    hint=suggestion(embedder, len(gens)) or "")
    bar = StageProgress(progress, "cluster and map", 3, unit="steps")
    labels = make_clusterer(clustering.method, clustering.n_clusters,
                            clustering.min_cluster_size, seed).fit_predict(x)
    bar.advance(1, "clustered; fitting the map")
    xy = umap_project(x, seed=seed)
    bar.advance(1, "mapped; testing clusters")
    table = cluster_tables(labels, gens["side"].to_numpy(), gens["prompt_id"].to_numpy(),
                           gens["split"].to_numpy(), seed)
    terms = top_terms(gens["text"].tolist(), labels)
    bar.advance(1)
    table["top_terms"] = table["cluster_id"].map(terms).fillna("")
    points = gens[["side", "prompt_id", "sample_idx"]].assign(
        cluster_id=labels.astype(int), x=xy[:, 0], y=xy[:, 1])
    store.replace_clustering(run_id, points, table, settings)
    return table


def _stored_clustering(store, run_id: str, settings: dict,
                       gens: pd.DataFrame) -> Optional[pd.DataFrame]:
    run = store.get_run(run_id)
    if run is None or run["cluster_settings"] != settings:
        return None
    table, points = store.clusters(run_id), store.points(run_id)
    key = ["side", "prompt_id", "sample_idx"]
    if table.empty or len(points) != len(gens) or not points[key].reset_index(drop=True).equals(
            gens[key].reset_index(drop=True)):
        return None  # texts were added since (a resumed run): map them all again
    return table
