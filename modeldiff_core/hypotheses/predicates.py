"""What the offline assistant reads in a text — words, sentences, style features (those of chat
answers in `chat_features`) — and its JSON predicates: "mentions" (any of some terms, or them
at least as often as some others), "feature" (a style feature above or at most a threshold) or
"matches" (a researcher's regular expression, case-insensitive). A predicate is how an offline
hypothesis judges texts and edits them into pairs."""
from __future__ import annotations

import re
from typing import Callable

from .chat_features import CHAT_FEATURES, CHAT_WORDS

_TOKEN = re.compile(r"[a-z0-9']+|[?!.,;:]")
_SENTENCE = re.compile(r"[^.?!\n]+(?:[.?!]+|$)")
STOPWORDS = frozenset("""a an the and or but if of to in on at by for with from as is are was were be
been being it its this that these those i you he she we they me him her us them my your our their
do does did not no so very all any some there here then than too just also into out up down over
about after before again more most such only own same can will would should could what which who
whom when where why how i'm it's don't""".split())


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def words_and_bigrams(text: str) -> set[str]:
    """The words a text contains (stop words too: how often a model says "so" or "very" is a
    style) and its content bigrams (no stop word in them); no punctuation."""
    words = [t for t in tokens(text) if t[0].isalnum()]
    bi = {f"{a} {b}" for a, b in zip(words, words[1:])
          if a not in STOPWORDS and b not in STOPWORDS}
    return set(words) | bi


def _repetition(text: str) -> float:
    words = [t for t in tokens(text) if t[0].isalnum()]
    grams = list(zip(words, words[1:], words[2:]))
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


STYLE_FEATURES: dict[str, Callable[[str], float]] = {
    "words": lambda t: float(sum(1 for x in tokens(t) if x[0].isalnum())),
    "sentences": lambda t: float(len(sentences(t))),
    "questions": lambda t: float(t.count("?")),
    "exclamations": lambda t: float(t.count("!")),
    "digits": lambda t: float(sum(c.isdigit() for c in t)),
    "repetition": _repetition,
    **CHAT_FEATURES,  # markdown, openers, apologies, refusals, hedges, "you", emoji
}
# How a feature reads in a hypothesis: (B has more, B has less).
FEATURE_WORDS = {
    "words": ("gives longer answers", "gives shorter answers"),
    "sentences": ("writes more sentences", "writes fewer sentences"),
    "questions": ("asks questions more often", "asks questions less often"),
    "exclamations": ("uses exclamations more often", "uses exclamations less often"),
    "digits": ("uses digits more often", "uses digits less often"),
    "repetition": ("repeats itself more", "repeats itself less"),
    **CHAT_WORDS,
}


def _words_and_patterns(text: str, terms: list[str]):
    """The text's words joined by spaces, and each term as a whole-word (or whole-phrase)
    pattern over them."""
    low = " ".join(t for t in tokens(text) if t[0].isalnum())
    return low, (re.compile(rf"(?<![\w']){re.escape(term)}(?![\w'])") for term in terms)


def mentions(text: str, terms: list[str]) -> bool:
    low, patterns = _words_and_patterns(text, terms)
    return any(pattern.search(low) for pattern in patterns)


def count_mentions(text: str, terms: list[str]) -> int:
    low, patterns = _words_and_patterns(text, terms)
    return sum(len(pattern.findall(low)) for pattern in patterns)


def _mentions_fire(predicate: dict, text: str) -> bool:
    # With "over" (the words that stand in the terms' places: a mood's other adjectives), the
    # text must use the terms at least as often as those: the choice between them is the claim.
    if predicate.get("over"):
        n = count_mentions(text, predicate["terms"])
        return n > 0 and n >= count_mentions(text, predicate["over"])
    return mentions(text, predicate["terms"])


def predicate_fires(predicate: dict, text: str) -> bool:
    """Does a text show what the predicate describes (for the model it names as favoured)?"""
    if predicate["type"] == "mentions":
        return _mentions_fire(predicate, text)
    if predicate["type"] == "feature":
        value = STYLE_FEATURES[predicate["feature"]](text)
        return value > predicate["threshold"] if predicate["op"] == ">" else value <= predicate["threshold"]
    if predicate["type"] == "matches":
        return matches(predicate["pattern"], text)
    raise ValueError(f"unknown predicate type {predicate['type']!r}")


def matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def b_scores(predicate: dict, texts: list[str]) -> list[float]:
    """The predicate as a judge: 1.0 where a text looks like B's by it (it fires, for a
    predicate favouring B; it does not, for one favouring A), else 0.0."""
    fires_means_b = predicate.get("favours", "B") == "B"
    return [1.0 if predicate_fires(predicate, t) == fires_means_b else 0.0 for t in texts]


def behaviour_side(pred: dict) -> str:
    """The model that shows more of what the predicate counts (mentions of the terms, marks,
    length): the side donor sentences must never come from."""
    if pred["type"] in ("mentions", "matches"):
        return pred.get("favours", "B")
    more_is_b = pred.get("op", ">") == ">"
    if pred.get("favours", "B") != "B":
        more_is_b = not more_is_b
    return "B" if more_is_b else "A"


def carries(pred: dict, sentence: str) -> bool:
    """Does one sentence carry the thing the predicate counts (a term, a question mark...)?"""
    if pred["type"] == "mentions":  # (the words it is against, too: what an edit must move)
        return mentions(sentence, pred["terms"] + pred.get("over", []))
    if pred["type"] == "matches":
        return matches(pred["pattern"], sentence)
    if pred["feature"] in ("words", "sentences", "repetition"):
        return True
    return STYLE_FEATURES[pred["feature"]](sentence) > 0


def more_side_fires(pred: dict, text: str) -> bool:
    """Is the text on the 'more of it' side of the predicate (more mentions, more marks)?"""
    if pred["type"] in ("mentions", "matches"):
        return predicate_fires(pred, text)
    return STYLE_FEATURES[pred["feature"]](text) > pred["threshold"]
