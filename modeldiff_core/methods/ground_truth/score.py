"""Scoring a run against ground truths: validated hypotheses matched to truths (Hungarian)."""
from __future__ import annotations

import re
from typing import Optional

import numpy as np

from ...config import ModelDiffError
from .truths import _ask

EMBEDDING_THRESHOLD = 0.5  # cosine, MiniLM; calibrated on the built-in set (see README)
JUDGE_THRESHOLD = 0.5  # the judge's 1-100 score / 100


def score_truths(truths: list[str], hypotheses: list[dict], similarity: np.ndarray,
                 threshold: float) -> dict:
    """Per-truth recovered/missed, recall, precision of validated hypotheses.

    `hypotheses`: dicts with text and validated (a run's result rows); `similarity`: truths x
    hypotheses. Each truth is matched to at most one validated hypothesis and vice versa
    (Hungarian, maximising similarity); recovered = matched with similarity >= threshold.
    Precision counts a validated hypothesis as true when it is at least `threshold` similar to
    some truth — a planted behaviour may have several true descriptions (side effects are not)."""
    from scipy.optimize import linear_sum_assignment

    val_idx = [j for j, h in enumerate(hypotheses) if h["validated"]]
    sim_val = similarity[:, val_idx] if len(truths) else np.zeros((0, len(val_idx)))
    match: dict[int, int] = {}
    if len(truths) and val_idx:
        rows, cols = linear_sum_assignment(-sim_val)
        match = {int(r): int(c) for r, c in zip(rows, cols)}
    per_truth = []
    for i, truth in enumerate(truths):
        j = match.get(i)
        score = float(sim_val[i, j]) if j is not None else 0.0
        best_any = int(np.argmax(similarity[i])) if hypotheses else None
        per_truth.append({
            "truth": truth, "recovered": j is not None and score >= threshold,
            "best_hypothesis": hypotheses[val_idx[j]]["text"] if j is not None else None,
            "best_hypothesis_id": hypotheses[val_idx[j]].get("id") if j is not None else None,
            "score": round(score, 4),
            # The closest hypothesis even if it did not validate: proposed but not confirmed?
            "closest_proposed": hypotheses[best_any]["text"] if best_any is not None else None,
            "closest_proposed_score": (round(float(similarity[i, best_any]), 4)
                                       if best_any is not None else None)})
    true_val = int((sim_val.max(axis=0) >= threshold).sum()) if len(truths) and val_idx else 0
    n_rec = sum(t["recovered"] for t in per_truth)
    return {"n_truths": len(truths), "n_recovered": n_rec,
            "recall": n_rec / len(truths) if truths else None,
            "n_validated": len(val_idx), "n_validated_true": true_val,
            "precision": true_val / len(val_idx) if val_idx else None,
            "threshold": threshold, "per_truth": per_truth}


def score_run(store, run_id: str, truths: list[str], matcher: str = "embedding",
              hypothesis_set: str = "offline", embedder=None, call_path=None) -> dict:
    """Score a finished run's hypotheses against the truths planted in its model B; stored."""
    result = store.result(run_id)
    if result is None:
        raise ModelDiffError(f"run {run_id} has no result yet")
    if result.get("assistant", "offline") != hypothesis_set:
        from ...results import build_result
        result = build_result(store, run_id, hypothesis_set)
    hyps = result["hypotheses"]
    texts = [h["text"] for h in hyps]
    if matcher == "embedding":
        from ...embedders import make_embedder
        sim = embedding_similarity(embedder or make_embedder(), truths, texts)
        threshold = EMBEDDING_THRESHOLD
    elif matcher == "judge":
        if call_path is None:
            raise ModelDiffError("the judge matcher needs an assistant (anthropic or openai)")
        sim = judge_similarity(call_path, truths, [claim(t) for t in texts])
        threshold = JUDGE_THRESHOLD
    else:
        raise ModelDiffError(f"unknown matcher {matcher!r}; choose embedding or judge")
    scored = score_truths(truths, hyps, sim, threshold)
    scored.update(run_id=run_id, matcher=matcher, assistant=hypothesis_set)
    store.save_truth_score(run_id, hypothesis_set, matcher, truths, scored)
    return scored


def judge_similarity(call_path, truths: list[str], hypotheses: list[str]) -> np.ndarray:
    """truths x hypotheses similarity in [0, 1], from the assistant's 1-100 scores."""
    out = np.zeros((len(truths), len(hypotheses)))
    n = len(hypotheses)

    def check(answer) -> Optional[str]:
        got = answer.get("scores") if isinstance(answer, dict) else None
        if not isinstance(got, list) or len(got) != n or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in got):
            return f"Give exactly {n} numbers from 1 to 100 in a 'scores' list."
        return None
    for i, truth in enumerate(truths):
        if not hypotheses:
            break
        answer = _ask(call_path, "match. A finetune planted the ground-truth behaviour in Model "
                      "B. For each hypothesis, rate from 1 to 100 how well it describes that same "
                      "behaviour (100: the same behaviour, same direction; 1: unrelated or "
                      'opposite). Answer {"scores": [number, ...]}, one per hypothesis, in order.',
                      {"ground_truth": truth, "hypotheses": hypotheses}, purpose="match truths",
                      check=check, max_tokens=512)
        out[i] = np.clip(np.asarray(answer["scores"], dtype=float), 1, 100) / 100
    return out


def claim(text: str) -> str:
    """A hypothesis without its figures in parentheses: what is compared with a truth."""
    return re.sub(r"\s*\([^)]*\)", "", text).strip()


def embedding_similarity(embedder, truths: list[str], hypotheses: list[str]) -> np.ndarray:
    if not truths or not hypotheses:
        return np.zeros((len(truths), len(hypotheses)))
    t = embedder.embed(truths)
    h = embedder.embed([claim(x) for x in hypotheses])
    return np.clip(t @ h.T, 0.0, 1.0)
