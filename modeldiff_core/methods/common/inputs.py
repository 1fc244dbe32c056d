"""What a scaling view measures on, read from a stored run: its validated hypotheses, their
evidence texts, its held-out prompts, and how the run sampled."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ...config import ModelDiffError
from ...hypotheses.validation import TEXT_KEY, judged_texts
from ...models.generation import GenerationSettings


@dataclass
class LensInputs:
    """What the lens measures on. texts (with text_prompts, their contexts, optional) feed the
    activation view; prompts are what fresh generations answer in the scaling view;
    hypotheses are dicts with hypothesis_id (plus text, direction, predicate); evidence maps
    a hypothesis_id to (texts, their prompts or None)."""
    texts: list[str] = field(default_factory=list)
    text_prompts: Optional[list[str]] = None
    prompts: list[str] = field(default_factory=list)
    hypotheses: list[dict] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)


def validated_hypotheses(store, run_id: str, hypothesis_set: str = "offline") -> list[dict]:
    """The run's hypotheses whose discriminative test passed (after Benjamini-Hochberg), as
    dicts: hypothesis_id, text, direction, source, predicate, evidence."""
    val = store.validations(run_id, hypothesis_set)
    if val.empty:
        return []
    passed = {r.hypothesis_id for r in val.itertuples()
              if r.test == "discriminative" and r.validated is not None
              and r.validated == r.validated and bool(r.validated)}
    hyps = store.hypotheses(run_id, hypothesis_set)
    return [{"hypothesis_id": r.hypothesis_id, "text": r.text, "direction": r.direction,
             "source": r.source, "predicate": r.predicate, "evidence": r.evidence}
            for r in hyps.itertuples() if r.hypothesis_id in passed]


def evidence_texts(store, run_id: str, hypothesis_set: str, hypothesis_id: str, n: int = 32
                   ) -> tuple[list[str], list[str]]:
    """(texts, prompts): validation texts of the side the hypothesis favours that the stored
    discriminative test scored most typical of it; failing that, those its predicate fires on.
    Empty when neither is available."""
    from ...hypotheses.predicates import predicate_fires

    hyps = store.hypotheses(run_id, hypothesis_set)
    match = hyps[hyps["hypothesis_id"] == hypothesis_id]
    if match.empty:
        raise ModelDiffError(f"run {run_id} has no hypothesis {hypothesis_id} ({hypothesis_set})")
    h = match.iloc[0]
    side = h["direction"] if h["direction"] in ("A", "B") else "B"
    gens = store.generations(run_id, split="validation")
    gens = gens[gens["side"] == side]
    val = store.validations(run_id, hypothesis_set)
    disc = val[(val["hypothesis_id"] == hypothesis_id) & (val["test"] == "discriminative")]
    scored = judged_texts(gens, disc.iloc[0]["result"] if not disc.empty else None)
    if scored is not None and not scored.empty:
        # Scores say "written by B": the most A-like texts are the lowest.
        scored = scored.assign(order=scored["score"] * (-1.0 if side == "B" else 1.0))
        top = scored.sort_values(["order", *TEXT_KEY]).head(n)
        return top["text"].tolist(), top["prompt"].tolist()
    pred = h["predicate"]
    if pred:
        fires_means_side = pred.get("favours", "B") == side
        hits = gens[[predicate_fires(pred, t) == fires_means_side for t in gens["text"]]]
        return hits["text"].tolist()[:n], hits["prompt"].tolist()[:n]
    return [], []


def run_generation(run: dict) -> GenerationSettings:
    """How a stored run sampled its texts (settings this version does not know left out)."""
    gen = (run["settings"] or {}).get("generation", {})
    return GenerationSettings(**{k: v for k, v in gen.items()
                                 if k in GenerationSettings.__dataclass_fields__})


def scaling_inputs(store, run_id: str, hypothesis_set: str, n_evidence: int) -> LensInputs:
    """What a scaling view measures on, from a stored run: its validated hypotheses, their
    evidence texts and its held-out prompts (for fresh generations)."""
    hyps = validated_hypotheses(store, run_id, hypothesis_set)
    evidence = {h["hypothesis_id"]: evidence_texts(store, run_id, hypothesis_set, h["hypothesis_id"],
                                                   n_evidence) for h in hyps}
    prompts = store.prompts(run_id)
    return LensInputs(prompts=prompts[prompts["split"] == "validation"]["prompt"].tolist(),
                      hypotheses=hyps, evidence=evidence)
