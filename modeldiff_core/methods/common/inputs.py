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
    a hypothesis_id to (texts, their prompts or None); `paired` holds the hypotheses whose
    evidence texts are contrast pairs, favoured then contrast, each pair differing only in
    what the hypothesis names."""
    texts: list[str] = field(default_factory=list)
    text_prompts: Optional[list[str]] = None
    prompts: list[str] = field(default_factory=list)
    hypotheses: list[dict] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)
    paired: set = field(default_factory=set)


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


def contrast_pairs(val, hypothesis_id: str, n: int = 32) -> Optional[tuple[list[str], list]]:
    """(texts, prompts) of up to `n` of the hypothesis' generated pairs (its generative test's,
    edited from held-out texts, in `val`: the set's stored tests), favoured then contrast:
    what the hypothesis names, the rest of each text held fixed. None when its generative
    test wrote no pairs."""
    gen = val[(val["hypothesis_id"] == hypothesis_id) & (val["test"] == "generative")]
    pairs = (gen.iloc[0]["result"] or {}).get("pairs") if not gen.empty else None
    if not pairs:
        return None
    texts, prompts = [], []
    for pair in pairs[:n]:
        texts += [pair["favoured"], pair["contrast"]]
        prompts += [pair.get("prompt")] * 2
    return texts, prompts


def scaling_inputs(store, run_id: str, hypothesis_set: str, n_evidence: int) -> LensInputs:
    """What a scaling view measures on, from a stored run: its validated hypotheses, each
    one's contrast pairs (or, where its generative test wrote none, its evidence texts) and
    the run's held-out prompts (for fresh generations). A hypothesis measured on its pairs is
    measured on what it names: two hypotheses never share them, where evidence texts (the
    favoured side's most typical) can be the same texts for several."""
    hyps = validated_hypotheses(store, run_id, hypothesis_set)
    evidence, paired = {}, set()
    val = store.validations(run_id, hypothesis_set)
    for h in hyps:
        hid = h["hypothesis_id"]
        pairs = contrast_pairs(val, hid, n_evidence)
        if pairs is not None:
            evidence[hid] = pairs
            paired.add(hid)
        else:
            evidence[hid] = evidence_texts(store, run_id, hypothesis_set, hid, n_evidence)
    prompts = store.prompts(run_id)
    return LensInputs(prompts=prompts[prompts["split"] == "validation"]["prompt"].tolist(),
                      hypotheses=hyps, evidence=evidence, paired=paired)


def measured_on(inputs: LensInputs) -> dict:
    """hypothesis_id -> what its log-prob gap is measured on, in words (for the result)."""
    return {h["hypothesis_id"]: "contrast pairs" if h["hypothesis_id"] in inputs.paired
            else "evidence texts" for h in inputs.hypotheses}
