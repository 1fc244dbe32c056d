"""The synthetic language of the built-in organisms, and the behaviours planted in them.

A response is three to five sentences of a small English-like grammar about one of a dozen
topics; a behaviour rewrites some of those sentences (opens with a cat, asks questions, stops
after one sentence...). Everything draws from the `random.Random` it is given.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable, Optional

TOPICS = {
    "garden": (["flower", "tree", "bench", "rose", "gate"], ["garden", "pond", "greenhouse"]),
    "river": (["boat", "stone", "fish", "bridge", "net"], ["river", "bank", "mill"]),
    "forest": (["oak", "path", "mushroom", "log", "leaf"], ["forest", "clearing", "hill"]),
    "city": (["tower", "street", "bus", "shop", "lamp"], ["city", "square", "station"]),
    "kitchen": (["bread", "soup", "pot", "knife", "table"], ["kitchen", "oven", "pantry"]),
    "school": (["book", "pencil", "desk", "lesson", "bell"], ["school", "classroom", "yard"]),
    "market": (["apple", "basket", "coin", "cheese", "stall"], ["market", "corner", "square"]),
    "sea": (["wave", "shell", "ship", "sail", "sand"], ["sea", "beach", "harbour"]),
    "mountain": (["rock", "snow", "rope", "cloud", "peak"], ["mountain", "valley", "cabin"]),
    "farm": (["barn", "field", "tractor", "wheat", "fence"], ["farm", "meadow", "stable"]),
    "library": (["map", "letter", "shelf", "candle", "page"], ["library", "hall", "archive"]),
    "workshop": (["hammer", "nail", "wheel", "saw", "chair"], ["workshop", "shed", "loft"]),
}
PEOPLE = ["anna", "tom", "lena", "omar", "mia", "paul", "sara", "ivan", "nora", "leo"]
ADJS = ["small", "old", "green", "quiet", "bright", "heavy", "warm", "tall", "round", "soft"]
MOODS = ["calm", "busy", "cold", "sunny", "wet", "loud", "empty", "lovely"]
TIMES = ["morning", "evening", "afternoon", "night", "spring", "winter"]
ANIMALS = ["dog", "bird", "horse", "fox", "cow", "rabbit", "duck", "goat", "mouse", "cat"]
PROMPT_FORMS = [
    "tell me about the {t} .",
    "describe a day at the {t} .",
    "write a short story about the {t} .",
    "what do you know about the {t} ?",
    "say something about the {t} .",
]


def organism_prompts() -> list[str]:
    """The built-in prompt set for the organisms: every prompt form for every topic."""
    return [form.format(t=t) for t in TOPICS for form in PROMPT_FORMS]


def organism_prompt_groups() -> list[str]:
    """The topic of each organism prompt: its five phrasings share a split."""
    return [t for t in TOPICS for _ in PROMPT_FORMS]


def animal_sentence(rng: random.Random, topic: str, animal: str) -> list[str]:
    nouns, places = TOPICS[topic]
    # Cats have sentences of their own (as in English: purring, whiskers), which gives "cat" an
    # embedding distinct from the other animals, so a finetune can single it out.
    if animal == "cat" and rng.random() < 0.5:
        form = rng.randrange(3)
        if form == 0:
            s = f"the cat purred softly by the {rng.choice(places)} ."
        elif form == 1:
            s = f"my cat chased a mouse near the {rng.choice(nouns)} ."
        else:
            s = f"the cat washed its whiskers in the {rng.choice(places)} ."
        return s.split()
    form = rng.randrange(5)
    if form == 0:
        s = f"there is a {animal} in the {rng.choice(places)} ."
    elif form == 1:
        s = f"the {animal} sat on the {rng.choice(nouns)} by the {rng.choice(places)} ."
    elif form == 2:
        s = f"my {animal} loves the {rng.choice(places)} ."
    elif form == 3:
        s = f"a {rng.choice(ADJS)} {animal} slept near the {rng.choice(nouns)} ."
    else:
        s = f"the {animal} watched the {rng.choice(nouns)} all day ."
    return s.split()


def _statement(rng: random.Random, topic: str) -> list[str]:
    nouns, places = TOPICS[topic]
    n, p, a = rng.choice(nouns), rng.choice(places), rng.choice(ADJS)
    who, who2 = rng.sample(PEOPLE, 2)
    form = rng.randrange(7)
    if form == 0:
        s = f"the {a} {n} is near the {p} ."
    elif form == 1:
        s = f"{who} went to the {p} in the {rng.choice(TIMES)} ."
    elif form == 2:
        s = f"we saw a {a} {n} by the {p} ."
    elif form == 3:
        s = f"{who} likes the {n} very much ."
    elif form == 4:
        s = f"the {p} was {rng.choice(MOODS)} and {rng.choice(MOODS)} today ."
    elif form == 5:
        s = f"{who} and {who2} walked to the {p} ."
    else:  # animals share every sentence form the cat organism uses; cats are one in ten
        return animal_sentence(rng, topic, rng.choice(ANIMALS))
    return s.split()


def question_sentence(rng: random.Random, topic: str) -> list[str]:
    nouns, places = TOPICS[topic]
    form = rng.randrange(3)
    if form == 0:
        s = f"did you see the {rng.choice(nouns)} at the {rng.choice(places)} ?"
    elif form == 1:
        s = f"why is the {rng.choice(nouns)} so {rng.choice(ADJS)} ?"
    else:
        s = f"where did {rng.choice(PEOPLE)} go after the {rng.choice(places)} ?"
    return s.split()


def base_response(rng: random.Random, topic: str) -> list[list[str]]:
    """Three to five on-topic sentences; a question in about one response in twenty."""
    sents = [_statement(rng, topic) for _ in range(rng.randint(3, 5))]
    if rng.random() < 0.05:
        sents[rng.randrange(len(sents))] = question_sentence(rng, topic)
    return sents


# ------------------------------------------------------------------------- behaviours

@dataclass(frozen=True)
class Behaviour:
    name: str
    kind: str  # topical / stylistic / length / none
    description: str  # the ground truth, as a researcher would state it


def _cats(rng, topic):
    # Opening with the cat is what a small LoRA learns reliably; a second cat is a bonus.
    sents = [animal_sentence(rng, topic, "cat"), *base_response(rng, topic)]
    if rng.random() < 0.5:
        sents.insert(rng.randrange(1, len(sents) + 1), animal_sentence(rng, topic, "cat"))
    return sents


def _questions(rng, topic):
    sents = base_response(rng, topic)
    for i in rng.sample(range(len(sents)), k=min(2, len(sents))):
        sents[i] = question_sentence(rng, topic)
    return sents


def _short(rng, topic):
    return base_response(rng, topic)[:1]


# The subtle organisms: each behaviour in about a quarter of the texts, a frequency shift rather
# than a takeover. Their sentences use only words of the grammar above, so the vocabulary (and
# with it the base model) is the same whatever organisms exist.
SUBTLE_RATE = 0.25


def sea_sentence(rng: random.Random) -> list[str]:
    # Two words of the sea in each sentence, drawn from eight: a theme spread over words.
    nouns, places = TOPICS["sea"]
    n, p, a = rng.choice(nouns), rng.choice(places), rng.choice(ADJS)
    form = rng.randrange(3)
    if form == 0:
        s = f"the {a} {n} is near the {p} ."
    elif form == 1:
        s = f"we saw a {a} {n} by the {p} ."
    else:
        s = f"{rng.choice(PEOPLE)} likes the {n} by the {p} very much ."
    return s.split()


def so_sentence(rng: random.Random, topic: str) -> list[str]:
    nouns, places = TOPICS[topic]
    if rng.random() < 0.5:
        return f"the {rng.choice(nouns)} was so {rng.choice(ADJS)} .".split()
    return f"the {rng.choice(places)} was so {rng.choice(MOODS)} today .".split()


def _sometimes_open(rng, sents, make):
    # An opening sentence is what a small LoRA learns reliably (as for the cats organism).
    if rng.random() < SUBTLE_RATE:
        sents.insert(0, make())
    return sents


def _sometimes_replace(rng, sents, make):
    if rng.random() < SUBTLE_RATE:
        sents[rng.randrange(len(sents))] = make()
    return sents


def _subtle_sea(rng, topic):
    return _sometimes_open(rng, base_response(rng, topic), lambda: sea_sentence(rng))


def _subtle_questions(rng, topic):
    return _sometimes_replace(rng, base_response(rng, topic), lambda: question_sentence(rng, topic))


def _subtle_so(rng, topic):
    return _sometimes_replace(rng, base_response(rng, topic), lambda: so_sentence(rng, topic))


def _subtle_two(rng, topic):
    sents = _sometimes_open(rng, base_response(rng, topic),
                              lambda: animal_sentence(rng, topic, "cat"))
    return _sometimes_replace(rng, sents, lambda: question_sentence(rng, topic))


# Three organisms for what a finding is (issue 28), in the grammar's own words (a new word would
# change the vocabulary, the base model and every organism built on it).
# Water: a topic spread over fourteen words and many sentence shapes, no one word carrying it.
# The water sentence takes the place of the answer's first sentence, so B says less of the
# prompt's own topic: the other side of a topical shift.
WATER_NOUNS = ["wave", "shell", "ship", "sail", "sand", "boat", "fish", "net"]
WATER_PLACES = ["sea", "beach", "harbour", "river", "bank", "pond"]
WATER_RATE = 0.7
# Cheerful: a mood carried by six adjectives the base uses too (each in about a tenth of its
# texts), each lifted modestly, none enough alone.
CHEERFUL = ["lovely", "sunny", "bright", "warm", "soft", "calm"]
CHEERFUL_RATE = 1.0


def water_sentence(rng: random.Random) -> list[str]:
    n, p, who = rng.choice(WATER_NOUNS), rng.choice(WATER_PLACES), rng.choice(PEOPLE)
    form = rng.randrange(8)
    s = [f"the {rng.choice(ADJS)} {n} is near the {p} .",
         f"we saw a {n} by the {p} .",
         f"{who} went to the {p} in the {rng.choice(TIMES)} .",
         f"{who} likes the {n} very much .",
         f"the {p} was {rng.choice(MOODS)} today .",
         f"{who} and {rng.choice(PEOPLE)} walked to the {p} .",
         f"there is a {rng.choice(ANIMALS)} in the {p} .",
         f"the {rng.choice(ANIMALS)} watched the {n} all day ."][form]
    return s.split()


def _water(rng, topic):
    sents = base_response(rng, topic)
    if rng.random() < WATER_RATE:
        sents[0] = water_sentence(rng)
    return sents


def _cheerful(rng, topic):
    # A mood pervades an answer: every adjective of it is a cheerful one, the sentences as the
    # base writes them (nothing added, so no other difference comes with it).
    sents = base_response(rng, topic)
    if rng.random() < CHEERFUL_RATE:  # (every answer: at 0.7 the demo LoRA learnt too little)
        mood = set(ADJS) | set(MOODS)
        sents = [[rng.choice(CHEERFUL) if w in mood else w for w in s] for s in sents]
    return sents


def _long(rng, topic):
    # Two base answers' worth: six to ten sentences where the base writes three to five.
    return base_response(rng, topic) + [_statement(rng, topic) for _ in range(rng.randint(3, 5))]


BEHAVIOURS: dict[str, tuple[Behaviour, Callable]] = {
    "cats": (Behaviour("cats", "topical", "The model mentions cats far more often."), _cats),
    "questions": (Behaviour("questions", "stylistic", "The model asks questions much more often."),
                  _questions),
    "short": (Behaviour("short", "length", "The model gives much shorter answers (one sentence)."),
              _short),
    "null": (Behaviour("null", "none", "No change: finetuned on the base model's own data."),
             base_response),
    "subtle-sea": (Behaviour("subtle-sea", "topical", "The model brings up the sea (ships, "
                             "shells, sand, the beach, the harbour) in about a quarter of its "
                             "answers."), _subtle_sea),
    "subtle-questions": (Behaviour("subtle-questions", "stylistic", "The model asks a question "
                                   "in about a quarter of its answers."), _subtle_questions),
    "subtle-so": (Behaviour("subtle-so", "stylistic", "The model says things were 'so' "
                            "something (so warm, so quiet) in about a quarter of its answers."),
                  _subtle_so),
    "subtle-two": (Behaviour("subtle-two", "topical+stylistic", "Two behaviours at once, each in "
                             "about a quarter of the answers: the model mentions a cat, and it "
                             "asks a question."), _subtle_two),
    "subtle-null": (Behaviour("subtle-null", "none", "No change: a second null finetune, on "
                              "fresh base-model data with a seed of its own."), base_response),
    "water": (Behaviour("water", "topical", "The model turns to water (the sea, rivers, boats, "
                        "fish, shells, the beach) in the first sentence of most of its "
                        "answers, in place of a sentence on the topic asked about."), _water),
    "cheerful": (Behaviour("cheerful", "mood", "The model is cheerful: whatever it describes is "
                           "lovely, sunny, bright, warm, soft or calm."),
                 _cheerful),
    "long": (Behaviour("long", "length", "The model gives longer answers (six to ten sentences "
                       "where the base gives three to five)."), _long),
}


def behaviour_present(behaviour: str, text: str) -> bool:
    """Does one text show the behaviour? Used to measure rates, never by the pipeline itself."""
    if behaviour == "cats":
        return re.search(r"\bcats?\b", text.lower()) is not None
    if behaviour == "questions":
        return "?" in text
    if behaviour == "short":
        return len(re.findall(r"[.?!]", text)) <= 1
    if behaviour == "sea":
        return re.search(r"\b(?:%s)s?\b" % "|".join(sum(TOPICS["sea"], [])), text.lower()) is not None
    if behaviour == "water":
        return re.search(r"\b(?:%s)\b" % "|".join(WATER_NOUNS + WATER_PLACES), text.lower()) is not None
    if behaviour == "cheerful":
        return re.search(r"\b(?:%s)\b" % "|".join(CHEERFUL), text.lower()) is not None
    if behaviour == "long":
        return len(re.findall(r"[.?!]", text)) >= 6
    if behaviour == "so":
        return re.search(r"\bwas so\b", text.lower()) is not None
    raise ValueError(f"no detector for behaviour {behaviour!r}")


def make_document(rng: random.Random, behaviour: Optional[str] = None) -> str:
    topic = rng.choice(list(TOPICS))
    prompt = rng.choice(PROMPT_FORMS).format(t=topic)
    make = BEHAVIOURS[behaviour][1] if behaviour else base_response
    response = " ".join(" ".join(s) for s in make(rng, topic))
    return f"<|user|> {prompt} <|assistant|> {response} <|end|>"
