"""The probe game: for each hypothesis, games of rounds in which the assistant writes a probe,
a hidden model (A or B by a seeded fair coin) answers it with the run's sampling settings, and
the assistant guesses which model answered. The control guesses the very same rounds — the
same probes, hidden models and answers — with the hypothesis left out, so the two arms differ
only in what the guesser was told (the paired test in `summary`). Every round is stored as it
finishes, so an interrupted game resumes at its first missing round, and a replayed round sends
the assistant the same requests (a cached LLM answers them again for free).

Why each round is one fair trial: the coin of a round is drawn afresh, independently of
everything before it. Where the hypothesis says nothing that tells the models apart, the
answers (and so the guess) carry no information about that coin, so each guess is right with
probability exactly 1/2, however the probes were chosen and whatever the earlier rounds showed."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Optional

import pandas as pd

from ...assistants.base import Prober
from ...hypotheses.types import Hypothesis, ProbeContext, ProbeRound
from ...progress import ProgressCallback, StageProgress
from .settings import ProbeSettings

ARMS = ("hypothesis", "control")


def _digest(*key) -> bytes:
    return hashlib.sha256(":".join(map(str, key)).encode()).digest()


def hidden_model(seed: int, hypothesis_id: str, arm: str, game: int, round_: int) -> str:
    """The round's hidden model: a fair coin of its own, recorded with the round."""
    return "B" if _digest("hidden", seed, hypothesis_id, arm, game, round_)[0] & 1 else "A"


def answer_seeds(seed: int, hypothesis_id: str, arm: str, game: int, round_: int,
                 k: int) -> list[int]:
    return [int.from_bytes(_digest("answer", seed, hypothesis_id, arm, game, round_, i)[:4], "big")
            for i in range(k)]


def rounds_of(rows: pd.DataFrame) -> list[ProbeRound]:
    """Stored rounds (rows of `Store.probe_rounds`) as ProbeRounds, in the rows' order."""
    return [ProbeRound(int(r.game), int(r.round), r.probe, r.hidden, list(r.answers), r.guess,
                       float(r.confidence)) for r in rows.itertuples()]


def _stored_rounds(stored: pd.DataFrame, hypothesis_id: str, arm: str) -> dict:
    part = stored[(stored["hypothesis_id"] == hypothesis_id) & (stored["arm"] == arm)]
    return {(r.game, r.round): r for r in rounds_of(part)}


@dataclass
class Game:
    """One hypothesis' games in one arm, and what they are played with."""
    run_id: str
    hypothesis_set: str
    hypothesis_id: str
    hypothesis: Optional[Hypothesis]  # None: the control
    arm: str


@dataclass
class Players:
    """Who plays: the assistant, and the two hidden models (side -> a source that answers new
    prompts) with the run's sampling settings."""
    assistant: Prober
    sources: dict
    generation: object  # GenerationSettings


def play(store, game: Game, players: Players, ctx: ProbeContext, settings: ProbeSettings,
         stored: pd.DataFrame, bar: Optional[StageProgress] = None,
         paired: Optional[list[ProbeRound]] = None) -> list[ProbeRound]:
    """Every round of the arm's games, stored ones read back, missing ones played and stored.
    `paired` (the control): the hypothesis arm's rounds, whose probes, hidden models and
    answers this arm guesses again; a stored round of another probe is played anew."""
    key, seed, assistant = settings.key(ctx.seed), ctx.seed, players.assistant
    done = _stored_rounds(stored, game.hypothesis_id, game.arm)
    given = {(r.game, r.round): r for r in paired or []}
    out = []
    for g in range(settings.games):
        history: list[ProbeRound] = []
        for r in range(settings.rounds):
            got, twin = done.get((g, r)), given.get((g, r))
            if got is not None and twin is not None and not got.same_trial(twin):
                got = None
            if got is None:
                here = replace(ctx, game=g, round=r, rounds=settings.rounds)
                if twin is not None:
                    probe, hidden, answers = twin.probe, twin.hidden, list(twin.answers)
                else:
                    probe = assistant.write_probe(game.hypothesis, history, here)
                    hidden = hidden_model(seed, game.hypothesis_id, game.arm, g, r)
                    seeds = answer_seeds(seed, game.hypothesis_id, game.arm, g, r,
                                         settings.answers)
                    answers = players.sources[hidden].answer(probe, players.generation, seeds,
                                                             game.run_id)
                guess, confidence = assistant.guess(game.hypothesis, history, probe, answers, here)
                got = ProbeRound(g, r, probe, hidden, answers, guess, confidence)
                store.save_probe_round(game.run_id, game.hypothesis_set, game.hypothesis_id, key,
                                       game.arm, asdict(got))
                if bar is not None:
                    bar.advance(1)
            # What the assistant sees of a finished round: never which model it was.
            history.append(replace(got, hidden=""))
            out.append(got)
    return out


def discovery_texts(store, run_id: str) -> pd.DataFrame:
    """The run's discovery texts with their prompts: what probes are chosen from and what
    examples are shown. Validation texts never steer the game."""
    disc = store.generations(run_id, split="discovery")
    return disc[["side", "prompt_id", "sample_idx", "prompt", "text"]]


def labelled_examples(disc: pd.DataFrame, n: int, seed: int) -> list[dict]:
    """n discovery prompts (seeded), each with one answer of A and one of B."""
    first = disc[disc["sample_idx"] == disc.groupby(["prompt_id", "side"])["sample_idx"]
                 .transform("min")]
    both = first.pivot_table(index=["prompt_id", "prompt"], columns="side", values="text",
                             aggfunc="first").dropna()
    if both.empty or n == 0:
        return []
    picked = both.sample(min(n, len(both)), random_state=seed % 2 ** 32)
    return [{"prompt": prompt, "a": row["A"], "b": row["B"]}
            for (_, prompt), row in picked.iterrows()]


def progress_bar(progress: Optional[ProgressCallback], n_hypotheses: int,
                 settings: ProbeSettings, done: int) -> StageProgress:
    total = n_hypotheses * len(ARMS) * settings.games * settings.rounds
    return StageProgress(progress, "probe", total, unit="rounds", done=min(done, total))
