"""Groups of words found without labels, for themes: words that occur together, words that sit
close in the embedder's space, and words that stand in the same places in the texts
(substitutes: lovely, sunny, warm, each after "was" and before a noun, rarely in one text).
A group knows nothing of who wrote what, so testing it keeps the proposal honest."""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Optional

import numpy as np

from ..hypotheses.predicates import tokens

def related_by_use(x: Optional[np.ndarray], min_lift: float = 3.0,
                    min_together: int = 3) -> Optional[np.ndarray]:
    """Words (columns of x, texts x words, 0/1) that share texts at least `min_lift` times as
    often as chance would, in `min_together` texts or more."""
    if x is None:
        return None
    related = np.zeros((x.shape[1], x.shape[1]), dtype=bool)
    # Only words in `min_together` texts or more can be related: the product is over those
    # alone (thousands of words in long answers), in float32 counts, exact far below 2**24
    # texts; the lift compared in integers, exactly.
    keep = np.flatnonzero(x.sum(0) >= min_together)
    sub = x[:, keep].astype(np.float32)
    together = (sub.T @ sub).astype(np.int64)
    seen = np.diag(together)
    ok = (together * len(x) >= min_lift * np.outer(seen, seen)) & (together >= min_together)
    related[np.ix_(keep, keep)] = ok
    return related


def close_groups(vectors: np.ndarray, cuts: tuple, max_size: int = 10) -> list[list[int]]:
    """Groups of words that sit close in the embedder's space: average-linkage clustering on
    cosine distance, cut at several heights (a theme can be narrow or broad)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors, method="average", metric="cosine")
    groups = []
    for cut in cuts:
        labels = fcluster(tree, t=cut, criterion="distance")
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label).tolist()
            if 1 < len(members) <= max_size:
                groups.append(members)
    return groups


def used_together(x: Optional[np.ndarray], related: Optional[np.ndarray],
                 max_size: int = 10) -> list[list[int]]:
    """Groups of words (columns of x) in which each word is related to at least half of the
    others, the most frequent words seeding them. Both models' texts are pooled, so a group
    knows nothing of who wrote what and testing it keeps the proposal honest."""
    if x is None or related is None or x.shape[1] < 2:
        return []
    seen = x.sum(0)
    related = related.copy()
    np.fill_diagonal(related, False)
    order = np.argsort(-seen, kind="stable")
    rel = related[np.ix_(order, order)]  # rows and columns in seeding order
    taken, groups = np.zeros(len(order), dtype=bool), []
    for i in range(len(order)):
        if taken[i] or not rel[i].any():
            continue
        group = grow(rel, taken, i, max_size)
        if len(group) > 1:
            taken[group] = True
            groups.append(order[group].tolist())
    return groups


def grow(rel: np.ndarray, taken: np.ndarray, seed: int, max_size: int) -> list[int]:
    """One pass down the seeding order from the top: a word joins when it is related to at
    least half of the group so far. Between two joins the group is fixed, so the next to join
    is the first word further down that passes then: found at once over the rest of the
    order, not word by word (thousands of words in long answers)."""
    group = [seed]
    free = ~taken
    free[seed] = False
    hits = rel[:, seed].astype(np.int64)
    pos = 0
    while len(group) < max_size:
        ok = free[pos:] & (2 * hits[pos:] >= len(group))
        if not ok.any():
            break
        j = pos + int(np.argmax(ok))
        group.append(j)
        free[j] = False
        hits += rel[:, j]
        pos = j + 1
    return group


def contexts(texts: list[str], words: list[str], n_contexts: int = 500) -> np.ndarray:
    """Each word's contexts (rows, unit length): the tokens just before and just after it,
    among the `n_contexts` most frequent tokens (stop words and punctuation too: "was _ ."),
    weighted by positive pointwise mutual information against how often each context follows
    or precedes any token of the texts (so that "the" everywhere says little, whichever words
    are asked about)."""
    seqs = [tokens(t) for t in texts]
    common = [w for w, _ in Counter(w for s in seqs for w in s).most_common(n_contexts)]
    col = {w: i for i, w in enumerate(common)}
    row = {w: i for i, w in enumerate(words)}
    counts = np.zeros((len(words), 2 * len(common)))
    seen = np.zeros(len(words))  # each word's neighbour slots
    context_total = np.zeros(2 * len(common))  # each context's slots, over every token
    for s in seqs:
        for i, w in enumerate(s):
            left = col.get(s[i - 1]) if i > 0 else None
            right = col.get(s[i + 1]) if i + 1 < len(s) else None
            if left is not None:
                context_total[left] += 1
            if right is not None:
                context_total[len(common) + right] += 1
            r = row.get(w)
            if r is None:
                continue
            seen[r] += 2
            if left is not None:
                counts[r, left] += 1
            if right is not None:
                counts[r, len(common) + right] += 1
    total = context_total.sum()
    if total == 0:
        return counts
    expected = np.outer(seen, context_total) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        ppmi = np.where(counts > 0, np.maximum(np.log(counts / expected), 0), 0.0)
    norm = np.linalg.norm(ppmi, axis=1, keepdims=True)
    return np.divide(ppmi, norm, out=np.zeros_like(ppmi), where=norm > 0)


def substitutes(texts: list[str], words: list[str], min_similarity: float) -> dict[str, set]:
    """word -> the others among `words` that stand in the same places in the texts (cosine of
    their contexts at least `min_similarity`)."""
    vectors = contexts(texts, words)
    similar = vectors @ vectors.T >= min_similarity
    out: dict[str, set] = defaultdict(set)
    for i, j in zip(*np.nonzero(similar)):
        if i != j:
            out[words[i]].add(words[j])
    return out


def alike_groups(texts: list[str], words: list[str], cuts: tuple,
                 max_size: int = 10) -> list[list[int]]:
    """Groups of words (indices into `words`) that stand in the same places in the texts:
    average-linkage clustering of their contexts on cosine distance, cut at several heights."""
    if len(words) < 3:
        return []
    vectors = contexts(texts, words)
    placed = np.flatnonzero(np.linalg.norm(vectors, axis=1) > 0)
    if len(placed) < 3:
        return []
    return [[int(placed[i]) for i in g] for g in close_groups(vectors[placed], cuts, max_size)]
