"""Validation of hypotheses on held-out texts, with the prompt as the unit of inference: which
texts are held out (paired by prompt), the discriminative test (the assistant judges them,
against a placebo when the judge is an LLM) and the generative one (pairs scored under both
models, an edit's term against placebo words of its frequency), each a per-prompt statistic
tested over prompts (`stats.prompt_level_p`). How much of the models' separability the
validated hypotheses explain is in `yardstick`."""
from __future__ import annotations

import math
import os
import re
from typing import Optional

import numpy as np
import pandas as pd

from .types import Hypothesis

_WORD_CHAR = re.compile(r"[A-Za-z0-9']")  # a character of a word, as the pair writer edits them


def paired_heldout(val: pd.DataFrame, max_texts: int, seed: int = 0) -> pd.DataFrame:
    """The held-out texts every test is run on: per validation prompt, sample indices present
    on both sides, so A's and B's texts are paired by prompt. Prompts are taken round-robin
    (one pair from every prompt before a second from any), since prompts are the unit of
    inference and more of them buys more power than more samples of one. Columns prompt_id,
    sample_idx, in a seeded order; at most max_texts // 2 pairs."""
    rng = np.random.default_rng(seed)
    keys = {side: set() for side in "AB"}
    for side, pid, sample in zip(val["side"], val["prompt_id"], val["sample_idx"]):
        keys.setdefault(side, set()).add((int(pid), int(sample)))
    common: dict[int, list[int]] = {}
    for pid, sample in sorted(keys["A"] & keys["B"]):
        common.setdefault(pid, []).append(sample)
    for pid, samples in common.items():
        common[pid] = [samples[i] for i in rng.permutation(len(samples))]
    order = [list(common)[i] for i in rng.permutation(len(common))]
    rows, budget = [], max(0, max_texts // 2)
    for rank in range(max((len(v) for v in common.values()), default=0)):
        for pid in order:
            if len(rows) < budget and rank < len(common[pid]):
                rows.append((pid, common[pid][rank]))
    return pd.DataFrame(rows, columns=["prompt_id", "sample_idx"])


def heldout_texts(val: pd.DataFrame, pairs: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Both sides' texts of the chosen pairs, prompt by prompt; within a prompt the pairs are
    in a seeded order and each pair's two texts in a seeded order, so consecutive positions
    (2k, 2k + 1) always hold one A and one B text of the same prompt."""
    rng = np.random.default_rng(seed)
    row_of = {(side, int(pid), int(sample)): i for i, (side, pid, sample) in
              enumerate(zip(val["side"], val["prompt_id"], val["sample_idx"]))}
    by_prompt: dict[int, list[int]] = {}
    for pid, sample in zip(pairs["prompt_id"], pairs["sample_idx"]):
        by_prompt.setdefault(int(pid), []).append(int(sample))
    rows = []
    for pid, samples in by_prompt.items():
        for sample in samples:
            sides = ["A", "B"] if rng.random() < 0.5 else ["B", "A"]
            rows += [row_of[(side, pid, sample)] for side in sides]
    return val.iloc[rows].reset_index(drop=True)


def spread_over_prompts(judged: pd.DataFrame) -> pd.DataFrame:
    """`judged` reordered so one text of every prompt comes before a second of any: material
    taken from the front (generative pairs) spreads over as many prompts as it can."""
    rank = judged.groupby("prompt_id").cumcount()
    return judged.iloc[np.argsort(rank.to_numpy(), kind="stable")]


def judge_calls(group_sizes: list[int], batch: int) -> list[list[tuple[int, int]]]:
    """How texts are packed into judge calls: (group, position) per call. A group (one
    prompt's texts, A and B alternating in pairs) is cut only at even positions, so every
    piece of it in a call holds as many A as B texts, and whatever shifts one call's scores
    shifts both sides of that prompt alike. Pieces are packed greedily up to `batch` texts."""
    step = max(2, batch - batch % 2)
    calls: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for g, size in enumerate(group_sizes):
        for start in range(0, size, step):
            piece = [(g, j) for j in range(start, min(size, start + step))]
            if current and len(current) + len(piece) > batch:
                calls.append(current)
                current = []
            current += piece
    if current:
        calls.append(current)
    return calls


PLACEBO_TEXT = "Model B's outputs differ from Model A's in some way."


def placebo_hypothesis():
    """The placebo: a content-free hypothesis. Whatever a judge scores under it is what the
    judge tells apart without being told what differs (length, markdown, any cue), which a
    hypothesis has to beat to be validated."""
    return Hypothesis(PLACEBO_TEXT, "B", "placebo")


def _b_minus_a(scores, sides, prompt_ids) -> np.ndarray:
    from . import stats

    rate_b, rate_a = stats.per_prompt_rates(scores, sides, prompt_ids)
    return rate_b - rate_a


def discriminative_stats(scores, sides, prompt_ids, seed: int = 0, n_resamples: int = 9999,
                         n_boot: int = 1000, placebo=None) -> dict:
    """The discriminative test from scores ("written by B", in [0, 1]) of texts paired by
    prompt. Without a placebo (a judge that is the hypothesis' own predicate) the per-prompt
    statistic is mean score of B's texts minus mean score of A's, against zero. With
    `placebo` (the same texts' scores under the content-free hypothesis, judged in the same
    calls) it is that difference minus the same difference under the placebo: the test asks
    whether the hypothesis separates the models *better than the judge alone*, and a judge
    that rewards any other cue scores both arms alike. Either way the p-value is a one-sided
    sign flip over prompts (under the null the two arms are exchangeable within a prompt).
    Balanced accuracy (score > 0.5 means B) and AUC are text-level figures with prompt-level
    bootstrap CIs; `p_vs_chance` is the test against zero, kept for comparison."""
    from . import stats

    scores = np.asarray(scores, dtype=float)
    sides = np.asarray(sides, dtype=object)
    prompt_ids = np.asarray(prompt_ids)
    ok = np.isfinite(scores)
    if placebo is not None:
        placebo = np.asarray(placebo, dtype=float)
        ok &= np.isfinite(placebo)
        placebo = placebo[ok]
    scores, sides, prompt_ids = scores[ok], sides[ok], prompt_ids[ok]
    y = sides == "B"
    per_prompt = _b_minus_a(scores, sides, prompt_ids)
    acc = stats.balanced_accuracy(scores, y)
    auc = stats.auc_score(scores, y)
    ci = stats.cluster_bootstrap_ci(prompt_ids, lambda i: stats.balanced_accuracy(scores[i], y[i]),
                                    n_boot, seed)
    auc_ci = stats.cluster_bootstrap_ci(prompt_ids, lambda i: stats.auc_score(scores[i], y[i]),
                                        n_boot, seed)
    p_chance = stats.prompt_level_p(per_prompt, n_resamples, seed)
    out = {"accuracy": acc, "ci_low": ci[0], "ci_high": ci[1], "auc": auc,
           "auc_ci_low": auc_ci[0], "auc_ci_high": auc_ci[1],
           "mean_score_diff": float(per_prompt.mean()) if len(per_prompt) else math.nan,
           "p_value": p_chance, "p_vs_chance": p_chance,
           "n": int(len(scores)), "n_texts": int(len(scores)),
           "n_prompts": int(len(per_prompt)), "n_dropped": int((~ok).sum()),
           "unit": "prompt", "control": "none: the judge is the hypothesis' own predicate"}
    if placebo is None:
        return out
    beyond = per_prompt - _b_minus_a(placebo, sides, prompt_ids)
    placebo_auc = stats.auc_score(placebo, y)
    added = stats.cluster_bootstrap_ci(
        prompt_ids, lambda i: stats.auc_score(scores[i], y[i]) - stats.auc_score(placebo[i], y[i]),
        n_boot, seed)
    out.update(p_value=stats.prompt_level_p(beyond, n_resamples, seed), control="placebo",
               placebo={"text": PLACEBO_TEXT, "auc": placebo_auc,
                        "accuracy": stats.balanced_accuracy(placebo, y),
                        "mean_score_diff": float(np.mean(per_prompt - beyond))
                        if len(beyond) else math.nan},
               added_auc=auc - placebo_auc, added_auc_ci_low=added[0], added_auc_ci_high=added[1],
               mean_score_diff_beyond_placebo=float(beyond.mean()) if len(beyond) else math.nan)
    return out


def side_rates(member, sides, prompt_ids, seed: int = 0, n_boot: int = 1000) -> dict:
    """How often each model's held-out texts show a yes/no feature (a hypothesis' predicate):
    per prompt the share of its A texts and of its B texts, averaged over prompts (the unit),
    each with a percentile interval over prompts resampled with replacement."""
    from . import stats

    rate_b, rate_a = stats.per_prompt_rates(np.asarray(member, dtype=float), sides, prompt_ids)
    out = {"n_prompts": int(len(rate_b))}
    if not len(rate_b):
        return out | {k: math.nan for k in ("rate_a", "rate_b", "rate_a_ci_low",
                                              "rate_a_ci_high", "rate_b_ci_low", "rate_b_ci_high")}
    pick = np.random.default_rng(seed).integers(0, len(rate_b), (n_boot, len(rate_b)))
    for side, rate in (("a", rate_a), ("b", rate_b)):
        low, high = np.percentile(rate[pick].mean(axis=1), [2.5, 97.5])
        out |= {f"rate_{side}": float(rate.mean()), f"rate_{side}_ci_low": float(low),
                f"rate_{side}_ci_high": float(high)}
    return out


def judge_scores(assistant, hypothesis, judged: pd.DataFrame, mode: str = "score") -> np.ndarray:
    """The assistant's "written by B" score of each text of `judged` (columns text, prompt_id,
    laid out as `heldout_texts` lays them) given the hypothesis. `mode="score"`: each text
    scored, judged in calls that each hold one prompt's A and B texts. `mode="pairwise"`: each
    (A, B) pair is asked "which is B's?" in both orders; an answer that flips with the order is
    dropped (NaN)."""
    texts, prompt_ids = judged["text"].tolist(), judged["prompt_id"].tolist()
    groups: dict = {}
    for i, pid in enumerate(prompt_ids):
        groups.setdefault(pid, []).append(i)
    index = list(groups.values())
    scores = np.full(len(texts), np.nan)
    if mode == "score":
        judged_scores = assistant.judge_groups(hypothesis, [[texts[i] for i in g] for g in index])
        for g, values in zip(index, judged_scores):
            scores[g] = values
    elif mode == "pairwise":
        pairs = [(i, j) for g in index for i, j in zip(g[0::2], g[1::2])]
        picks = assistant.judge_pairs(hypothesis, [(texts[i], texts[j]) for i, j in pairs])
        for (i, j), pick in zip(pairs, picks):
            if pick is not None:  # pick: which of the two is B's (0 or 1)
                scores[i], scores[j] = float(pick == 0), float(pick == 1)
    else:
        raise ValueError(f"unknown judge mode {mode!r}; choose score or pairwise")
    return scores


def discriminative(assistant, hypothesis, judged: pd.DataFrame, seed: int = 0,
                   mode: str = "score", n_resamples: int = 9999, n_boot: int = 1000,
                   placebo_scores=None) -> dict:
    """The assistant, given the hypothesis, judges held-out texts paired by prompt
    (`judge_scores`). A judge that is not the hypothesis' own predicate also judges the same
    texts, in the same calls, under the placebo (`placebo_scores`: those scores when already
    judged, e.g. once for all of a run's hypotheses), and the hypothesis must beat it.
    Returns `discriminative_stats` plus the scores in the order of the texts (NaN where
    dropped), and the placebo's."""
    scores = judge_scores(assistant, hypothesis, judged, mode)
    placebo = None
    if assistant.judge_needs_placebo(hypothesis):
        placebo = (np.asarray(placebo_scores, dtype=float) if placebo_scores is not None
                   else judge_scores(assistant, placebo_hypothesis(), judged, mode))
    out = discriminative_stats(scores, judged["side"].tolist(), judged["prompt_id"].tolist(),
                               seed, n_resamples, n_boot, placebo)
    out.update(scores=[float(v) for v in scores], mode=mode)
    if placebo is not None:
        out["placebo_scores"] = [float(v) for v in placebo]
    return out


def generative_stats(diff_favoured, diff_contrast, prompt_keys, seed: int = 0,
                     n_resamples: int = 9999, d=None) -> dict:
    """Paired generative test: per pair d = (B - A on the favoured text) - (B - A on its
    contrast) — or, for matched pairs, the `d` given (`matched_differences`) — averaged per
    prompt, one-sided over prompts (`stats.prompt_level_p`: d > 0 if the hypothesis holds).
    "auc" is P(d > 0) + P(d = 0) / 2 over pairs. Non-finite pairs are dropped and counted."""
    from . import stats

    fav = np.asarray(diff_favoured, dtype=float)
    con = np.asarray(diff_contrast, dtype=float)
    d = fav - con if d is None else np.asarray(d, dtype=float)
    ok = np.isfinite(d)
    keys = np.asarray(prompt_keys, dtype=object)[ok]
    d = d[ok]
    if not len(d):
        return {"auc": math.nan, "p_value": math.nan, "n": 0, "n_pairs": 0, "n_prompts": 0,
                "n_dropped": int((~ok).sum()), "unit": "prompt"}
    per_prompt = pd.Series(d).groupby(pd.Series(keys).astype(str).to_numpy()).mean().to_numpy()
    return {"auc": float((d > 0).mean() + (d == 0).mean() / 2),
            "p_value": stats.prompt_level_p(per_prompt, n_resamples, seed),
            "mean_diff": float(d.mean()), "mean_diff_favoured": float(np.nanmean(fav[ok])),
            "mean_diff_contrast": float(np.nanmean(con[ok])),
            "n": int(len(d)), "n_pairs": int(len(d)), "n_prompts": int(len(per_prompt)),
            "n_dropped": int((~ok).sum()), "unit": "prompt"}


def matched_differences(shift_carrier, mean_carrier, shift_placebos, mean_placebos,
                        sign=None) -> tuple[np.ndarray, float]:
    """Per pair, how much likelier B finds the term than words of its own frequency: the
    carrier's B - A shift minus its placebos', less what its difference in mean log-prob
    (A + B) / 2 from them predicts (`sign`: -1 where the hypothesis predicts the term is
    *less* likely under B). Under a tempered B (log p_B = a log p_A - log Z per token) a
    word's shift is linear in its mean log-prob with slope 2(a - 1)/(a + 1) the same
    everywhere, so the slope is fitted once, within pairs, over every pair's placebos (their
    deviations from their pair's mean), and the residual is exact for it; the shift of an
    identical A and B is zero whatever the slope. The fitted slope is shared by every pair,
    so each pair's value also carries its share of the slope's error (its influence on the
    fit, scaled by how far the pairs' terms sit from their placebos on average): the values
    keep their mean, and a test over prompts sees the slope's uncertainty. `*_placebos`:
    one array per pair. Returns (value per pair, NaN where a pair has no finite placebo;
    the slope)."""
    n = len(shift_carrier)
    sign = np.ones(n) if sign is None else np.asarray(sign, dtype=float)
    cs, cm = [], []
    for s, m in zip(shift_placebos, mean_placebos):
        s, m = np.asarray(s, float), np.asarray(m, float)
        ok = np.isfinite(s) & np.isfinite(m)
        cs.append(s[ok] - s[ok].mean() if ok.sum() >= 2 else np.zeros(0))
        cm.append(m[ok] - m[ok].mean() if ok.sum() >= 2 else np.zeros(0))
    sxx = float(sum(c @ c for c in cm))
    slope = float(sum(a @ b for a, b in zip(cm, cs)) / sxx) if sxx > 0 else 0.0
    d, x = np.full(n, np.nan), np.full(n, np.nan)
    for i, (s, m) in enumerate(zip(shift_placebos, mean_placebos)):
        s, m = np.asarray(s, float), np.asarray(m, float)
        ok = np.isfinite(s) & np.isfinite(m)
        if ok.any():
            x[i] = sign[i] * (mean_carrier[i] - m[ok].mean())
            d[i] = sign[i] * (shift_carrier[i] - s[ok].mean()) - slope * x[i]
    fitted = np.isfinite(d)
    if sxx > 0 and fitted.any():
        # d(slope) / d(pair i's placebos) = u_i / sxx, u_i = sum of cm * (cs - slope * cm)
        u = np.array([c_m @ (c_s - slope * c_m) for c_m, c_s in zip(cm, cs)])
        d[fitted] -= np.mean(x[fitted]) * fitted.sum() * u[fitted] / sxx
    return d, slope


def through_edit(text: str, other: str) -> tuple[str, str]:
    """Both texts cut right after the first word in which they differ: what precedes it is
    the same context in both, so log p of the cut texts differ only by that word's tokens."""
    i = len(os.path.commonprefix([text, other]))
    while i > 0 and _WORD_CHAR.match(text[i - 1]):
        i -= 1

    def cut(t: str) -> str:
        j = i
        while j < len(t) and _WORD_CHAR.match(t[j]):
            j += 1
        return t[:j]
    return cut(text), cut(other)


def generative(pairs, scorer_a, scorer_b, use_chat_template: bool = True, seed: int = 0,
               n_resamples: int = 9999) -> dict:
    """If the hypothesis holds, B - A log-prob is larger for each pair's favoured text than
    for its contrast. Edit pairs with placebos (`GeneratedPair.placebos`) are scored where they
    differ: each version is cut right after its edited word (`through_edit`) and scored
    without the end of text, so every version has the same context and only the word is
    scored; the term is then tested against its placebos (`matched_differences`), which is
    exact when B is a flatter or sharper copy of A. Other pairs (an LLM's) are scored whole,
    end of text included (so "B stops sooner" is measured), favoured against contrast. A
    scorer is anything with `sum_logprobs` (models.sources.base.Scorer)."""
    if not pairs:
        return generative_stats([], [], [], seed)
    keys = [p.prompt or i for i, p in enumerate(pairs)]
    if any(p.placebos for p in pairs):
        return _generative_matched(pairs, keys, scorer_a, scorer_b, use_chat_template, seed,
                                   n_resamples)
    texts = [p.favoured for p in pairs] + [p.contrast for p in pairs]
    prompts = [p.prompt for p in pairs] * 2
    kwargs = {"prompts": prompts if all(q is not None for q in prompts) else None,
              "use_chat_template": use_chat_template}
    diff = scorer_b.sum_logprobs(texts, **kwargs) - scorer_a.sum_logprobs(texts, **kwargs)
    fav, con = diff[:len(pairs)], diff[len(pairs):]
    out = generative_stats(fav, con, keys, seed, n_resamples)
    out["diffs"] = {"favoured": [float(v) for v in fav], "contrast": [float(v) for v in con]}
    out["score"] = "summed log-prob, end of text included"
    out["design"] = "unmatched: the favoured text against its contrast"
    return out


def _generative_matched(pairs, keys, scorer_a, scorer_b, use_chat_template: bool,
                        seed: int, n_resamples: int) -> dict:
    texts, prompts, spans = [], [], []
    for p in pairs:
        carrier = p.favoured if p.carrier == "favoured" else p.contrast
        cuts = [through_edit(carrier, other) for other in p.placebos]
        start = len(texts)
        texts += [cuts[0][0] if cuts else carrier] + [c[1] for c in cuts]
        prompts += [p.prompt] * (1 + len(cuts))
        spans.append((start, len(texts)))
    kwargs = {"prompts": prompts if all(q is not None for q in prompts) else None,
              "use_chat_template": use_chat_template, "end": False}
    lp_a = scorer_a.sum_logprobs(texts, **kwargs)
    lp_b = scorer_b.sum_logprobs(texts, **kwargs)
    shift, mean = lp_b - lp_a, (lp_a + lp_b) / 2
    first = np.array([a for a, _ in spans])
    towards = np.array([p.carrier == "favoured" for p in pairs])
    d, slope = matched_differences(shift[first], mean[first],
                                   [shift[a + 1:b] for a, b in spans],
                                   [mean[a + 1:b] for a, b in spans], np.where(towards, 1, -1))
    # Shown beside each pair: the favoured and the contrast version's B - A, as scored.
    placebo0 = np.array([shift[a + 1] if b > a + 1 else np.nan for a, b in spans])
    fav = np.where(towards, shift[first], placebo0)
    con = np.where(towards, placebo0, shift[first])
    out = generative_stats(fav, con, keys, seed, n_resamples, d=d)
    out.update(diffs={"favoured": [float(v) for v in fav], "contrast": [float(v) for v in con]},
               score="log-prob of the edited word (each version cut right after it)",
               design="matched: the term against words of its own frequency in both models' "
                      "texts, in the same slot, less what their mean log-prob predicts",
               slope=slope, n_placebos=int(sum(b - a - 1 for a, b in spans)),
               d=[float(v) for v in d])
    return out


TEXT_KEY = ["side", "prompt_id", "sample_idx"]


def judged_texts(gens: pd.DataFrame, disc: Optional[dict]) -> Optional[pd.DataFrame]:
    """The texts of `gens` that a stored discriminative test judged, in the test's order, with
    their scores (columns side, prompt_id, sample_idx, score, text, prompt); None when the test
    stored no scores."""
    if not disc or not disc.get("keys") or len(disc.get("scores", [])) != len(disc["keys"]):
        return None
    scored = pd.DataFrame(disc["keys"], columns=TEXT_KEY).astype({"side": str, "prompt_id": int,
                                                                  "sample_idx": int})
    scored["score"] = [float(v) for v in disc["scores"]]
    texts = gens[TEXT_KEY + ["text", "prompt"]].astype({"prompt_id": int, "sample_idx": int})
    return scored.merge(texts, on=TEXT_KEY, how="inner")
