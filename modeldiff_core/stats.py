"""Statistics for comparing two text sources (A vs B): multiple testing,
2x2 effect sizes, cluster enrichment, proportions and score separation."""

import numpy as np
import pandas as pd
from scipy import stats

Z95 = 1.959963984540054


def benjamini_hochberg(p_values) -> np.ndarray:
    """BH step-up q-values; NaNs pass through and do not count towards m."""
    p = np.asarray(p_values, dtype=float).ravel()
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(p[ok])
    scaled = p[ok][order] * m / np.arange(1, m + 1)
    # Step-up: each q is the smallest scaled value at its rank or above.
    scaled = np.minimum.accumulate(scaled[::-1])[::-1]
    q_ok = np.empty(m)
    q_ok[order] = np.minimum(scaled, 1.0)
    q[ok] = q_ok
    return q


def _check_cells(*cells):
    if any(c < 0 for c in cells):
        raise ValueError("2x2 counts must be non-negative")


def log_odds_ratio(a_in, b_in, a_out, b_out, z=Z95):
    """Log odds of being from B inside the group vs outside, with Woolf CI."""
    _check_cells(a_in, b_in, a_out, b_out)
    cells = np.array([a_in, b_in, a_out, b_out], dtype=float)
    if np.any(cells == 0):
        cells += 0.5  # Haldane–Anscombe: keeps the estimate and SE finite
    a_in, b_in, a_out, b_out = cells
    log_or = float(np.log(b_in * a_out / (a_in * b_out)))
    se = float(np.sqrt(np.sum(1.0 / cells)))
    return log_or, log_or - z * se, log_or + z * se


def fisher_exact_p(a_in, b_in, a_out, b_out) -> float:
    """Two-sided Fisher exact p-value for the 2x2 table."""
    _check_cells(a_in, b_in, a_out, b_out)
    return float(stats.fisher_exact([[b_in, a_in], [b_out, a_out]]).pvalue)


TABLE_COLUMNS = ["cluster_id", "size_a", "size_b", "share_b", "log_odds",
                 "ci_low", "ci_high", "p_value", "q_value"]


def cluster_table(labels, sides) -> pd.DataFrame:
    """Per-cluster A/B counts, B-enrichment (log OR, Fisher p, BH q)."""
    labels = np.asarray(labels).ravel()
    sides = np.asarray(sides, dtype=object).ravel()
    if len(labels) != len(sides):
        raise ValueError(f"labels and sides differ in length ({len(labels)} vs {len(sides)})")
    bad = set(sides.tolist()) - {"A", "B"}
    if bad:
        raise ValueError(f"sides must be 'A' or 'B', got {sorted(map(repr, bad))}")
    if len(labels) == 0:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    is_b = sides == "B"
    total_a, total_b = int((~is_b).sum()), int(is_b.sum())
    rows = []
    for cid in np.unique(labels):
        in_c = labels == cid
        b_in = int((in_c & is_b).sum())
        a_in = int(in_c.sum()) - b_in
        a_out, b_out = total_a - a_in, total_b - b_in
        lor, lo, hi = log_odds_ratio(a_in, b_in, a_out, b_out)
        rows.append((cid, a_in, b_in, b_in / (a_in + b_in), lor, lo, hi,
                     fisher_exact_p(a_in, b_in, a_out, b_out)))
    df = pd.DataFrame(rows, columns=TABLE_COLUMNS[:-1])
    df["q_value"] = benjamini_hochberg(df["p_value"].to_numpy())
    return df


def wilson_interval(successes, n, z=Z95):
    """Wilson score interval for a binomial proportion; (nan, nan) if n == 0."""
    if n == 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= n:
        raise ValueError("need 0 <= successes <= n")
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def binomial_test_p(successes, n, p0=0.5, alternative="greater") -> float:
    """Exact binomial test p-value; nan if n == 0."""
    if n == 0:
        return float("nan")
    return float(stats.binomtest(int(successes), int(n), p0, alternative=alternative).pvalue)


def auc_mann_whitney(scores_pos, scores_neg, alternative="greater"):
    """AUC = P(pos > neg) + P(tie)/2, with the Mann–Whitney U p-value."""
    pos = np.asarray(scores_pos, dtype=float).ravel()
    neg = np.asarray(scores_neg, dtype=float).ravel()
    if pos.size == 0 or neg.size == 0:
        return float("nan"), float("nan")
    res = stats.mannwhitneyu(pos, neg, alternative=alternative)
    return float(res.statistic / (pos.size * neg.size)), float(res.pvalue)


def permutation_p(scores_pos, scores_neg, n_permutations=10000, seed=0,
                  alternative="greater") -> float:
    """Monte-Carlo permutation p-value for mean(pos) - mean(neg)."""
    pos = np.asarray(scores_pos, dtype=float).ravel()
    neg = np.asarray(scores_neg, dtype=float).ravel()
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"unknown alternative {alternative!r}")
    pooled = np.concatenate([pos, neg])
    k, total = pos.size, pooled.sum()
    rng = np.random.default_rng(seed)
    observed = pos.mean() - neg.mean()
    # Relative slack so permutations equal to the observed value up to
    # float rounding count as ties (>=), as they would in exact arithmetic.
    tol = 1e-12 * max(1.0, np.abs(pooled).max())
    hits, chunk = 0, max(1, 2_000_000 // pooled.size)  # bound memory per batch
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        perm = rng.permuted(np.broadcast_to(pooled, (size, pooled.size)), axis=1)
        s = perm[:, :k].sum(axis=1)
        diff = s / k - (total - s) / neg.size
        if alternative == "greater":
            hits += int(np.sum(diff >= observed - tol))
        elif alternative == "less":
            hits += int(np.sum(diff <= observed + tol))
        else:
            hits += int(np.sum(np.abs(diff) >= abs(observed) - tol))
    return (1 + hits) / (1 + n_permutations)
