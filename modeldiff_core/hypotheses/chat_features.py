"""Style features of chat answers: markdown (headings, bold, bullet and numbered lists, code
blocks, tables), openers, apologies, refusals, hedges, emoji and second-person address —
what real chat models differ in. Each maps a text to a number (a count, a yes/no as 0/1, or
a rate per 100 words) the offline assistant thresholds into a yes/no candidate.

The word lists are short and general on purpose: the common English phrasings of each habit,
as a reader would list them, never gathered from any model's outputs, so a feature means the
same on every pair of models. Markdown is read as a renderer would: marks inside code (fenced
blocks, inline `code`) are code, not formatting."""
from __future__ import annotations

import re
from typing import Callable

_FENCE = re.compile(r"^[ \t]*(?:```|~~~)", re.M)
# A fenced block up to its closing fence, or to the end of an answer cut off inside it.
_FENCED_BLOCK = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?(?:^[ \t]*\1[^\n]*$|\Z)", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+\S", re.M)
# Bold: `**` that opens right before a non-space and closes right after one, on one line, and
# not glued to a word on the outside — so `a**2 + b**2` (a power) and `2 * 3 * 4` are maths.
# `__x__` is left out: in chat answers it is more often a Python name than bold.
_BOLD = re.compile(r"(?<![\w*])\*\*(?![\s*])[^\n]*?(?<![\s*])\*\*(?![\w*])")
_RULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.M)
# A list item starts a line; a "-" inside a sentence is punctuation.
_BULLET = re.compile(r"^[ \t]*[-*+\u2022][ \t]+\S", re.M)
# 1-3 digits then "." or ")" and a space: "1. Item", "2) Item"; not "2019. The" nor "3.5".
_NUMBERED = re.compile(r"^[ \t]*\d{1,3}[.)][ \t]+\S", re.M)
# A table is a header row with a "|" followed by a separator row of dashes and pipes.
_TABLE_SEPARATOR = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$"
                              r"|^[ \t]*\|[ \t]*:?-+:?[ \t]*\|[ \t]*$")
_WORD = re.compile(r"[a-z0-9']+")


def _phrases(words: list[str]) -> re.Pattern:
    """Any of `words` as whole words, case-insensitive, "'" standing for either apostrophe."""
    alts = "|".join(re.escape(w).replace("'", "['\u2019]").replace(r"\ ", r"\s+") for w in words)
    return re.compile(rf"(?<![\w'\u2019])(?:{alts})(?![\w'\u2019])", re.I)


# Openers: the stock first words of an assistant's reply before it answers.
_OPENER = re.compile(r"^[\s*_#>]*" + _phrases([
    "sure", "certainly", "of course", "absolutely", "definitely", "gladly", "great question",
    "good question", "excellent question", "i'd be happy to", "i would be happy to",
    "i'd be glad to", "happy to help"]).pattern, re.I)
_APOLOGY = _phrases(["i'm sorry", "i am sorry", "i apologize", "i apologise", "my apologies",
                     "sorry for"])
# Refusals: declining the request (a verb of helping after "I can't"), or speaking as an AI.
_REFUSAL = re.compile(
    _phrases(["i can't", "i cannot", "i can not", "i won't", "i will not", "i'm unable to",
              "i am unable to", "i'm not able to", "i am not able to"]).pattern
    + r"\s+(?:help|assist|provide|fulfil|fulfill|comply|create|write|generate|give|share|"
      r"support|engage|answer|do\s+that)\b"
    + "|" + _phrases(["as an ai", "as a language model", "as an ai language model",
                      "i must decline"]).pattern, re.I)
# Hedges: words that soften a claim.
_HEDGE = _phrases(["might", "perhaps", "possibly", "probably", "generally", "typically",
                   "arguably", "it depends", "in general", "not necessarily", "i think",
                   "i believe"])
_SECOND_PERSON = _phrases(["you", "your", "yours", "yourself", "yourselves", "you're",
                           "you've", "you'll", "you'd"])
# Emoji: the pictograph, emoticon, transport, symbol and flag blocks, and the older
# miscellaneous symbols and dingbats (sun, check marks, stars).
_EMOJI = re.compile("[\U0001F300-\U0001FAFF\U0001F1E6-\U0001F1FF\u2600-\u27BF\u2B50\u2B55]")


def prose(text: str) -> str:
    """The text with code left out: fenced blocks and inline code spans."""
    return _INLINE_CODE.sub(" ", _FENCED_BLOCK.sub("\n", text))


def _words(text: str) -> int:
    return len(_WORD.findall(text.lower()))


def _per_100_words(pattern: re.Pattern) -> Callable[[str], float]:
    def rate(text: str) -> float:
        body = prose(text)
        return 100.0 * len(pattern.findall(body)) / max(1, _words(body))
    return rate


def headings(text: str) -> float:
    return float(len(_HEADING.findall(prose(text))))


def bold(text: str) -> float:
    return float(len(_BOLD.findall(prose(text))))


def bullets(text: str) -> float:
    body = _RULE.sub("", prose(text))
    return float(len(_BULLET.findall(body)))


def numbered(text: str) -> float:
    return float(len(_NUMBERED.findall(prose(text))))


def code_blocks(text: str) -> float:
    fences = len(_FENCE.findall(text))
    return float((fences + 1) // 2)  # an answer cut off inside a block still opened one


def tables(text: str) -> float:
    lines = prose(text).split("\n")
    return float(sum(1 for above, line in zip(lines, lines[1:])
                     if "|" in above and _TABLE_SEPARATOR.match(line)))


def opener(text: str) -> float:
    return 1.0 if _OPENER.match(text) else 0.0


def apologies(text: str) -> float:
    return float(len(_APOLOGY.findall(prose(text))))


def refusals(text: str) -> float:
    return float(len(_REFUSAL.findall(prose(text))))


def emoji(text: str) -> float:
    return float(len(_EMOJI.findall(text)))


# name -> the value of a text. Hedges and "you" are rates per 100 words, so a longer answer
# does not count as more hedged; the markdown features are counts (a list of 12 items is
# more list than one of 2).
CHAT_FEATURES: dict[str, Callable[[str], float]] = {
    "headings": headings,
    "bold": bold,
    "bullets": bullets,
    "numbered": numbered,
    "code_blocks": code_blocks,
    "tables": tables,
    "opener": opener,
    "apologies": apologies,
    "refusals": refusals,
    "hedges": _per_100_words(_HEDGE),
    "second_person": _per_100_words(_SECOND_PERSON),
    "emoji": emoji,
}
# How each reads in a hypothesis: (B has more, B has less), and what a threshold counts.
CHAT_WORDS = {
    "headings": ("uses markdown headings more often", "uses markdown headings less often"),
    "bold": ("uses markdown bold more often", "uses markdown bold less often"),
    "bullets": ("uses bullet lists more often", "uses bullet lists less often"),
    "numbered": ("uses numbered lists more often", "uses numbered lists less often"),
    "code_blocks": ("uses code blocks more often", "uses code blocks less often"),
    "tables": ("uses markdown tables more often", "uses markdown tables less often"),
    "opener": ('opens with a stock phrase ("Sure", "Certainly", ...) more often',
               'opens with a stock phrase ("Sure", "Certainly", ...) less often'),
    "apologies": ("apologises more often", "apologises less often"),
    "refusals": ("refuses more often", "refuses less often"),
    "hedges": ("hedges more (might, perhaps, generally, ...)",
               "hedges less (might, perhaps, generally, ...)"),
    "second_person": ('addresses the reader as "you" more', 'addresses the reader as "you" less'),
    "emoji": ("uses emoji more often", "uses emoji less often"),
}
CHAT_UNITS = {
    "headings": "headings", "bold": "bold phrases", "bullets": "bullet items",
    "numbered": "numbered items", "code_blocks": "code blocks", "tables": "tables",
    "opener": "stock openers", "apologies": "apologies", "refusals": "refusals",
    "hedges": "hedge words per 100 words", "second_person": '"you" per 100 words',
    "emoji": "emoji",
}
