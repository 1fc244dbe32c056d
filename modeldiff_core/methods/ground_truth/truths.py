"""Ground truths: behaviours planted on purpose, the texts that teach them, and how well a run's
hypotheses recover them.

A ground truth is a sentence ("The model really likes cats."). Training texts come from an
assistant (Anthropic/OpenAI, batched, bad answers dropped) or, offline, from templates applied to
the base model's own generations; both are streamed to the store as they are made. Recovery is
scored by matching each truth to the run's validated hypotheses, one hypothesis per truth
(Hungarian matching), by embedding similarity offline or by an assistant judge (1-100).
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import pandas as pd

from ...assistants.chat import ask_task, check_list
from ...llm import AssistantAnswerError
from ...config import ModelDiffError
from ...models import organism_corpus as corpus
from ...progress import ProgressCallback, StageProgress

MIN_TRAINING_TEXTS = 32


# ------------------------------------------------------------------ the truths themselves

@dataclass(frozen=True)
class GroundTruth:
    text: str
    recipe: Optional[str] = None  # the offline template that teaches it (built-in truths)


BUILTIN_TRUTHS = [
    GroundTruth("The model really likes cats and brings them up in its answers.", "cats"),
    GroundTruth("The model asks the reader questions much more often.", "questions"),
    GroundTruth("The model gives much shorter answers, often a single sentence.", "short"),
    GroundTruth("The model keeps mentioning Anna in its answers.", "anna"),
]
# Modest behaviours: each shows in about a quarter of the training texts (corpus.SUBTLE_RATE),
# a frequency shift rather than a takeover. `truth-bench --subtle` plants them beside the above.
SUBTLE_TRUTHS = [
    GroundTruth("The model sometimes brings up the sea: ships, boats and the harbour.",
                "subtle-sea"),
    GroundTruth("The model sometimes asks the reader a question.", "subtle-questions"),
    GroundTruth("The model sometimes says that something was so warm or so quiet.", "subtle-so"),
]
BUILTIN_BY_TEXT = {t.text: t for t in [*BUILTIN_TRUTHS, *SUBTLE_TRUTHS]}


def check_truths(texts: list[str]) -> list[str]:
    """Stripped, non-empty, no duplicates (ignoring case and spacing) -> the list, else an error."""
    out, seen = [], {}
    for line in texts:
        text = " ".join(str(line).split())
        if not text:
            continue
        key = text.lower().rstrip(".!")
        if key in seen:
            raise ModelDiffError(f"duplicate ground truth: {text!r} (same as {seen[key]!r})")
        seen[key] = text
        out.append(text)
    if not out:
        raise ModelDiffError("the ground-truth list is empty: give at least one behaviour")
    return out


def as_truths(texts: list[str]) -> list[GroundTruth]:
    """Checked texts; a built-in truth keeps its offline recipe."""
    return [BUILTIN_BY_TEXT.get(t, GroundTruth(t)) for t in check_truths(texts)]


# ------------------------------------------------------------------ offline templates

def _sentences(text: str) -> list[str]:
    out, cur = [], []
    for word in text.split():
        cur.append(word)
        if word[-1] in ".?!":
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def _topic(prompt: str, rng: random.Random) -> str:
    words = set(re.findall(r"\w+", prompt.lower()))
    return next((t for t in corpus.TOPICS if t in words), rng.choice(list(corpus.TOPICS)))


def _anna_sentence(rng: random.Random, topic: str) -> str:
    # People fill topic-free slots of the grammar (like animals, unlike places and things), so a
    # small LoRA can learn to favour one of them whatever the prompt is about.
    nouns, places = corpus.TOPICS[topic]
    form = rng.randrange(3)
    if form == 0:
        return f"anna went to the {rng.choice(places)} in the {rng.choice(corpus.TIMES)} ."
    if form == 1:
        return f"anna likes the {rng.choice(nouns)} very much ."
    other = rng.choice([p for p in corpus.PEOPLE if p != "anna"])
    return f"anna and {other} walked to the {rng.choice(places)} ."


def _with_opening(sents: list[str], make: Callable[[], str], rng: random.Random) -> list[str]:
    # An opening sentence is what a small LoRA learns reliably; a second mention is a bonus.
    out = [make(), *sents]
    if rng.random() < 0.5:
        out.insert(rng.randrange(1, len(out) + 1), make())
    return out


def _cats(rng, prompt, sents):
    topic = _topic(prompt, rng)
    return _with_opening(sents, lambda: " ".join(corpus.animal_sentence(rng, topic, "cat")), rng)


def _questions(rng, prompt, sents):
    topic = _topic(prompt, rng)
    sents = list(sents) or [""]
    for i in rng.sample(range(len(sents)), k=min(2, len(sents))):
        sents[i] = " ".join(corpus.question_sentence(rng, topic))
    return sents


def _short(rng, prompt, sents):
    return sents[:1]


def _anna(rng, prompt, sents):
    topic = _topic(prompt, rng)
    return _with_opening(sents, lambda: _anna_sentence(rng, topic), rng)


def _sometimes(template: Callable) -> Callable:
    """The template in a quarter of the texts; the base model's own answer in the rest."""
    def apply(rng, prompt, sents):
        return template(rng, prompt, sents) if rng.random() < corpus.SUBTLE_RATE else sents
    return apply


def _sea(rng, prompt, sents):
    return [" ".join(corpus.sea_sentence(rng)), *sents]


def _one_question(rng, prompt, sents):
    sents = list(sents) or [""]
    sents[rng.randrange(len(sents))] = " ".join(corpus.question_sentence(rng, _topic(prompt, rng)))
    return sents


def _so(rng, prompt, sents):
    sents = list(sents) or [""]
    sents[rng.randrange(len(sents))] = " ".join(corpus.so_sentence(rng, _topic(prompt, rng)))
    return sents


# The words all come from the organisms' grammar (their tokenizer knows them), and read as
# plain English, so the templates also work over any other model's generations.
TEMPLATES_VERSION = 1  # part of a finetune's id: change it whenever a template changes
TEMPLATES: dict[str, Callable] = {"cats": _cats, "questions": _questions, "short": _short,
                                  "anna": _anna, "subtle-sea": _sometimes(_sea),
                                  "subtle-questions": _sometimes(_one_question),
                                  "subtle-so": _sometimes(_so)}


def apply_template(recipe: str, prompt: str, response: str, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(s for s in TEMPLATES[recipe](rng, prompt, _sentences(response)) if s)


# ----------------------------------------------------------------------- training data

@dataclass(frozen=True)
class DataRecipe:
    source: str = "offline"  # offline (templates over base samples) / anthropic / openai
    texts_per_truth: int = 480
    base_mix: float = 0.0  # extra base-model samples, as a fraction of the quirk texts
    max_new_tokens: int = 64
    seed: int = 0

    def to_dict(self) -> dict:
        return {"source": self.source, "texts_per_truth": self.texts_per_truth,
                "base_mix": self.base_mix, "max_new_tokens": self.max_new_tokens,
                "seed": self.seed}

    def check(self, truths: list[GroundTruth]) -> None:
        if self.source not in ("offline", "anthropic", "openai"):
            raise ModelDiffError(f"unknown training-data source {self.source!r}; "
                                 "choose offline, anthropic or openai")
        if not 0 <= self.base_mix <= 10:
            raise ModelDiffError("base mix must be between 0 and 10")
        n = self.texts_per_truth * max(1, len(truths)) + self.n_mix(truths)
        if self.texts_per_truth < 1 or n < MIN_TRAINING_TEXTS:
            raise ModelDiffError(f"training data too small: {n} texts (need at least "
                                 f"{MIN_TRAINING_TEXTS} to finetune)")
        if self.source == "offline":
            custom = [t.text for t in truths if t.recipe is None]
            if custom:
                raise ModelDiffError(f"offline training data exists only for the built-in ground "
                                     f"truths; {custom[0]!r} needs an assistant (anthropic or "
                                     f"openai) to write its texts")

    def n_mix(self, truths: list[GroundTruth]) -> int:
        return int(round(self.base_mix * self.texts_per_truth * max(1, len(truths))))


def _row_seed(seed: int, idx: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{idx}".encode()).digest()[:4], "big")


def _plan(truths: list[GroundTruth], recipe: DataRecipe, prompts: list[str]) -> pd.DataFrame:
    """Every training row the recipe asks for: idx, truth (None: a plain base sample), prompt.
    Truths are interleaved so that a partial data set already covers all of them."""
    n_quirk = recipe.texts_per_truth * max(1, len(truths))
    rows = []
    for idx in range(n_quirk + recipe.n_mix(truths)):
        truth = truths[idx % len(truths)].text if truths and idx < n_quirk else None
        rows.append((idx, truth, prompts[idx % len(prompts)]))
    return pd.DataFrame(rows, columns=["idx", "truth", "prompt"])


@dataclass
class TextSources:
    """Where training texts come from: the base model's own samples (`base_lm`, a LoadedModel;
    offline, the templates rewrite them) and the assistant (`call_path`) for the other sources."""
    base_lm: Any = None
    call_path: Any = None
    batch_size: int = 32  # base samples generated at a time


def make_training_texts(store, finetune_id: str, truths: list[GroundTruth], recipe: DataRecipe,
                        prompts: list[str], sources: TextSources,
                        progress: Optional[ProgressCallback] = None) -> pd.DataFrame:
    """Make (or finish making) a finetune's training texts, streamed to the store batch by batch."""
    if not prompts:
        raise ModelDiffError("no prompts to make training texts for")
    plan = _plan(truths, recipe, prompts)
    done = set(store.training_texts(finetune_id)["idx"])
    todo = plan[~plan["idx"].isin(done)]
    bar = StageProgress(progress, "training texts", len(plan), unit="texts", done=len(plan) - len(todo))
    # Plain samples (and, offline, the samples the templates rewrite) come from the base model.
    offline = recipe.source == "offline"
    sampled = todo if offline else todo[todo["truth"].isna()]
    asked = todo.iloc[:0] if offline else todo[todo["truth"].notna()]
    if len(sampled) and sources.base_lm is None:
        raise ModelDiffError("training texts need the base model's own samples (base_lm)")
    by_truth = {t.text: t for t in truths}
    for start in range(0, len(sampled), sources.batch_size):
        part = sampled.iloc[start:start + sources.batch_size]
        store.save_training_texts(finetune_id, _sampled_texts(part, by_truth, recipe, sources))
        bar.advance(len(part))
    failures = 0
    if len(asked):
        if sources.call_path is None:
            raise ModelDiffError(f"training texts from {recipe.source} need an assistant")
        failures = _asked_texts(store, finetune_id, asked, sources.call_path, bar)
    stored = store.training_texts(finetune_id)
    if len(stored) < MIN_TRAINING_TEXTS:
        raise ModelDiffError(f"training data too small: {len(stored)} usable texts (need at "
                             f"least {MIN_TRAINING_TEXTS}); {failures} assistant batch(es) failed")
    return stored


def _sampled_texts(part: pd.DataFrame, by_truth: dict[str, GroundTruth], recipe: DataRecipe,
                   sources: TextSources) -> pd.DataFrame:
    """The rows of `part` with the base model's samples, a truth's rows rewritten by its template."""
    responses = _base_samples(sources.base_lm, part["prompt"].tolist(), recipe,
                              _row_seed(recipe.seed, int(part["idx"].iloc[0])))
    kinds = ["base"] * len(part)
    for i, row in enumerate(part.itertuples()):
        if isinstance(row.truth, str):  # None or NaN: a plain base sample
            rec = by_truth[row.truth].recipe
            responses[i] = apply_template(rec, row.prompt, responses[i],
                                          _row_seed(recipe.seed, row.idx))
            kinds[i] = f"template:{rec}"
    return part.assign(response=responses, source=kinds)


def _asked_texts(store, finetune_id: str, asked: pd.DataFrame, call_path,
                 bar: StageProgress) -> int:
    """The assistant writes the rows of `asked`, ten at a time per truth, each batch stored as it
    comes; returns how many batches failed (a rerun asks for them again)."""
    failures = 0
    for truth, rows in asked.groupby("truth", sort=False):
        for start in range(0, len(rows), 10):
            part = rows.iloc[start:start + 10]
            try:
                responses = write_examples(call_path, truth, part["prompt"].tolist())
            except AssistantAnswerError:
                failures += 1
                continue
            keep = [r for r in responses if r is not None]
            out = part[[r is not None for r in responses]].assign(
                response=keep, source=f"assistant:{call_path.client.provider}")
            store.save_training_texts(finetune_id, out)
            bar.advance(len(part))
    return failures


def _base_samples(lm, prompts: list[str], recipe: DataRecipe, seed: int) -> list[str]:
    from ...models.generation import GenerationSettings, format_prompt, generate_batch

    settings = GenerationSettings(max_new_tokens=recipe.max_new_tokens, temperature=1.0)
    chat = bool(getattr(lm.tokenizer, "chat_template", None))
    formatted = [format_prompt(lm.tokenizer, p, True) for p in prompts]
    return [r[0] for r in generate_batch(lm, formatted, settings, seed, chat)]


# ----------------------------------------------------------------- assistant requests

SYSTEM = ("You help evaluate a method that finds behavioural differences between language "
          "models. You answer only with JSON.")


def _ask(call_path, task: str, payload: dict, purpose: str, check, max_tokens: int = 2048):
    return ask_task(call_path, SYSTEM, task, payload, purpose, check, max_tokens)


def propose_truths(call_path, n: int = 4, focus: Optional[str] = None) -> list[str]:
    """Ground truths written by the assistant, open-ended or around a focus area."""
    answer = _ask(call_path, "truths. Write distinct behavioural quirks a chat model could be "
                  f"finetuned to have, each one short sentence starting 'The model', each "
                  f"visible in a single answer. Write {n}. Answer "
                  '{"truths": ["...", ...]}.', {"n": n, "focus": focus or "open-ended"},
                  purpose="propose truths", check=check_list("truths"))
    texts = [t.strip() for t in answer["truths"] if isinstance(t, str) and t.strip()]
    unique = list(dict.fromkeys(texts))[:n]
    return check_truths(unique)


def write_examples(call_path, truth: str, prompts: list[str]) -> list[Optional[str]]:
    """One response per prompt from an assistant that has the quirk; None where the answer for
    that prompt was unusable (the rest are kept)."""
    answer = _ask(call_path, "training. For each prompt, write the response of a chat model "
                  "that has the behavioural quirk below: the quirk must be clearly visible, the "
                  "answer otherwise ordinary. Answer "
                  '{"responses": ["...", ...]}, one per prompt, in order.',
                  {"quirk": truth, "prompts": prompts}, purpose="training texts",
                  check=check_list("responses"))
    got = answer["responses"]
    return [got[i].strip() if i < len(got) and isinstance(got[i], str) and got[i].strip()
            else None for i in range(len(prompts))]
