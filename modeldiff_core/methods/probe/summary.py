"""The probe game's statistics: each round is one trial. A hypothesis is probe-validated when
its arm beats the control — the same rounds (probes, hidden models, answers) guessed without the
hypothesis — in a paired exact test (McNemar's, one-sided), Benjamini-Hochberg across the
probed hypotheses at q < alpha. Beating 1/2 is not enough: a guesser shown labelled examples
can tell the models apart by their style alone, with or without the hypothesis. Each arm's
accuracy against 1/2 (exact binomial) is reported beside it, per game and per probe."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from ...hypotheses.stats import benjamini_hochberg, binomial_test_p
from ...hypotheses.types import ProbeRound


def _accuracy(rounds: list[ProbeRound]) -> dict:
    n, k = len(rounds), sum(r.correct for r in rounds)
    return {"n": n, "correct": k, "accuracy": k / n if n else float("nan")}


def arm_summary(rounds: list[ProbeRound]) -> dict:
    """Accuracy and its binomial p over all rounds; per game; per probe (the prompt-level view:
    did some probes tell the models apart every time and others never?)."""
    by_game: dict[int, list] = {}
    by_probe: dict[str, list] = {}
    for r in rounds:
        by_game.setdefault(r.game, []).append(r)
        by_probe.setdefault(r.probe, []).append(r)
    per_probe = sorted(({"probe": p, **_accuracy(rs)} for p, rs in by_probe.items()),
                       key=lambda d: (-d["accuracy"], -d["n"], d["probe"]))
    whole = _accuracy(rounds)
    # P(at least that many right | each guess right with probability 1/2): one-sided, exact.
    return {**whole, "p_value": binomial_test_p(whole["correct"], whole["n"]),
            "mean_confidence": float(np.mean([r.confidence for r in rounds])) if rounds else None,
            "per_game": [{"game": g, **_accuracy(rs)} for g, rs in sorted(by_game.items())],
            "per_probe": per_probe,
            "probes_always_right": sum(d["accuracy"] == 1 for d in per_probe),
            "probes_never_right": sum(d["accuracy"] == 0 for d in per_probe)}


def paired_test(rounds: list[ProbeRound], control_rounds: list[ProbeRound]) -> dict:
    """McNemar's exact test, one-sided, of the hypothesis arm against the control on the rounds
    they share: a round counts when the control guessed the same probe and answers of the same
    hidden model (rounds of an older game with probes of the control's own are left out).
    Under the null that the hypothesis tells the guesser nothing, the arm that is right in a
    round where the two disagree is a fair coin, so the hypothesis' wins among the
    disagreements are Binomial(disagreements, 1/2); p = 1 when they never disagree."""
    control = {(r.game, r.round): r for r in control_rounds}
    won = lost = n = 0
    for r in rounds:
        c = control.get((r.game, r.round))
        if c is None or not c.same_trial(r):
            continue
        n += 1
        won += r.correct and not c.correct
        lost += c.correct and not r.correct
    p = binomial_test_p(won, won + lost) if won + lost else 1.0
    return {"n": n, "won": int(won), "lost": int(lost), "p_value": p}


def summarise(played: list[dict], alpha: float) -> list[dict]:
    """played: per hypothesis {hypothesis_id, text, rounds, control_rounds}. Returns the
    per-hypothesis summary the CLI writes: rounds, accuracy and p_vs_chance (the arm against
    1/2), the paired test against the control (`paired`; its p is `p_value`), q_value (BH
    across the probed hypotheses), probe_validated, and the control's accuracy and p against
    1/2."""
    out = []
    for h in played:
        arm, control = arm_summary(h["rounds"]), arm_summary(h["control_rounds"])
        paired = paired_test(h["rounds"], h["control_rounds"])
        out.append({"hypothesis_id": h["hypothesis_id"], "text": h["text"],
                    "rounds": [{**asdict(r), "answer": r.answers[0] if r.answers else "",
                                "correct": r.correct} for r in h["rounds"]],
                    **arm, "p_vs_chance": arm["p_value"], "p_value": paired["p_value"],
                    "paired": paired,
                    "control_accuracy": control["accuracy"], "control_p_value": control["p_value"],
                    "control": {**control, "rounds": [{**asdict(r), "correct": r.correct}
                                                      for r in h["control_rounds"]]}})
    q = benjamini_hochberg([h["p_value"] for h in out]) if out else []
    for h, qq in zip(out, q):
        h["q_value"] = float(qq)
        h["probe_validated"] = bool(qq < alpha)
    return out
