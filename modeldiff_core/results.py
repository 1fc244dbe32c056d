"""The result document of the CLI contract (`build_result`), read from what is stored: the
run's texts, clusters, hypotheses with their held-out tests, the baseline and the coverage."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from .hypotheses import stats
from .hypotheses.predicates import b_scores
from .hypotheses.explain import condition_values, explain, ordered_findings
from .hypotheses.validation import TEXT_KEY, judged_texts
from .hypotheses.yardstick import bow_yardstick, coverage

SIDES = ("A", "B")


def _num(x) -> Optional[float]:
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)


def _count(x) -> Optional[int]:
    return None if x is None or x != x else int(x)


def _hypothesis_rows(store, run_id: str, hypothesis_set: str) -> list[dict]:
    hyps, val = store.hypotheses(run_id, hypothesis_set), store.validations(run_id, hypothesis_set)
    out = []
    for h in hyps.itertuples():
        tests = {r.test: r for r in val[val["hypothesis_id"] == h.hypothesis_id].itertuples()}
        d, g = tests.get("discriminative"), tests.get("generative")
        row = {"id": h.hypothesis_id, "text": h.text, "source": h.source,
               "direction": h.direction, "predicate": h.predicate,
               "discriminative": None, "generative": None, "validated": False}
        if d is not None:
            row["discriminative"] = {k: _num(d.result.get(k)) for k in
                                     ("accuracy", "auc", "p_value", "ci_low", "ci_high",
                                      "mean_score_diff")}
            row["discriminative"].update(q_value=_num(d.q_value), n=int(d.result["n"]),
                                         n_prompts=_count(d.result.get("n_prompts")))
            if d.result.get("rates"):  # a predicate's held-out rates: the claim's evidence
                row["discriminative"]["rates"] = {k: _num(v) if k != "n_prompts" else _count(v)
                                                  for k, v in d.result["rates"].items()}
            if d.result.get("placebo"):  # an LLM judge: what it separates with no hypothesis
                row["discriminative"].update(
                    placebo_auc=_num(d.result["placebo"].get("auc")),
                    **{k: _num(d.result.get(k)) for k in
                       ("added_auc", "added_auc_ci_low", "added_auc_ci_high", "p_vs_chance")})
            row["validated"] = bool(d.validated)
        if g is not None and g.result.get("skipped"):  # a side without log-probs: say so
            row["generative_skipped"] = g.result["skipped"]
        if g is not None and g.result.get("n"):
            row["generative"] = {"auc": _num(g.result["auc"]), "p_value": _num(g.result["p_value"]),
                                 "q_value": _num(g.q_value), "n": int(g.result["n"]),
                                 "n_prompts": _count(g.result.get("n_prompts")),
                                 "design": g.result.get("design")}
        out.append(row)
    return out


def build_result(store, run_id: str, hypothesis_set: str = "offline") -> dict:
    """The result document of the CLI contract, from what is stored."""
    run = store.get_run(run_id)
    gens = store.generations(run_id)
    clusters = store.clusters(run_id)
    val, disc = gens[gens["split"] == "validation"], gens[gens["split"] == "discovery"]
    seed = (run["settings"] or {}).get("generation", {}).get("seed", 0)
    base = bow_yardstick(disc["text"].tolist(), disc["side"].tolist(), val["text"].tolist(),
                         val["side"].tolist(), val["prompt_id"].tolist(), seed)
    base.pop("prob", None)
    cluster_rows = [
        {"cluster_id": int(r.cluster_id), "size_a": int(r.size_a), "size_b": int(r.size_b),
         "share_b": float(r.share_b), "log_odds": float(r.log_odds), "ci_low": float(r.ci_low),
         "ci_high": float(r.ci_high), "p_value": _num(r.p_value), "q_value": _num(r.q_value),
         "fisher_p": _num(r.fisher_p), "n_prompts": _count(r.n_prompts),
         "top_terms": r.top_terms, "noise": int(r.cluster_id) == stats.NOISE,
         "discovery": {"size_a": _count(r.disc_size_a), "size_b": _count(r.disc_size_b),
                       "log_odds": _num(r.disc_log_odds), "p_value": _num(r.disc_p_value),
                       "q_value": _num(r.disc_q_value)}}
        for r in clusters.itertuples()]
    hypotheses = _hypothesis_rows(store, run_id, hypothesis_set)
    explained = run_explanations(store, run_id, hypothesis_set, gens, seed)
    for h in hypotheses:  # what explains what: a finding held fixed by a stronger headline
        e = explained.get(h["id"])
        h["explained_by"] = e and e["by"]
        h["conditional_p"] = _num(e and e["p_value"])
    hypotheses = ordered_findings(hypotheses)
    return {"run_id": run_id, "model_a": run["model_a"], "model_b": run["model_b"],
            "n_texts": {s: int((gens["side"] == s).sum()) for s in SIDES},
            "baseline": base, "clusters": cluster_rows, "assistant": hypothesis_set,
            "hypotheses": hypotheses, "coverage": run_coverage(store, run_id, hypothesis_set, gens, seed),
            "self_check": stored_self_check(store, run_id, hypothesis_set),
            "failed_steps": store.run_failures(run_id, hypothesis_set)}


def stored_self_check(store, run_id: str, hypothesis_set: str) -> Optional[dict]:
    """The run's A1-vs-A2 false-positive check as stored ({validated, proposed, n_prompts});
    None before it has run."""
    stored = store.self_check(run_id, hypothesis_set)
    return None if stored is None else {k: v for k, v in stored.items() if k != "settings"}


def current_result(store, run_id: str, hypothesis_set: str = "offline") -> dict:
    """The result as the run's job stored it when that is this set's and the run is done (its
    baseline and coverage are refits: seconds on real answers, not for every page view);
    otherwise built from what is stored now."""
    run, stored = store.get_run(run_id), store.result(run_id)
    if (run is not None and run["status"] == "done" and stored is not None
            and stored.get("assistant") == hypothesis_set and "failed_steps" in stored):
        return stored
    return build_result(store, run_id, hypothesis_set)


def run_coverage(store, run_id: str, hypothesis_set: str, gens: pd.DataFrame, seed: int) -> dict:
    """`yardstick.coverage` of the validated hypotheses. When each is a predicate (judging
    costs nothing), both classifiers are fitted on the discovery texts and scored on every
    validation text; otherwise on the held-out texts the judge scored, cross-validated."""
    val = store.validations(run_id, hypothesis_set)
    disc = val[(val["test"] == "discriminative") & val["validated"].fillna(False).astype(bool)]
    hyps = store.hypotheses(run_id, hypothesis_set).set_index("hypothesis_id")
    preds = [hyps.loc[h, "predicate"] if h in hyps.index else None for h in disc["hypothesis_id"]]
    if preds and all(preds):
        train, held = (gens[gens["split"] == split] for split in ("discovery", "validation"))

        def scores(texts):
            return np.column_stack([b_scores(p, texts) for p in preds])
        return coverage(scores(held["text"].tolist()), held["text"].tolist(),
                        held["side"].tolist(), held["prompt_id"].tolist(), seed,
                        train={"scores": scores(train["text"].tolist()),
                               "texts": train["text"].tolist(), "sides": train["side"].tolist()})
    keyed = _on_common_texts([judged_texts(gens, r.result) for r in disc.itertuples()])
    if not keyed:
        return coverage(np.zeros((0, 0)), [], [], [], seed)
    first, common = keyed[0], keyed[0].index
    scores = np.column_stack([f["score"].to_numpy() for f in keyed])
    return coverage(scores, first["text"].tolist(), common.get_level_values("side").tolist(),
                    common.get_level_values("prompt_id").tolist(), seed)


def _on_common_texts(frames: list) -> list[pd.DataFrame]:
    """Judged-text frames (None: a test without stored scores, left out) cut to the texts they
    all judged, in one order, indexed by text key."""
    keyed = [f.set_index(TEXT_KEY) for f in frames if f is not None]
    if not keyed:
        return []
    common = keyed[0].index
    for f in keyed[1:]:
        common = common.intersection(f.index)
    return [f.loc[common] for f in keyed]


def run_explanations(store, run_id: str, hypothesis_set: str, gens: pd.DataFrame,
                     seed: int) -> dict:
    """`explain.explain` over the validated hypotheses, strongest held-out effect first, on the
    held-out texts they were all judged on: id -> {by, p_value}."""
    val = store.validations(run_id, hypothesis_set)
    disc = val[(val["test"] == "discriminative") & val["validated"].fillna(False).astype(bool)]
    if disc.empty:
        return {}
    hyps = store.hypotheses(run_id, hypothesis_set).set_index("hypothesis_id")
    judged = [(r, judged_texts(gens, r.result)) for r in disc.itertuples()]
    rows = [r for r, frame in judged if frame is not None]
    keyed = _on_common_texts([frame for _, frame in judged])
    findings = []
    for r, frame in zip(rows, keyed):
        predicate = hyps.loc[r.hypothesis_id, "predicate"] if r.hypothesis_id in hyps.index else None
        scores = frame["score"].to_numpy()
        findings.append({"id": r.hypothesis_id, "scores": scores,
                         "given": condition_values(predicate, frame["text"].tolist(), scores),
                         "sides": frame.index.get_level_values("side").to_numpy(),
                         "prompt_ids": frame.index.get_level_values("prompt_id").to_numpy(),
                         "effect": r.result.get("mean_score_diff") or 0.0})
    findings.sort(key=lambda f: -f["effect"])
    alpha = float(disc["alpha"].dropna().iloc[0]) if disc["alpha"].notna().any() else 0.05
    return explain(findings, alpha, seed)


