"""The probe stage of a run: choose the hypotheses (default: the validated ones), play each
one's games and its control's (`game.play`, stored round by round), and summarise
(`summary.summarise`)."""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Optional

import pandas as pd

from ...config import ModelDiffError
from ...hypotheses.types import Hypothesis, ProbeContext
from ...progress import ProgressCallback
from .game import (ARMS, Game, Players, ProbeSettings, discovery_texts, labelled_examples, play,
                   progress_bar, rounds_of)
from .summary import summarise


def chosen_hypotheses(store, run_id: str, hypothesis_set: str,
                      ids: Optional[list[str]] = None) -> pd.DataFrame:
    """The hypotheses named, else the set's validated ones; a one-line reason when there are
    none to probe."""
    stored = store.hypotheses(run_id, hypothesis_set)
    if stored.empty:
        raise ModelDiffError(f"run {run_id} has no hypotheses in the set {hypothesis_set!r}")
    known = ", ".join(stored["hypothesis_id"])
    if ids:
        unknown = [i for i in ids if i not in set(stored["hypothesis_id"])]
        if unknown:
            raise ModelDiffError(f"no hypothesis {', '.join(unknown)} in run {run_id} "
                                 f"(it has {known})")
        return stored[stored["hypothesis_id"].isin(ids)]
    val = store.validations(run_id, hypothesis_set)
    validated = set(val.loc[val["validated"].fillna(False).astype(bool), "hypothesis_id"])
    if not validated:
        raise ModelDiffError(f"run {run_id} has no validated hypothesis to probe; name one with "
                             f"--hypothesis (it has {known})")
    return stored[stored["hypothesis_id"].isin(validated)]


def text_only(store, run_id: str) -> Optional[str]:
    """Why a stored run's pair cannot play (a side that is a file of answers), or None: the
    cheap check a page makes before starting a job (the job asks the sources themselves)."""
    from ...models.spec import ModelSpec

    run = store.get_run(run_id)
    if run is None:
        return f"no run {run_id} in the database"
    sides = [f"model {side} ({spec.label}) is a file of answers"
             for side, d in (("A", run["spec_a"]), ("B", run["spec_b"]))
             if (spec := ModelSpec.from_dict(d)).kind == "outputs"]
    if sides:
        return ("the probe game needs models that answer new prompts; " + "; ".join(sides))
    return None


def probe_run(store, run_id: str, hypothesis_set: str, chosen: pd.DataFrame, players: Players,
              settings: ProbeSettings, progress: Optional[ProgressCallback] = None) -> dict:
    """Play (or read back) every chosen hypothesis' games and its control's; the summary."""
    seed = players.generation.seed
    disc = discovery_texts(store, run_id)
    if set(disc["side"]) != {"A", "B"}:
        raise ModelDiffError(f"run {run_id} has no discovery texts of both models to probe from")
    ctx = ProbeContext(disc, labelled_examples(disc, settings.examples, seed),
                       rounds=settings.rounds, seed=seed)
    stored = store.probe_rounds(run_id, hypothesis_set, settings.key(seed))
    ids = set(chosen["hypothesis_id"])
    wanted = stored[stored["hypothesis_id"].isin(ids)
                    & (stored["game"] < settings.games) & (stored["round"] < settings.rounds)]
    bar = progress_bar(progress, len(chosen), settings, len(wanted))
    played = []
    for row in chosen.itertuples():
        h = Hypothesis(row.text, row.direction, row.source, row.predicate, row.evidence)
        memo = replace(ctx, memo={})  # one hypothesis' ranking of prompts, its rates by probe
        rounds = {"hypothesis": play(store, Game(run_id, hypothesis_set, row.hypothesis_id, h,
                                                 "hypothesis"), players, memo, settings, stored,
                                     bar)}
        # The control guesses the hypothesis arm's own rounds, without the hypothesis.
        rounds["control"] = play(store, Game(run_id, hypothesis_set, row.hypothesis_id, None,
                                             "control"), players, memo, settings, stored, bar,
                                 paired=rounds["hypothesis"])
        played.append({"hypothesis_id": row.hypothesis_id, "text": row.text,
                       "rounds": rounds["hypothesis"], "control_rounds": rounds["control"]})
    # Benjamini-Hochberg over every hypothesis of the set probed with these settings, those of
    # earlier calls too (as many rounds of theirs as this call plays): a hypothesis probed
    # alone in a call of its own is not spared the correction, and the page agrees.
    others = [h for h in _stored_games(stored, store.hypotheses(run_id, hypothesis_set),
                                       settings.games, settings.rounds)
              if h["hypothesis_id"] not in ids]
    summary = summarise(played + others, settings.alpha)
    return {"run_id": run_id, "hypothesis_set": hypothesis_set, "settings": settings.to_dict(),
            "bh_over": [h["hypothesis_id"] for h in summary],
            "hypotheses": [h for h in summary if h["hypothesis_id"] in ids]}


def _stored_games(rows: pd.DataFrame, hyps: pd.DataFrame, games: Optional[int] = None,
                  rounds: Optional[int] = None) -> list[dict]:
    """Stored rounds as `summarise` takes them, per hypothesis (both arms), cut to the first
    `games` games of `rounds` rounds when given."""
    if games is not None:
        rows = rows[(rows["game"] < games) & (rows["round"] < rounds)]
    texts = dict(zip(hyps["hypothesis_id"], hyps["text"]))
    played = []
    for hid, part in rows.groupby("hypothesis_id", sort=False):
        arms = {arm: rounds_of(part[part["arm"] == arm]) for arm in ARMS}
        played.append({"hypothesis_id": hid, "text": texts.get(hid, ""),
                       "rounds": arms["hypothesis"], "control_rounds": arms["control"]})
    return played


def stored_probe(store, run_id: str, hypothesis_set: str,
                 alpha: float = 0.05) -> Optional[dict]:
    """The summary of every round stored for a set (those of the latest settings), without
    playing anything; None when no game was played. `alpha`: the run's significance level."""
    keys = store.probe_settings(run_id, hypothesis_set)
    if not keys:
        return None
    rows = store.probe_rounds(run_id, hypothesis_set, keys[0])
    hyps = store.hypotheses(run_id, hypothesis_set)
    order = {h: i for i, h in enumerate(hyps["hypothesis_id"])}
    played = sorted(_stored_games(rows, hyps), key=lambda h: order.get(h["hypothesis_id"], 1e9))
    settings = json.loads(keys[0])
    return {"run_id": run_id, "hypothesis_set": hypothesis_set,
            "settings": {**settings, "alpha": alpha}, "hypotheses": summarise(played, alpha)}
