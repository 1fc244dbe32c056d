"""A run summarised for presenting, as JSON-able data: pair and settings, top clusters,
hypotheses with their held-out evidence and validation figures, quantization, layer lens,
probe game.
`render.markdown` and `render.html` turn it into a document.

Reads only through `Store` methods."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from ..config import ModelDiffError
from ..hypotheses.types import Hypothesis
from ..hypotheses.validation import judged_texts

TOP_CLUSTERS = 10
N_EXAMPLES = 3  # held-out texts shown as most / least B-like
N_PAIRS = 5  # generated pairs shown per hypothesis


def _plain(x: Any) -> Any:
    """JSON-able Python values (numpy scalars, timestamps, NaN -> None)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def held_out_examples(gens: pd.DataFrame, h: dict, disc: Optional[dict]) -> Optional[dict]:
    """The held-out (validation) texts `gens` scored most and least B-like. Uses the scores
    stored with the discriminative test; without them, re-judges the texts with the offline
    assistant when the hypothesis has a predicate; otherwise None."""
    scored = judged_texts(gens, disc)
    if scored is not None:
        judge = "stored scores of the discriminative test"
    elif h.get("predicate") and not gens.empty:
        from ..assistants.offline import OfflineAssistant

        hyp = Hypothesis(h["text"], h["direction"], h["source"], h["predicate"], h["evidence"])
        scored = gens[["side", "text"]].copy()
        scored["score"] = OfflineAssistant().judge(hyp, scored["text"].tolist())
        judge = "re-judged with the offline assistant's predicate"
    else:
        return None
    if scored.empty:
        return None
    # A seeded shuffle before a stable sort: ties (0/1 scores) are broken neutrally.
    scored = scored.iloc[np.random.default_rng(0).permutation(len(scored))]
    scored = scored.sort_values("score", ascending=False, kind="stable")
    pick = lambda df: [{"side": r.side, "score": float(r.score), "text": r.text}  # noqa: E731
                       for r in df.itertuples()]
    return {"judge": judge, "n": int(len(scored)), "most": pick(scored.head(N_EXAMPLES)),
            "least": pick(scored.tail(N_EXAMPLES).iloc[::-1])}


def evidence_texts(store, run_id: str, hypothesis_set: str) -> list[tuple[str, dict]]:
    """(hypothesis id, example) for the held-out texts judged most B-like for each hypothesis of
    the set: the texts worth a closer look token by token."""
    tests = store.validations(run_id, hypothesis_set)
    disc = {r.hypothesis_id: r.result for r in tests.itertuples() if r.test == "discriminative"}
    held_out = store.generations(run_id, split="validation")
    out = []
    for h in store.hypotheses(run_id, hypothesis_set).itertuples():
        ex = held_out_examples(held_out, h._asdict(), disc.get(h.hypothesis_id))
        out += [(h.hypothesis_id, r) for r in (ex or {}).get("most", [])]
    return out


def _generated_pairs(gen: Optional[dict]) -> Optional[dict]:
    if not gen or not gen.get("pairs") or not gen.get("diffs"):
        return None
    fav, con = gen["diffs"]["favoured"], gen["diffs"]["contrast"]
    rows = [{"favoured": p["favoured"], "contrast": p["contrast"], "prompt": p.get("prompt"),
             "diff_favoured": f, "diff_contrast": c}
            for p, f, c in zip(gen["pairs"], fav, con)]
    return {"n": len(rows), "mean_diff_favoured": gen.get("mean_diff_favoured"),
            "mean_diff_contrast": gen.get("mean_diff_contrast"), "pairs": rows[:N_PAIRS]}


def report_data(store, run_id: str, hypothesis_set: str = "offline") -> dict:
    """Everything the report shows, as JSON-able data. Raises ModelDiffError when the run does not
    exist or has no result yet."""
    run = store.get_run(run_id)
    if run is None:
        raise ModelDiffError(f"no run {run_id}")
    result = store.result(run_id)
    if result is None:
        raise ModelDiffError(f"run {run_id} has no result yet (its job may still be running)")
    if result.get("assistant", "offline") != hypothesis_set:
        from ..results import build_result  # another hypothesis set on the same run

        result = build_result(store, run_id, hypothesis_set)
    hyps = store.hypotheses(run_id, hypothesis_set).set_index("hypothesis_id")
    val = store.validations(run_id, hypothesis_set)
    tests = {(r.hypothesis_id, r.test): r.result for r in val.itertuples()}
    alphas = val["alpha"].dropna() if not val.empty else pd.Series(dtype=float)
    held_out = store.generations(run_id, split="validation")
    verdicts = store.annotations(run_id, hypothesis_set)
    hypotheses = []
    for h in result["hypotheses"]:
        row = dict(h)
        stored = hyps.loc[h["id"]].to_dict() if h["id"] in hyps.index else None
        row["examples"] = (None if stored is None else held_out_examples(
            held_out, stored, tests.get((h["id"], "discriminative"))))
        row["pairs"] = _generated_pairs(tests.get((h["id"], "generative")))
        row["verdict"] = verdicts.get(h["id"])  # the researcher's, from the Hypotheses page
        hypotheses.append(row)
    clusters = sorted(result["clusters"], key=lambda c: (  # untested (noise) last
        c["q_value"] if c["q_value"] is not None and c["q_value"] == c["q_value"] else 2.0,
        c["cluster_id"]))
    return _plain({
        "run_id": run_id, "created_at": str(run["created_at"])[:19], "status": run["status"],
        "model_a": run["model_a"], "model_b": run["model_b"], "spec_a": run["spec_a"],
        "spec_b": run["spec_b"], "prompt_set": run["prompt_set"], "settings": run["settings"],
        "cluster_settings": run["cluster_settings"], "n_texts": result["n_texts"],
        "baseline": result["baseline"], "coverage": result.get("coverage"),
        "self_check": result.get("self_check"),
        "assistant": hypothesis_set,
        "alpha": float(alphas.iloc[0]) if len(alphas) else 0.05,
        "n_clusters": len(clusters), "clusters": clusters[:TOP_CLUSTERS],
        "hypotheses": hypotheses, "failed_steps": result.get("failed_steps", []),
        "methods": methods_for(store, run_id, hypothesis_set, run)})


def methods_for(store, run_id: str, hypothesis_set: str, run: dict) -> dict:
    """Method name -> what its `show.report` keeps of it for this run and set (those with
    nothing stored left out), in the registry's order."""
    from ..methods.registry import METHODS

    found = {m.name: m.face.show.report(store, run_id, hypothesis_set, run) for m in METHODS}
    return {name: data for name, data in found.items() if data is not None}


def method_sections(data: dict) -> list:
    """The report sections of the methods with something stored for the run (registry order)."""
    from ..methods.registry import METHODS

    stored = data.get("methods", {})
    return [section for m in METHODS if m.name in stored
            for section in m.face.show.sections(stored[m.name])]
