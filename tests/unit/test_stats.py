"""Each stats function is checked against an independent computation."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from modeldiff_core.hypotheses import stats
from seeds import seeded

Z = 1.959963984540054


# --- Benjamini–Hochberg -----------------------------------------------------

def test_bh_hand_worked():
    # sorted 0.005,0.01,0.03,0.04 -> p*4/rank = 0.02,0.02,0.04,0.04 (already monotone)
    q = stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(q, [0.02, 0.04, 0.04, 0.02])


def test_bh_step_up_takes_min_from_above():
    # p*3/rank = 0.03, 0.0165, 0.5 -> first q pulled down to 0.0165
    q = stats.benjamini_hochberg([0.01, 0.011, 0.5])
    np.testing.assert_allclose(q, [0.0165, 0.0165, 0.5])


def test_bh_matches_scipy():
    p = np.random.default_rng(seeded(1)).uniform(size=200) ** 2
    np.testing.assert_allclose(stats.benjamini_hochberg(p), sps.false_discovery_control(p))
    assert np.all(stats.benjamini_hochberg(p) <= 1)


def test_bh_nan_passthrough_and_excluded_from_m():
    q = stats.benjamini_hochberg([0.01, np.nan, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(q, [0.02, np.nan, 0.04, 0.04, 0.02])
    assert np.isnan(stats.benjamini_hochberg([np.nan, np.nan])).all()
    assert stats.benjamini_hochberg([]).shape == (0,)


def test_bh_rejects_out_of_range():
    with pytest.raises(ValueError):
        stats.benjamini_hochberg([0.2, 1.5])


# --- 2x2 tables ---------------------------------------------------------------

def test_log_odds_ratio_hand_worked():
    # OR = 20*30/(10*15) = 4; se = sqrt(1/10+1/20+1/30+1/15) = sqrt(0.25) = 0.5
    lor, lo, hi = stats.log_odds_ratio(a_in=10, b_in=20, a_out=30, b_out=15)
    assert lor == pytest.approx(math.log(4))
    assert lo == pytest.approx(math.log(4) - Z * 0.5)
    assert hi == pytest.approx(math.log(4) + Z * 0.5)


def test_log_odds_ratio_zero_cell_uses_haldane():
    # +0.5 everywhere: OR = 5.5*10.5/(0.5*5.5) = 21
    lor, lo, hi = stats.log_odds_ratio(0, 5, 10, 5)
    se = math.sqrt(1 / 0.5 + 1 / 5.5 + 1 / 10.5 + 1 / 5.5)
    assert lor == pytest.approx(math.log(21))
    assert (lo, hi) == pytest.approx((math.log(21) - Z * se, math.log(21) + Z * se))
    assert all(np.isfinite(stats.log_odds_ratio(0, 0, 3, 4)))


def test_log_odds_ratio_sign_and_negative_counts():
    assert stats.log_odds_ratio(20, 10, 15, 30)[0] == pytest.approx(-math.log(4))
    with pytest.raises(ValueError):
        stats.log_odds_ratio(-1, 2, 3, 4)


def fisher_by_hand(a_in, b_in, a_out, b_out):
    """Two-sided Fisher p by enumerating the hypergeometric distribution."""
    row, col = b_in + a_in, b_in + b_out
    n = row + a_out + b_out
    def prob(x):
        return math.comb(col, x) * math.comb(n - col, row - x) / math.comb(n, row)
    p_obs = prob(b_in)
    support = range(max(0, row + col - n), min(row, col) + 1)
    return sum(prob(x) for x in support if prob(x) <= p_obs * (1 + 1e-7))


@pytest.mark.parametrize("cells", [(1, 3, 3, 1), (10, 20, 30, 15), (0, 5, 10, 5),
                                   (7, 0, 0, 9), (2, 2, 2, 2), (3, 12, 40, 5)])
def test_fisher_matches_enumeration(cells):
    assert stats.fisher_exact_p(*cells) == pytest.approx(fisher_by_hand(*cells), rel=1e-9)


def test_fisher_tea_tasting_textbook():
    assert stats.fisher_exact_p(1, 3, 3, 1) == pytest.approx(34 / 70, abs=1e-12)


# --- cluster table -------------------------------------------------------------

def test_cluster_table_counts_and_stats():
    labels = [2, 0, 0, 1, 2, 0, 1, 2, 2, 0]
    sides = ["B", "A", "A", "B", "B", "A", "A", "B", "A", "B"]
    prompts = list(range(10))  # texts of distinct prompts: no prompt has both sides
    df = stats.cluster_table(labels, sides, prompts)
    assert list(df.columns) == ["cluster_id", "size_a", "size_b", "share_b", "log_odds",
                                "ci_low", "ci_high", "fisher_p", "n_prompts", "p_value",
                                "q_value"]
    assert df["cluster_id"].tolist() == [0, 1, 2]
    # by hand: cluster 0 = AAAB, cluster 1 = BA, cluster 2 = BBBA; totals A=5, B=5
    assert df["size_a"].tolist() == [3, 1, 1]
    assert df["size_b"].tolist() == [1, 1, 3]
    np.testing.assert_allclose(df["share_b"], [0.25, 0.5, 0.75])
    # cluster 0: in (a=3,b=1), out (a=2,b=4): OR = 1*2/(3*4), no zero cell
    assert df["log_odds"][0] == pytest.approx(math.log(2 / 12))
    se0 = math.sqrt(1 / 3 + 1 / 1 + 1 / 2 + 1 / 4)
    assert df["ci_low"][0] == pytest.approx(math.log(2 / 12) - Z * se0)
    expected_fisher = [fisher_by_hand(3, 1, 2, 4), fisher_by_hand(1, 1, 4, 4),
                       fisher_by_hand(1, 3, 4, 2)]
    np.testing.assert_allclose(df["fisher_p"], expected_fisher)
    # No prompt holds both sides: nothing to test at the prompt level.
    assert (df["n_prompts"] == 0).all() and df["p_value"].isna().all()


def sign_flip_by_hand(d, alternative="greater"):
    obs = sum(d)
    stats_ = [sum(s * x for s, x in zip(signs, d))
              for signs in itertools.product([-1, 1], repeat=len(d))]
    hit = {"greater": lambda v: v >= obs - 1e-9, "less": lambda v: v <= obs + 1e-9,
           "two-sided": lambda v: abs(v) >= abs(obs) - 1e-9}[alternative]
    return sum(map(hit, stats_)) / len(stats_)


def test_cluster_table_prompt_level_p_by_hand():
    # 6 prompts, 2 texts per side each; cluster 1 holds B's texts on prompts 0-3 only.
    labels, sides, prompts = [], [], []
    for p in range(6):
        for side in "AB":
            for k in range(2):
                in_1 = side == "B" and p < 4 and (k == 0 or p < 2)
                labels.append(1 if in_1 else 0)
                sides.append(side)
                prompts.append(p)
    df = stats.cluster_table(labels, sides, prompts)
    d1 = [1.0, 1.0, 0.5, 0.5, 0.0, 0.0]  # share of B's texts in cluster 1 minus A's, per prompt
    assert df.loc[df.cluster_id == 1, "p_value"].item() == pytest.approx(
        sign_flip_by_hand(d1, "two-sided"))
    assert df.loc[df.cluster_id == 0, "p_value"].item() == pytest.approx(
        sign_flip_by_hand([-x for x in d1], "two-sided"))
    assert (df["n_prompts"] == 6).all()


def test_cluster_table_noise_is_counted_not_tested():
    labels = [-1, -1, 0, 0, 1, 1, -1, 0, 1, 1]
    sides = ["B", "B", "A", "B", "A", "B", "B", "A", "B", "A"]
    prompts = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    df = stats.cluster_table(labels, sides, prompts)
    noise = df[df.cluster_id == -1].iloc[0]
    assert noise.size_b == 3 and math.isnan(noise.p_value) and math.isnan(noise.q_value)
    # BH counts only the tested clusters.
    tested = df[df.cluster_id != -1]
    np.testing.assert_allclose(tested["q_value"],
                               sps.false_discovery_control(tested["p_value"]))


def test_cluster_table_single_side_cluster_is_finite():
    df = stats.cluster_table([0, 0, 1, 1], ["B", "B", "A", "A"], [0, 1, 0, 1])
    assert df["share_b"].tolist() == [1.0, 0.0]
    assert np.isfinite(df[["log_odds", "ci_low", "ci_high"]].to_numpy()).all()
    assert df["log_odds"][0] == pytest.approx(math.log(2.5 * 2.5 / (0.5 * 0.5)))


@pytest.mark.parametrize("labels, sides", [([0, 1], ["A"]), ([0, 1], ["A", "C"]),
                                           ([0, 1], ["A", "b"]), ([0], [None])])
def test_cluster_table_bad_inputs(labels, sides):
    with pytest.raises(ValueError):
        stats.cluster_table(labels, sides, list(range(len(sides))))


def test_cluster_table_empty():
    df = stats.cluster_table([], [], [])
    assert len(df) == 0 and "q_value" in df.columns


# --- prompt-level tests --------------------------------------------------------

@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_sign_flip_exact_matches_enumeration(alternative):
    d = [0.4, -0.1, 0.7, 0.2, 0.0, 1.1, -0.3]
    assert stats.sign_flip_p(d, alternative=alternative) == pytest.approx(
        sign_flip_by_hand(d, alternative))


def test_sign_flip_monte_carlo_close_to_exact_and_never_zero():
    rng = np.random.default_rng(seeded(3))
    d = rng.normal(0.3, 1.0, size=16)  # 65536 sign vectors: beyond exact at 9999 resamples
    exact = sign_flip_by_hand(list(d))
    p = stats.sign_flip_p(d, n_resamples=20000, seed=1)
    assert p == pytest.approx(exact, abs=0.01)
    p_min = stats.sign_flip_p(np.full(20, 5.0), n_resamples=999)
    assert p_min == pytest.approx(1 / 1000)  # (b + 1) / (m + 1): only the observed one


def test_sign_flip_close_to_t_test_for_normal_data():
    d = np.random.default_rng(seeded(5)).normal(0.4, 1.0, size=40)
    t = sps.ttest_1samp(d, 0.0, alternative="greater").pvalue
    assert stats.sign_flip_p(d, n_resamples=50000) == pytest.approx(t, rel=0.25)


def test_sign_flip_edge_cases():
    assert math.isnan(stats.sign_flip_p([]))
    assert math.isnan(stats.sign_flip_p([0.1, float("nan")]))
    assert stats.sign_flip_p([0.0, 0.0, 0.0]) == 1.0
    with pytest.raises(ValueError):
        stats.sign_flip_p([1.0], alternative="bigger")


def test_sign_flip_uniform_under_symmetric_null():
    rng = np.random.default_rng(seeded(11))
    p = np.array([stats.sign_flip_p(rng.standard_t(3, size=25), n_resamples=999, seed=i)
                  for i in range(400)])
    assert abs((p <= 0.05).mean() - 0.05) < 0.035
    assert abs((p <= 0.5).mean() - 0.5) < 0.08


def test_auc_and_balanced_accuracy_against_sklearn():
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    rng = np.random.default_rng(seeded(2))
    y = rng.random(80) < 0.3  # unbalanced: 0.5 is not the chance level of plain accuracy
    s = np.clip(rng.normal(0.5 + 0.2 * y, 0.2), 0, 1).round(1)
    assert stats.auc_score(s, y) == pytest.approx(roc_auc_score(y, s))
    assert stats.balanced_accuracy(s, y) == pytest.approx(balanced_accuracy_score(y, s > 0.5))
    assert math.isnan(stats.auc_score([0.1, 0.2], [True, True]))


def test_cluster_bootstrap_keeps_prompts_together():
    # Two prompts, each with identical texts: any resample of prompts gives mean 0, 1 or 0.5.
    groups = [0, 0, 0, 1, 1, 1]
    values = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    lo, hi = stats.cluster_bootstrap_ci(groups, lambda i: values[i].mean(), n_boot=500)
    assert (lo, hi) == (0.0, 1.0)
    assert all(math.isnan(v) for v in stats.cluster_bootstrap_ci([0, 0], lambda i: 1.0))


# --- proportions ---------------------------------------------------------------

@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (81, 263), (1, 1)])
def test_wilson_closed_form(k, n):
    # alternative algebraic form: (2np + z^2 +- z*sqrt(z^2 + 4np(1-p))) / (2(n + z^2))
    p = k / n
    root = Z * math.sqrt(Z**2 + 4 * n * p * (1 - p))
    expected = ((2 * n * p + Z**2 - root) / (2 * (n + Z**2)),
                (2 * n * p + Z**2 + root) / (2 * (n + Z**2)))
    assert stats.wilson_interval(k, n) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k, n, low, high", [(81, 263, 0.2553, 0.3662),
                                             (15, 148, 0.0624, 0.1605),
                                             (0, 20, 0.0, 0.1611),
                                             (1, 29, 0.0061, 0.1718)])
def test_wilson_textbook_values(k, n, low, high):
    # Newcombe (1998), Stat. Med. 17:857, Table II, method 3
    assert stats.wilson_interval(k, n) == pytest.approx((low, high), abs=5e-5)


def test_wilson_edge_cases():
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))
    with pytest.raises(ValueError):
        stats.wilson_interval(5, 3)


def test_binomial_test_hand_worked():
    # P(X >= 8 | n=10, p=.5) = (C(10,8)+C(10,9)+C(10,10))/2^10 = 56/1024
    assert stats.binomial_test_p(8, 10) == pytest.approx(56 / 1024)
    tail = sum(math.comb(12, i) * 0.3**i * 0.7 ** (12 - i) for i in range(0, 3))
    assert stats.binomial_test_p(2, 12, p0=0.3, alternative="less") == pytest.approx(tail)
    assert stats.binomial_test_p(5, 10, alternative="two-sided") == pytest.approx(1.0)
    assert math.isnan(stats.binomial_test_p(0, 0))


# --- score separation ----------------------------------------------------------

def auc_brute_force(pos, neg):
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auc_matches_pairwise_count_with_ties():
    pos, neg = [0.9, 0.7, 0.7, 0.3, 0.5], [0.7, 0.2, 0.5, 0.1]
    assert stats.auc_mann_whitney(pos, neg)[0] == pytest.approx(auc_brute_force(pos, neg))
    rng = np.random.default_rng(seeded(3))
    pos, neg = rng.integers(0, 5, 40), rng.integers(0, 4, 30)
    assert stats.auc_mann_whitney(pos, neg)[0] == pytest.approx(auc_brute_force(pos, neg))


def test_auc_p_value_matches_exact_enumeration():
    # no ties, small n: p = share of all rank splits with U >= observed U
    pos, neg = [3.1, 2.5, 4.0], [1.0, 2.0, 2.7, 0.5]
    pooled = pos + neg
    u_obs = auc_brute_force(pos, neg) * 12
    splits = list(itertools.combinations(range(7), 3))
    us = [auc_brute_force([pooled[i] for i in s],
                          [pooled[i] for i in range(7) if i not in s]) * 12 for s in splits]
    exact = sum(u >= u_obs for u in us) / len(splits)
    auc, p = stats.auc_mann_whitney(pos, neg)
    assert auc == pytest.approx(11 / 12)
    assert p == pytest.approx(exact)


def test_auc_perfect_and_empty():
    assert stats.auc_mann_whitney([5, 6], [1, 2])[0] == 1.0
    assert stats.auc_mann_whitney([1, 2], [5, 6])[0] == 0.0
    assert all(math.isnan(v) for v in stats.auc_mann_whitney([], [1.0]))


def exact_permutation_p(pos, neg, alternative):
    pooled, k = pos + neg, len(pos)
    def diff(idx):
        a = [pooled[i] for i in idx]
        b = [pooled[i] for i in range(len(pooled)) if i not in idx]
        return sum(a) / len(a) - sum(b) / len(b)
    obs = diff(tuple(range(k)))
    diffs = [diff(s) for s in itertools.combinations(range(len(pooled)), k)]
    hit = {"greater": lambda d: d >= obs - 1e-9, "less": lambda d: d <= obs + 1e-9,
           "two-sided": lambda d: abs(d) >= abs(obs) - 1e-9}[alternative]
    return sum(map(hit, diffs)) / len(diffs)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_permutation_p_close_to_exhaustive(alternative):
    pos, neg = [2.1, 3.4, 1.9, 4.0, 2.2], [1.0, 2.2, 0.4, 1.5, 2.9, 0.3]
    p = stats.permutation_p(pos, neg, n_permutations=20000, seed=1, alternative=alternative)
    assert p == pytest.approx(exact_permutation_p(pos, neg, alternative), abs=0.01)


def test_permutation_p_extreme_and_ties():
    # only 1 of C(6,3)=20 splits is as extreme -> 0.05; p is never 0
    p = stats.permutation_p([10, 11, 12], [0, 1, 2], n_permutations=20000)
    assert p == pytest.approx(0.05, abs=0.01) and p > 0
    # every split ties the observed difference -> p == 1
    assert stats.permutation_p([1.1, 1.1], [1.1, 1.1], n_permutations=500) == 1.0


def test_permutation_p_reproducible_and_edge_cases():
    a, b = [0.3, 0.8, 0.5], [0.1, 0.4]
    assert stats.permutation_p(a, b, seed=7) == stats.permutation_p(a, b, seed=7)
    assert math.isnan(stats.permutation_p([], [1.0]))
    assert math.isnan(stats.permutation_p([0.2, float("nan")], [0.1, 0.3]))
    with pytest.raises(ValueError):
        stats.permutation_p(a, b, alternative="bigger")


# ------------------------------------------------- the proposal's prompt-level rate test
def _rate_world(rng, n_prompts, per_prompt, shift=0.0, spread=0.3):
    """Texts of A and B per prompt; each prompt has a rate of its own (shared by both sides),
    B's is shifted by `shift`; several features at once (columns)."""
    rows, sides, prompts = [], [], []
    for p in range(n_prompts):
        base = np.clip(0.2 + spread * rng.standard_normal(3), 0, 1)
        for side in "AB":
            rate = np.clip(base + (shift if side == "B" else 0), 0, 1)
            for _ in range(per_prompt):
                rows.append(rng.random(3) < rate)
                sides.append(side)
                prompts.append(p)
    return np.array(rows, dtype=float), np.array(sides, dtype=object), np.array(prompts)


def test_rate_difference_paired_matches_scipy():
    rng = np.random.default_rng(seeded(0))
    member, sides, prompts = _rate_world(rng, 12, 4, shift=0.2)
    effect, t, p, n = stats.rate_difference_test(member, sides, prompts)
    assert n == 12
    for j in range(3):
        d = [member[(prompts == k) & (sides == "B"), j].mean()
             - member[(prompts == k) & (sides == "A"), j].mean() for k in range(12)]
        ref = sps.ttest_1samp(d, 0.0)
        assert effect[j] == pytest.approx(np.mean(d))
        assert t[j] == pytest.approx(ref.statistic) and p[j] == pytest.approx(ref.pvalue)


def test_rate_difference_unpaired_is_welch_over_prompt_rates():
    rng = np.random.default_rng(seeded(1))
    member, sides, prompts = _rate_world(rng, 8, 3, shift=0.3)
    prompts = np.where(sides == "B", prompts + 100, prompts)  # no prompt has both sides
    effect, t, p, n = stats.rate_difference_test(member, sides, prompts)
    assert n == 16
    for j in range(3):
        ub = [member[prompts == k, j].mean() for k in range(100, 108)]
        ua = [member[prompts == k, j].mean() for k in range(8)]
        ref = sps.ttest_ind(ub, ua, equal_var=False)
        assert t[j] == pytest.approx(ref.statistic) and p[j] == pytest.approx(ref.pvalue)
    # Without prompts every text is a unit: Welch's test on the 0/1 values themselves.
    e1, t1, p1, n1 = stats.rate_difference_test(member[:, :1], sides, np.arange(len(sides)))
    ref = sps.ttest_ind(member[sides == "B", 0], member[sides == "A", 0], equal_var=False)
    assert n1 == len(sides) and p1[0] == pytest.approx(ref.pvalue)


def test_rate_difference_edge_cases():
    sides = np.array(["A", "B"] * 6, dtype=object)
    prompts = np.repeat(np.arange(6), 2)
    always_b = (sides == "B").astype(float)  # every prompt: B 1, A 0
    same = np.ones(12)
    effect, t, p, _ = stats.rate_difference_test(np.column_stack([always_b, same]), sides, prompts)
    assert effect.tolist() == [1.0, 0.0] and p[0] == 0.0 and p[1] == 1.0
    # One unit on a side: no spread to test against, so no p-value.
    e, t, p, n = stats.rate_difference_test(np.array([1.0, 0.0, 0.0]), np.array(["B", "A", "A"]),
                                            np.array([0, 1, 2]))
    assert np.isnan(p).all() and n == 3


def test_rate_difference_holds_its_level_where_a_text_level_test_does_not():
    """Simulated null: prompts differ a lot, B's texts of a prompt share its rate. Counting
    prompts keeps the false-positive rate at alpha; counting texts (a two-proportion z-test
    over texts from unpaired prompts) does not."""
    rng = np.random.default_rng(seeded(2))
    prompt_level, text_level = [], []
    for _ in range(300):
        member, sides, prompts = _rate_world(rng, 20, 6, spread=0.35)
        # Unpaired: A and B answered different prompts (B's prompt ids shifted).
        prompts = np.where(sides == "B", prompts + 100, prompts)
        keep = np.where(sides == "B", prompts % 2 == 0, prompts % 2 == 1)
        m, s, u = member[keep], sides[keep], prompts[keep]
        prompt_level.append(stats.rate_difference_test(m, s, u)[2])
        text_level.append(stats.rate_difference_test(m, s, np.arange(len(s)))[2])
    fpr_prompt = (np.array(prompt_level) < 0.05).mean()
    fpr_text = (np.array(text_level) < 0.05).mean()
    assert fpr_prompt < 0.05 + 2 * math.sqrt(0.05 * 0.95 / 900)
    assert fpr_text > 0.15


def test_side_rates_average_prompts_not_texts():
    """The held-out rates beside a claim: each prompt weighs the same whatever its number of
    texts (brute force over prompts), and the interval matches the normal one over prompts."""
    from modeldiff_core.hypotheses.validation import side_rates

    rng = np.random.default_rng(seeded(11))
    member, sides, prompts = [], [], []
    truth = {"A": [], "B": []}
    for p in range(200):
        for side, k in (("A", 1 + p % 3), ("B", 1 + (p + 1) % 4)):
            fires = rng.random(k) < (0.2 if side == "A" else 0.5)
            member += fires.tolist()
            sides += [side] * k
            prompts += [p] * k
            truth[side].append(fires.mean())
    r = side_rates(member, np.array(sides, dtype=object), np.array(prompts), seed=seeded(3))
    assert r["n_prompts"] == 200
    for side in "AB":
        rates = np.array(truth[side])
        assert r[f"rate_{side.lower()}"] == pytest.approx(rates.mean())
        half = 1.96 * rates.std(ddof=1) / math.sqrt(len(rates))
        width = r[f"rate_{side.lower()}_ci_high"] - r[f"rate_{side.lower()}_ci_low"]
        assert width == pytest.approx(2 * half, rel=0.15)
    # Text-weighted rates differ here (B's prompts with more texts are not special, but A's
    # rate over texts weighs prompts by 1-3 texts): the prompt is the unit.
    assert r["rate_a"] != pytest.approx(np.mean([m for m, s in zip(member, sides) if s == "A"]),
                                        abs=1e-12)
