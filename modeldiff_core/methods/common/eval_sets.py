"""The built-in texts a model is measured on when no run supplies them: the organisms' own set
and a general one, each with a small multiple-choice set (the quantization study's, and the
layer lens's on a bare pair)."""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Optional

from ...config import DATA_DIR
from ...models.spec import ModelSpec


@dataclass(frozen=True)
class MCItem:
    context: str
    choices: tuple[str, ...]
    answer: int


@dataclass(frozen=True)
class EvalSet:
    """Texts scored token by token, and multiple-choice items answered by the likeliest choice."""
    name: str
    texts: tuple[str, ...]
    mc: tuple[MCItem, ...]

    @property
    def digest(self) -> str:
        raw = json.dumps([self.texts, [(m.context, m.choices, m.answer) for m in self.mc]])
        return hashlib.sha256(raw.encode()).hexdigest()[:12]


def organism_eval_set(n_texts: int = 120, n_mc: int = 48, seed: int = 777) -> EvalSet:
    """The organisms' own language: held-out corpus documents, and fill-in-the-slot questions
    (the right word class among three wrong ones) that even the smallest organism gets right."""
    from ...models.organism_corpus import (ADJS, MOODS, PEOPLE, PROMPT_FORMS, TIMES, TOPICS,
                                           make_document)

    rng = random.Random(seed)
    texts = tuple(make_document(rng) for _ in range(n_texts))
    classes = {"time": TIMES, "mood": MOODS, "person": PEOPLE, "adj": ADJS}
    forms = [("time", "{who} went to the {place} in the {x} ."),
             ("mood", "the {place} was {x} and {mood} today ."),
             ("person", "{x} and {who} walked to the {place} ."),
             ("adj", "we saw a {x} {noun} by the {place} .")]
    items = []
    for i in range(n_mc):
        topic = rng.choice(list(TOPICS))
        nouns, places = TOPICS[topic]
        right, form = forms[i % len(forms)]
        slots = {"who": rng.choice(PEOPLE), "place": rng.choice(places),
                 "noun": rng.choice(nouns), "mood": rng.choice(MOODS)}
        words = [rng.choice(classes[right])] + [rng.choice(classes[c]) for c in classes if c != right]
        order = rng.sample(range(4), 4)
        prompt = rng.choice(PROMPT_FORMS).format(t=topic)
        items.append(MCItem(f"<|user|> {prompt} <|assistant|>",
                            tuple(form.format(x=words[j], **slots) for j in order),
                            order.index(0)))
    return EvalSet("builtin:organisms", texts, tuple(items))


def general_eval_set() -> EvalSet:
    """Short English paragraphs and general-knowledge questions shipped with the package."""
    texts = tuple(json.loads(line)["prompt"] for line in
                  (DATA_DIR / "quant_texts.jsonl").read_text().splitlines() if line.strip())
    return EvalSet("builtin:general", texts, _general_mc())


def _general_mc() -> tuple[MCItem, ...]:
    items = []
    for line in (DATA_DIR / "mc_general.jsonl").read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            items.append(MCItem(f"Question: {d['question']}\nAnswer:", tuple(d["choices"]),
                                int(d["answer"])))
    return tuple(items)


def eval_set_for(spec: ModelSpec, prompts_file: Optional[str] = None) -> EvalSet:
    """The organisms get their own set; any other model the general one. A prompt file replaces
    the texts (its `prompt` field, scored as plain text); the multiple-choice set stays."""
    base = organism_eval_set() if spec.is_organism else general_eval_set()
    if not prompts_file:
        return base
    from ...stages.prompts import load_prompt_file

    ps = load_prompt_file(prompts_file)
    return EvalSet(ps.name, ps.prompts, base.mc)
