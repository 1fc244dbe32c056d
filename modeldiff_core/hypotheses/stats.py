"""Statistics for comparing two text sources (A vs B): multiple testing, 2x2 effect sizes,
cluster enrichment, proportions and score separation, and the prompt-level tests.

The prompt is the unit of inference: N samples of one prompt are correlated, and a claim about
how B differs on new prompts must count prompts, not texts. `sign_flip_p` tests per-prompt
statistics; `cluster_bootstrap_ci` resamples whole prompts."""

import numpy as np
import pandas as pd
from scipy import stats

Z95 = 1.959963984540054


RESAMPLES = 9999  # the resampling tests' draws: no p-value of theirs is below 1 / 10000

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
                 "ci_low", "ci_high", "fisher_p", "n_prompts", "p_value", "q_value"]
NOISE = -1  # the clusterer's label for texts in no cluster: shown, never tested or mined


def per_prompt_rates(member, sides, prompt_ids) -> tuple[np.ndarray, np.ndarray]:
    """(rate of B's texts, rate of A's texts) that are `member`, one row per prompt that has
    texts from both sides; `member` may be 2-d (texts x features) for many features at once."""
    member = np.asarray(member, dtype=float)
    flat = member.ndim == 1
    member = member.reshape(len(member), -1)
    frame = pd.DataFrame(member).assign(_p=np.asarray(prompt_ids), _s=np.asarray(sides))
    means = frame.groupby(["_p", "_s"]).mean()
    both = means.unstack("_s").dropna()
    cols = range(member.shape[1])
    rate_b = np.column_stack([both[(c, "B")] for c in cols]) if len(both) else np.zeros((0, len(cols)))
    rate_a = np.column_stack([both[(c, "A")] for c in cols]) if len(both) else np.zeros((0, len(cols)))
    return (rate_b[:, 0], rate_a[:, 0]) if flat else (rate_b, rate_a)


def _unit_means(member: np.ndarray, codes: np.ndarray, n_units: int, mask: np.ndarray):
    """Per unit (prompt code), the mean of `member`'s rows in `mask`, and the row counts."""
    from scipy.sparse import csr_matrix

    rows = np.flatnonzero(mask)
    g = csr_matrix((np.ones(len(rows)), (codes[rows], np.arange(len(rows)))),
                   shape=(n_units, len(rows)))
    counts = np.bincount(codes[rows], minlength=n_units)
    sums = np.asarray(g @ member[rows])
    return sums / np.maximum(counts, 1)[:, None], counts


def rate_difference_test(member, sides, prompt_ids, min_pairs: int = 5):
    """Per feature (column of `member`, texts x features, 0/1 or rates): B's rate minus A's and
    a two-sided t-test with the prompt as the unit. With at least `min_pairs` prompts that have
    texts from both sides, a one-sample t-test of the per-prompt differences (what a prompt's
    topic does to both models cancels); otherwise Welch's test on per-prompt rates (a prompt
    without texts from both sides counts for its side). Returns (effect, t, p, n_units)."""
    member = np.asarray(member, dtype=float)
    member = member.reshape(len(member), -1)
    sides = np.asarray(sides, dtype=object)
    _, codes = np.unique(np.asarray(prompt_ids).astype(str), return_inverse=True)
    n_codes = int(codes.max()) + 1 if len(codes) else 0
    mean_b, count_b = _unit_means(member, codes, n_codes, sides == "B")
    mean_a, count_a = _unit_means(member, codes, n_codes, sides == "A")
    both = (count_a > 0) & (count_b > 0)
    if both.sum() >= min_pairs:
        d = mean_b[both] - mean_a[both]
        n = len(d)
        effect, se, df = d.mean(0), d.std(0, ddof=1) / np.sqrt(n), np.full(d.shape[1], n - 1.0)
    else:
        ub, ua = mean_b[count_b > 0], mean_a[count_a > 0]
        n = len(ub) + len(ua)
        if min(len(ub), len(ua)) < 2:  # no spread to test against
            nan = np.full(member.shape[1], np.nan)
            return nan, nan, nan, n
        vb, va = ub.var(0, ddof=1) / len(ub), ua.var(0, ddof=1) / len(ua)
        effect, se = ub.mean(0) - ua.mean(0), np.sqrt(vb + va)
        with np.errstate(divide="ignore", invalid="ignore"):  # Welch-Satterthwaite
            df = (vb + va) ** 2 / (vb ** 2 / (len(ub) - 1) + va ** 2 / (len(ua) - 1))
        df = np.where(np.isfinite(df), df, n - 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, effect / np.where(se > 0, se, 1), np.sign(effect) * np.inf)
    t = np.where((se == 0) & (effect == 0), 0.0, t)
    p = 2 * stats.t.sf(np.abs(t), df)
    return effect, t, p, n


def cluster_table(labels, sides, prompt_ids, n_resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Per-cluster A/B counts and B-enrichment. The p-value is prompt-level: per prompt, the
    share of B's texts in the cluster minus the share of A's, sign-flipped over prompts
    (two-sided); Fisher's exact p counts texts and is kept as a descriptive column. Noise (-1)
    gets counts but no test (p and q NaN, outside the BH family)."""
    labels = np.asarray(labels).ravel()
    sides = np.asarray(sides, dtype=object).ravel()
    prompt_ids = np.asarray(prompt_ids).ravel()
    if not len(labels) == len(sides) == len(prompt_ids):
        raise ValueError(f"labels, sides and prompt ids differ in length "
                         f"({len(labels)}, {len(sides)}, {len(prompt_ids)})")
    bad = set(sides.tolist()) - {"A", "B"}
    if bad:
        raise ValueError(f"sides must be 'A' or 'B', got {sorted(map(repr, bad))}")
    if len(labels) == 0:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    is_b = sides == "B"
    total_a, total_b = int((~is_b).sum()), int(is_b.sum())
    clusters = np.unique(labels)
    rate_b, rate_a = per_prompt_rates(labels[:, None] == clusters[None, :], sides, prompt_ids)
    rows = []
    for j, cid in enumerate(clusters):
        in_c = labels == cid
        b_in = int((in_c & is_b).sum())
        a_in = int(in_c.sum()) - b_in
        a_out, b_out = total_a - a_in, total_b - b_in
        lor, lo, hi = log_odds_ratio(a_in, b_in, a_out, b_out)
        tested = cid != NOISE
        p = sign_flip_p(rate_b[:, j] - rate_a[:, j], n_resamples, seed + j,
                        alternative="two-sided") if tested else float("nan")
        rows.append((cid, a_in, b_in, b_in / (a_in + b_in), lor, lo, hi,
                     fisher_exact_p(a_in, b_in, a_out, b_out), len(rate_b), p))
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
    """Monte-Carlo permutation p-value for mean(pos) - mean(neg); NaN for empty or NaN input."""
    pos = np.asarray(scores_pos, dtype=float).ravel()
    neg = np.asarray(scores_neg, dtype=float).ravel()
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"unknown alternative {alternative!r}")
    pooled = np.concatenate([pos, neg])
    if not np.all(np.isfinite(pooled)):
        return float("nan")
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
        hits += int(_count_extreme(diff, observed, tol, alternative))
    return (1 + hits) / (1 + n_permutations)


def _count_extreme(stat: np.ndarray, observed, tol, alternative: str):
    """Resampled statistics (rows; a column per test) at least as extreme as the observed."""
    if alternative == "greater":
        return np.sum(stat >= observed - tol, axis=0)
    if alternative == "less":
        return np.sum(stat <= observed + tol, axis=0)
    return np.sum(np.abs(stat) >= np.abs(observed) - tol, axis=0)


def sign_flip_p(values, n_resamples: int = RESAMPLES, seed: int = 0,
                alternative: str = "greater") -> float:
    """Sign-flip permutation p-value for "the mean of these per-prompt statistics is zero".

    Under the null each prompt's statistic (B minus A on that prompt) is symmetric about zero,
    because A's and B's labels are exchangeable within a prompt. Exact enumeration of all 2^n
    sign vectors when that is no more than n_resamples + 1; otherwise Monte Carlo with the
    (b + 1) / (m + 1) estimate, which is valid at any m. NaN for empty or non-finite input."""
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"unknown alternative {alternative!r}")
    d = np.asarray(values, dtype=float).ravel()
    if d.size == 0 or not np.all(np.isfinite(d)):
        return float("nan")
    n, observed = d.size, float(d.sum())
    tol = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if 2 ** n <= n_resamples + 1:
        signs = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1) * 2.0 - 1.0
        return int(_count_extreme(signs @ d, observed, tol, alternative)) / 2 ** n
    rng = np.random.default_rng(seed)
    hits, chunk = 0, max(1, 4_000_000 // n)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2.0 - 1.0
        hits += int(_count_extreme(signs @ d, observed, tol, alternative))
    return (1 + hits) / (1 + n_resamples)


def bootstrap_t_p(values, n_resamples: int = RESAMPLES, seed: int = 0) -> float:
    """One-sided (greater) bootstrap-t p-value for "the mean of these per-prompt statistics is
    zero": t = mean / SE against t* = (mean* - mean) / SE* over resamples of the prompts with
    replacement, (b + 1) / (m + 1). It assumes only a mean of zero, not symmetry, and corrects
    for skew to second order. With no spread at all it says nothing (p = 0: the caller's other
    test decides); a resample with no spread counts as t* = 0. NaN for empty or non-finite."""
    d = np.asarray(values, dtype=float).ravel()
    if d.size == 0 or not np.all(np.isfinite(d)):
        return float("nan")
    n, mean = d.size, float(d.mean())
    se = float(d.std(ddof=1)) / np.sqrt(n) if n > 1 else 0.0
    if se == 0:
        return 0.0
    t = mean / se
    rng = np.random.default_rng(seed)
    hits, chunk = 0, max(1, 4_000_000 // n)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        x = d[rng.integers(0, n, size=(size, n))]
        se_star = x.std(axis=1, ddof=1) / np.sqrt(n)
        ok = se_star > 0
        t_star = np.where(ok, (x.mean(axis=1) - mean) / np.where(ok, se_star, 1.0), 0.0)
        hits += int(np.sum(t_star >= t - 1e-12 * max(1.0, abs(t))))
    return (1 + hits) / (1 + n_resamples)


def prompt_level_p(values, n_resamples: int = RESAMPLES, seed: int = 0) -> float:
    """The held-out tests' one-sided p-value over per-prompt statistics: the larger of the
    sign flip's (exact when each prompt's statistic is symmetric about zero under the null)
    and the bootstrap-t's (needs only a mean of zero, so it holds when B's effect differs by
    prompt with mean zero but skewed, where the sign flip alone rejected 9% of true nulls in
    the calibration). The larger of two p-values is valid wherever either one is."""
    flip = sign_flip_p(values, n_resamples, seed)
    boot = bootstrap_t_p(values, n_resamples, seed)
    return float(max(flip, boot)) if np.isfinite(flip) and np.isfinite(boot) else float("nan")


def sign_flip_p_columns(diffs, n_resamples: int = RESAMPLES, seed: int = 0,
                        alternative: str = "two-sided", tail_bound: bool = False) -> np.ndarray:
    """sign_flip_p for every column of a (prompts x tests) matrix at once: the same test per
    column, with one draw of sign vectors shared by all columns (exact enumeration when 2^n is
    no more than n_resamples + 1). NaN for a column with a non-finite value. `tail_bound`:
    where Hoeffding's bound on the exact sign-flip p (exp(-s^2 / (2 sum d^2)) per tail, s the
    observed sum) is below the Monte Carlo floor 1 / (R + 1), the bound is the p-value: never
    below the exact one, so a lone strong test among many can pass BH however few the
    resamples."""
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"unknown alternative {alternative!r}")
    d = np.asarray(diffs, dtype=float)
    n, m = d.shape
    out = np.full(m, np.nan)
    ok = np.all(np.isfinite(d), axis=0) if n else np.zeros(m, bool)
    if not ok.any():
        return out
    d = d[:, ok]
    observed, tol = d.sum(0), 1e-9 * np.maximum(1.0, np.abs(d).sum(0))
    if 2 ** n <= n_resamples + 1:
        signs = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1) * 2.0 - 1.0
        out[ok] = _count_extreme(signs @ d, observed, tol, alternative) / 2 ** n
        return out
    rng = np.random.default_rng(seed)
    hits, chunk = np.zeros(d.shape[1]), max(1, 4_000_000 // (n + d.shape[1]))
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2.0 - 1.0
        hits += _count_extreme(signs @ d, observed, tol, alternative)
    out[ok] = (1 + hits) / (1 + n_resamples)
    if tail_bound:
        sq = np.maximum((d ** 2).sum(0), 1e-300)
        s = {"greater": np.maximum(observed, 0), "less": np.maximum(-observed, 0),
             "two-sided": np.abs(observed)}[alternative]
        bound = np.minimum(1.0, (2 if alternative == "two-sided" else 1) * np.exp(-s ** 2 / (2 * sq)))
        out[ok] = np.where(bound < 1 / (1 + n_resamples), bound, out[ok])
    return out


def auc_score(scores, labels) -> float:
    """P(score of a positive > score of a negative) + P(tie) / 2; NaN without both classes."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def balanced_accuracy(scores, labels, threshold: float = 0.5) -> float:
    """Mean of the true-positive and true-negative rates of "score > threshold means B"."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return float("nan")
    said_b = scores > threshold
    return float((said_b[labels].mean() + (~said_b[~labels]).mean()) / 2)


def cluster_bootstrap_ci(groups, statistic, n_boot: int = 1000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of `statistic(indices)` over resamples of whole groups (prompts)
    drawn with replacement: texts of one prompt stay together, as they are correlated."""
    groups = np.asarray(groups)
    unique, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(unique))]
    if len(members) < 2 or n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(members), len(members))
        v = statistic(np.concatenate([members[g] for g in pick]))
        if np.isfinite(v):
            values.append(v)
    if not values:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))
