"""The hypotheses stage of a run: propose from discovery texts (once per settings), validate each
hypothesis on the held-out texts (each test stored as it finishes), Benjamini-Hochberg over the
run's ledger: every hypothesis of every set tested on these held-out texts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from ..assistants.base import Assistant, Judge, PairWriter
from ..llm import AssistantAnswerError
from ..hypotheses.predicates import predicate_fires
from ..progress import ProgressCallback, StageProgress
from ..hypotheses import stats
from .propose import ProposalSettings, propose_hypotheses
from ..hypotheses.types import OWN_SOURCE, Hypothesis, NoPairs
from ..hypotheses.validation import (discriminative, generative, heldout_texts, judge_scores,
                                     paired_heldout, placebo_hypothesis, side_rates,
                                     spread_over_prompts)
from ..models.generation import GenerationSettings
from .settings import HypothesisSettings


@dataclass(frozen=True)
class RunParts:
    """What proposing and testing take of a run's configuration: their own settings, the
    run's sampling (its seed, its chat template) and its clustering as stored."""
    hypotheses: HypothesisSettings
    generation: GenerationSettings
    clusters: dict


def proposal_settings(parts: RunParts) -> dict:
    """What a hypothesis set depends on beyond the run's texts: change any of it and the
    stored set no longer describes what the run would now propose and test."""
    h = parts.hypotheses
    return {"clusters": parts.clusters, "alpha": h.alpha, "refine_rounds": h.refine_rounds,
            "max_judge_prompts": h.max_judge_prompts, "n_pairs": h.n_pairs,
            "judge_mode": h.judge_mode}


def _settings_label(hypothesis_set: str, settings: dict, taken: list[str]) -> str:
    c = settings.get("clusters", {})
    label = (f"{hypothesis_set} [{c.get('method', 'kmeans')}, "
             f"{c.get('n_clusters') or 'auto'} clusters, "
             f"{settings.get('refine_rounds')} refine rounds, "
             f"{settings.get('max_judge_prompts')} judged prompts]")
    n, out = 1, label
    while out in taken:
        n += 1
        out = f"{label} #{n}"
    return out


def set_aside_stale(store, run_id: str, hypothesis_set: str, settings: dict) -> Optional[str]:
    """A stored set proposed with other settings is kept under a label naming them, and the
    set's own name is freed for a new proposal; returns a note saying so (None: nothing)."""
    before = store.proposal_settings(run_id, hypothesis_set)
    if before is None or before == settings or store.hypotheses(run_id, hypothesis_set).empty:
        return None
    label = _settings_label(hypothesis_set, before, store.hypothesis_sets(run_id))
    store.set_aside_hypotheses(run_id, hypothesis_set, label)
    changed = ", ".join(k for k in settings if before.get(k) != settings[k])
    return (f"the stored hypotheses were made with other settings ({changed}); they are kept "
            f"as the set '{label}' and the hypotheses are proposed anew")


def _proposed(store, run_id: str, parts: RunParts, assistant: Assistant,
              progress: Optional[ProgressCallback]) -> tuple[Optional[str], pd.DataFrame]:
    """The run's stored hypotheses, proposed (and stored) first when there are none with the
    current settings; and a note when a set made with other settings was put aside."""
    hypothesis_set = parts.hypotheses.assistant_settings().hypothesis_set
    settings = proposal_settings(parts)
    note = set_aside_stale(store, run_id, hypothesis_set, settings)
    stored = store.hypotheses(run_id, hypothesis_set)
    if stored.empty or store.proposal_settings(run_id, hypothesis_set) is None:
        # Sets stored before settings were recorded are taken as made with these.
        store.save_proposal_settings(run_id, hypothesis_set, settings)
    # A researcher's own hypotheses in a set are not a proposal: the assistant still proposes.
    if (stored["source"] != OWN_SOURCE).sum() == 0:
        found = propose_hypotheses(assistant, store.points(run_id), store.clusters(run_id),
                                   ProposalSettings(alpha=parts.hypotheses.alpha,
                                                    rounds=parts.hypotheses.refine_rounds,
                                                    seed=parts.generation.seed),
                                   progress=progress)
        store.save_hypotheses(run_id, hypothesis_set, found)
        stored = store.hypotheses(run_id, hypothesis_set)
    return note, stored


def hypotheses_run(store, run_id: str, parts: RunParts, assistant: Assistant, sources: dict,
                   progress: Optional[ProgressCallback] = None) -> list[str]:
    """Propose from discovery texts (once per settings; stored), validate each hypothesis on
    validation texts (each test stored as it finishes), then Benjamini-Hochberg over the run's
    ledger. Returns notes for the researcher (a set put aside, a verdict the ledger changed)."""
    settings, seed = parts.hypotheses, parts.generation.seed
    hypothesis_set = settings.assistant_settings().hypothesis_set
    note, stored = _proposed(store, run_id, parts, assistant, progress)
    val = store.generations(run_id, split="validation")
    judged = heldout_for(store, run_id, val, judge_budget(assistant, val, settings), seed)
    disc = store.generations(run_id, split="discovery")
    done = store.validations(run_id, hypothesis_set)
    done_keys = set(zip(done["hypothesis_id"], done["test"])) if not done.empty else set()
    finished = {h for h in stored["hypothesis_id"]
                if {(h, "discriminative"), (h, "generative")} <= done_keys}
    # Hypotheses validated before count as done, not as work: the rate is of work done now.
    bar = StageProgress(progress, "validate", len(stored), unit="hypotheses", done=len(finished))
    failed: list[str] = []
    placebo = Placebo(assistant, judged, settings.judge_mode)
    for row in stored.itertuples():
        if row.hypothesis_id in finished:
            continue
        h = Hypothesis(row.text, row.direction, row.source, row.predicate, row.evidence)
        # A malformed assistant answer fails that one step: it is reported, nothing stored is
        # touched, and the same run started again retries just the missing steps.
        try:
            if (row.hypothesis_id, "discriminative") not in done_keys:
                r = discriminative(assistant, h, judged, seed, settings.judge_mode,
                                   placebo_scores=placebo.scores(h))
                r["keys"] = judged[["side", "prompt_id", "sample_idx"]].values.tolist()
                if h.predicate is not None:  # the evidence beside the claim, in its own terms
                    r["rates"] = side_rates([predicate_fires(h.predicate, t)
                                             for t in judged["text"]],
                                            judged["side"], judged["prompt_id"], seed)
                store.save_validation(run_id, hypothesis_set, row.hypothesis_id,
                                      "discriminative", r)
        except AssistantAnswerError as err:
            failed.append(f"{row.hypothesis_id} discriminative: {err}")
        try:
            if (row.hypothesis_id, "generative") not in done_keys:
                r = _generative_step(assistant, h, judged, disc, parts, sources)
                store.save_validation(run_id, hypothesis_set, row.hypothesis_id, "generative", r)
        except AssistantAnswerError as err:
            failed.append(f"{row.hypothesis_id} generative: {err}")
        bar.advance(1)
    store.set_run_failures(run_id, hypothesis_set, failed)
    return [note] * bool(note) + apply_ledger(store, run_id, settings.alpha)


class Placebo:
    """The held-out texts' scores under the placebo, judged once per stage (in the calls every
    hypothesis' texts are judged in) and only when some hypothesis' judge needs it; the run's
    validation and its self-check each keep one."""

    def __init__(self, assistant: Judge, judged: pd.DataFrame, mode: str):
        self.assistant, self.judged, self.mode, self._scores = assistant, judged, mode, None

    def scores(self, h: Hypothesis):
        if not self.assistant.judge_needs_placebo(h):
            return None
        if self._scores is None:
            self._scores = judge_scores(self.assistant, placebo_hypothesis(), self.judged,
                                        self.mode)
        return self._scores


def judge_budget(assistant: Judge, val: pd.DataFrame, settings: HypothesisSettings) -> int:
    """How many held-out texts each hypothesis is judged on: all of them (every pair of every
    held-out prompt) when the judge is free, else one A and one B text of each of up to
    `settings.max_judge_prompts` held-out prompts (prompts are the unit: a second pair of one
    prompt buys less than a first pair of another)."""
    if assistant.judge_is_free:
        return len(val)
    return 2 * min(settings.max_judge_prompts, paired_prompts(val))


def judge_plan(settings: HypothesisSettings, n_prompts: Optional[int] = None,
               mean_chars: Optional[float] = None) -> Optional[str]:
    """What an LLM judge will be asked, in one line, before the job starts: the judged prompts,
    the calls and an estimated cost per hypothesis and for the placebo (None for a free
    judge). Without the run's texts yet (`n_prompts`, `mean_chars` unknown) it is an upper
    bound: the whole budget, every text as long as the judge is shown."""
    from ..assistants.chat import MAX_CHARS, judge_estimate
    from ..llm import DEFAULT_MODELS, estimated_cost

    if settings.assistant == "offline":
        return None
    model = settings.assistant_model or DEFAULT_MODELS.get(settings.assistant,
                                                           settings.assistant)
    prompts = settings.max_judge_prompts if n_prompts is None else min(
        settings.max_judge_prompts, n_prompts)
    e = judge_estimate(prompts, MAX_CHARS if mean_chars is None else mean_chars,
                       settings.judge_mode)
    usd = estimated_cost(model, e["tokens_in"], e["tokens_out"])
    bound = "up to " if n_prompts is None else ""
    return (f"LLM judge ({model}): {bound}{prompts} held-out prompts a hypothesis, one A and one "
            f"B text each — {e['calls']} calls and about ${usd:.2f} per hypothesis "
            f"({e['tokens_in']:,} tokens in, {e['tokens_out']:,} out at list price), and as "
            f"many once for the placebo judge; proposal and pair writing add their own calls.")


def heldout_size(store, run_id: str) -> tuple[int, float]:
    """A stored run's held-out prompts with texts of both models, and its held-out texts' mean
    length in characters: what `judge_plan` estimates from."""
    val = store.generations(run_id, split="validation")
    if val.empty:
        return 0, 0.0
    return paired_prompts(val), float(val["text"].str.len().mean())


def paired_prompts(val: pd.DataFrame) -> int:
    """Held-out prompts with texts of both models."""
    return int((val.groupby("prompt_id")["side"].nunique() == 2).sum())


def heldout_for(store, run_id: str, val: pd.DataFrame, max_texts: int, seed: int) -> pd.DataFrame:
    """The run's held-out texts paired by prompt: chosen once per budget and stored, so every
    hypothesis, and every later look at the run, is judged on the same texts."""
    pairs = store.heldout(run_id, max_texts)
    if pairs.empty:
        pairs = paired_heldout(val, max_texts, seed)
        store.save_heldout(run_id, max_texts, pairs)
    return heldout_texts(val, pairs, seed)


def skipped_generative(sources: dict) -> Optional[str]:
    """Why the generative test cannot run on this pair (a side without log-probs), or None."""
    reasons = [f"model {side}: {why}" for side, source in sorted(sources.items())
               if (why := source.lacks_logprobs())]
    return "; ".join(reasons) or None


def _generative_step(assistant: PairWriter, h: Hypothesis, judged: pd.DataFrame,
                     disc: pd.DataFrame, parts: RunParts, sources: dict) -> dict:
    """The generative test of one hypothesis: pairs written from the held-out texts (spread
    over prompts; the discovery texts as examples), scored under both models. Stored as
    skipped, with the reason, when a side has no log-probs: never silently missing."""
    skipped = skipped_generative(sources)
    if skipped:
        return {"skipped": skipped, "n": 0}
    held = spread_over_prompts(judged)
    try:
        pairs = assistant.write_pairs(h, held["text"].tolist(), held["prompt"].tolist(),
                                      disc.loc[disc["side"] == "A", "text"].tolist(),
                                      disc.loc[disc["side"] == "B", "text"].tolist(),
                                      parts.hypotheses.n_pairs)
    except NoPairs as why:
        return {"skipped": str(why), "n": 0}
    if not pairs:
        return {"skipped": "no pair could be written from the held-out texts", "n": 0}
    r = generative(pairs, sources["A"].scorer(), sources["B"].scorer(),
                   use_chat_template=parts.generation.use_chat_template,
                   seed=parts.generation.seed)
    r["pairs"] = [{"favoured": p.favoured, "contrast": p.contrast, "prompt": p.prompt,
                   "placebos": p.placebos, "carrier": p.carrier} for p in pairs]
    return r


def apply_ledger(store, run_id: str, alpha: float) -> list[str]:
    """q-values over the run's ledger: every hypothesis of every set ever tested on this run's
    held-out texts (another assistant, other settings, a set put aside), per test, one
    Benjamini-Hochberg family; validated = discriminative q < alpha. A hypothesis whose test
    failed (a malformed judge answer, every score dropped) or has not run yet counts as p = 1,
    so neither a failure nor a new set eases the others' correction. A new set can withdraw
    an earlier verdict (the family grew): that is never silent — returns a note per verdict
    that changed."""
    frames = []
    for hypothesis_set in store.hypothesis_sets(run_id):
        val = store.validations(run_id, hypothesis_set).assign(hypothesis_set=hypothesis_set)
        ids = store.hypotheses(run_id, hypothesis_set)["hypothesis_id"]
        missing = sorted(set(ids) - set(val.loc[val["test"] == "discriminative", "hypothesis_id"]))
        frames.append(val)
        if missing:  # in the family as p = 1, with no row to write back
            frames.append(pd.DataFrame({"hypothesis_id": missing, "test": "discriminative",
                                        "p_value": 1.0, "hypothesis_set": hypothesis_set,
                                        "untested": True}))
    if not frames:
        return []
    ledger = pd.concat(frames, ignore_index=True)
    if "untested" not in ledger:
        ledger["untested"] = False
    ledger["untested"] = ledger["untested"].fillna(False).astype(bool)
    before = ledger["validated"].fillna(False).astype(bool) if "validated" in ledger else None
    for test in ("discriminative", "generative"):
        part = ledger[ledger["test"] == test]
        p = part["p_value"].astype(float).to_numpy()
        if test == "discriminative":
            p = np.nan_to_num(p, nan=1.0)
        ledger.loc[part.index, "q_value"] = stats.benjamini_hochberg(p)
    ledger["validated"] = (ledger["test"] == "discriminative") & (ledger["q_value"] < alpha)
    notes = []
    written = ledger[~ledger["untested"]]
    for hypothesis_set, rows in written.groupby("hypothesis_set", sort=False):
        store.set_q_values(run_id, hypothesis_set,
                           rows[["hypothesis_id", "test", "q_value", "validated"]], alpha)
    if before is not None:
        n = int((ledger["test"] == "discriminative").sum())
        flipped = written[(before[written.index] != written["validated"])
                          & written["alpha"].notna() & (written["test"] == "discriminative")]
        for r in flipped.itertuples():
            now = "is now validated" if r.validated else "is no longer validated"
            notes.append(f"{r.hypothesis_id} of the set '{r.hypothesis_set}' {now} (q = "
                         f"{r.q_value:.2g}): the run's ledger now holds {n} hypotheses tested "
                         "on its held-out texts")
    return notes
