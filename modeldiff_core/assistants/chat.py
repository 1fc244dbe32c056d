"""The Anthropic and OpenAI assistants: one implementation of the protocol over a `CallPath`
(which owns retries, the response cache and usage accounting). Every exchange asks for JSON;
texts travel as JSON lists so that nothing in a model's text can break the framing."""
from __future__ import annotations

import json
import random
from typing import Any, Optional

from ..hypotheses.types import GeneratedPair, Hypothesis
from .base import Assistant

SYSTEM = ("You are a careful research assistant comparing two language models, Model A and "
          "Model B, from samples of their outputs. You answer only with JSON.")
MAX_CHARS = 600  # per text shown to the assistant: enough to see style and topic


def ask_task(call_path, system: str, task: str, payload: dict, purpose: str, check,
             max_tokens: int = 2048, run_id: Optional[str] = None) -> Any:
    """One JSON exchange: the task in words, its input as JSON, the answer checked by `check`."""
    content = f"TASK: {task}\n\nINPUT (JSON):\n{json.dumps(payload, ensure_ascii=False)}"
    return call_path.complete_json(system, [{"role": "user", "content": content}],
                                   max_tokens=max_tokens, temperature=0.0, run_id=run_id,
                                   purpose=purpose, check=check)


# Texts per judge call, and pairs per call when judging pairs or writing them.
JUDGE_BATCH, WRITE_BATCH = 10, 5
JUDGE_TASK = ("judge. Suppose the hypothesis about Model B is true. For each text, give the "
              "probability (0-100) that Model B, not Model A, wrote it. Answer "
              '{"scores": [number, ...]} with exactly one score per text, in order.')
PAIRS_TASK = ("judge pairs. Suppose the hypothesis about Model B is true. Each item holds two "
              "texts answering the same prompt, one by Model A and one by Model B. For each "
              "item, say which text Model B wrote: 1 or 2. Answer "
              '{"choices": [1 or 2, ...]} with exactly one choice per item, in order.')
_HYPOTHESIS_CHARS = 150  # a hypothesis' text, as the estimate counts it
_CHARS_PER_TOKEN = 4  # a rough rule for English text, for estimates only


def judge_estimate(n_prompts: int, mean_chars: float, judge_mode: str) -> dict:
    """What judging one hypothesis on `n_prompts` held-out prompts (one A and one B text
    each) asks of an LLM, before any call is made: {"calls", "tokens_in", "tokens_out"}.
    Texts are clipped to MAX_CHARS as the judge sees them; the task, the hypothesis and the
    JSON around each text are counted at their own length."""
    shown = min(float(mean_chars), MAX_CHARS) + 4  # quotes, a comma and a space
    if judge_mode == "pairwise":  # every pair asked in both orders
        frame = len(SYSTEM) + len(PAIRS_TASK) + _HYPOTHESIS_CHARS + 60
        calls = 2 * -(-n_prompts // WRITE_BATCH)
        chars_in = calls * frame + 2 * n_prompts * 2 * shown
        tokens_out = calls * 20
    else:
        frame = len(SYSTEM) + len(JUDGE_TASK) + _HYPOTHESIS_CHARS + 60
        calls = -(-2 * n_prompts // JUDGE_BATCH)
        chars_in = calls * frame + 2 * n_prompts * shown
        tokens_out = calls * 10 + 2 * n_prompts * 3
    return {"calls": int(calls), "tokens_in": int(chars_in / _CHARS_PER_TOKEN),
            "tokens_out": int(tokens_out)}


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " [...]"


class ChatAssistant(Assistant):
    def __init__(self, call_path, run_id: Optional[str] = None, n_examples: int = 20,
                 judge_batch: int = JUDGE_BATCH, write_batch: int = WRITE_BATCH, seed: int = 0):
        self.call_path, self.run_id = call_path, run_id
        self.n_examples, self.judge_batch, self.write_batch, self.seed = (
            n_examples, judge_batch, write_batch, seed)
        self.kind = call_path.client.provider

    def _ask(self, task: str, payload: dict, purpose: str, check, max_tokens: int = 2048) -> Any:
        return ask_task(self.call_path, SYSTEM, task, payload, purpose, check, max_tokens,
                        run_id=self.run_id)

    def _sample(self, texts: list[str]) -> list[str]:
        rng = random.Random(self.seed)
        return [_clip(t) for t in rng.sample(list(texts), min(self.n_examples, len(texts)))]

    def propose(self, texts_a, texts_b, source, max_hypotheses=5, prompts_a=None, prompts_b=None):
        if not texts_a or not texts_b:
            return []
        answer = self._ask(
            "propose. Read the samples of Model A and Model B. Write up to "
            f"{max_hypotheses} short, testable statements of how Model B's outputs differ from "
            "Model A's, each about something a reader could check in a single text (a topic, "
            "a word, a style, the length). Start each with 'Model B'. Name the behaviour "
            "only, with no counts or percentages: the tests supply the figures. Answer "
            '{"hypotheses": [{"text": "..."}]}.',
            {"model_a_samples": self._sample(texts_a), "model_b_samples": self._sample(texts_b)},
            purpose=f"propose {source}", check=check_list("hypotheses"))
        return _hypotheses(answer, source, max_hypotheses,
                           {"n_a": len(texts_a), "n_b": len(texts_b), "strength": 0.0})

    def refine(self, hypotheses, judged, source, max_hypotheses=5):
        """One exchange: the current hypotheses and the discovery texts they misjudge (B's
        texts they make look like A's, and the reverse)."""
        wrong = judged[(judged["p_b"] >= 0.5) != (judged["side"] == "B")]
        b_missed = wrong.loc[wrong["side"] == "B", "text"].tolist()
        a_missed = wrong.loc[wrong["side"] == "A", "text"].tolist()
        if not b_missed and not a_missed:
            return []
        answer = self._ask(
            "refine. Judged with the current hypotheses, these samples are misjudged: "
            "'model_b_judged_as_a' were written by Model B but look like Model A's under the "
            "hypotheses, 'model_a_judged_as_b' the reverse. Write up to "
            f"{max_hypotheses} revised or additional short, testable statements of how Model "
            "B's outputs differ from Model A's that would judge these correctly, each about "
            "something a reader could check in a single text. Start each with 'Model B', "
            "with no counts or percentages. "
            'Answer {"hypotheses": [{"text": "..."}]}.',
            {"current_hypotheses": [h.text for h in hypotheses],
             "model_b_judged_as_a": self._sample(b_missed),
             "model_a_judged_as_b": self._sample(a_missed)},
            purpose=f"refine {source}", check=check_list("hypotheses"))
        return _hypotheses(answer, source, max_hypotheses,
                           {"n_misjudged_a": len(a_missed), "n_misjudged_b": len(b_missed),
                            "strength": 0.0})

    def judge(self, hypothesis, texts):
        return self.judge_groups(hypothesis, [list(texts)])[0]

    def judge_groups(self, hypothesis, groups):
        """Calls packed by `validation.judge_calls`: a prompt's texts are cut only between its
        (A, B) pairs, so each call holds both models' texts and a call's drift cancels."""
        from ..hypotheses.validation import judge_calls

        out = [[0.0] * len(g) for g in groups]
        for call in judge_calls([len(g) for g in groups], self.judge_batch):
            chunk = [_clip(groups[g][j]) for g, j in call]
            answer = self._ask(
                JUDGE_TASK,
                {"hypothesis": hypothesis.text, "texts": chunk}, purpose="judge",
                check=_check_scores(len(chunk)), max_tokens=512)
            for (g, j), score in zip(call, answer["scores"]):
                out[g][j] = min(1.0, max(0.0, float(score) / 100))
        return out

    def judge_pairs(self, hypothesis, pairs):
        """Each pair asked in both orders; an answer that follows the order (the first text
        both times, or the second both times) says nothing about the texts and is dropped."""
        picks: list = []
        for i in range(0, len(pairs), self.write_batch):
            chunk = pairs[i:i + self.write_batch]
            both = []
            for order in ((0, 1), (1, 0)):
                shown = [[_clip(p[order[0]]), _clip(p[order[1]])] for p in chunk]
                answer = self._ask(
                    PAIRS_TASK,
                    {"hypothesis": hypothesis.text, "items": shown}, purpose="judge pairs",
                    check=_check_choices(len(chunk)), max_tokens=256)
                # Back to the pair's own order: 0 = its first text, 1 = its second.
                both.append([order[c - 1] for c in answer["choices"]])
            picks += [a if a == b else None for a, b in zip(*both)]
        return picks

    def write_pairs(self, hypothesis, texts, prompts, examples_a, examples_b, n):
        """One pair per distinct held-out prompt. The writer sees a few outputs of the model
        the hypothesis does not attribute the behaviour to (A for a "Model B ..." claim),
        sampled across prompts, for register: never the other model's text, which it could
        copy into the favoured answer."""
        rng = random.Random(self.seed)
        pool = examples_b if hypothesis.direction == "A" else examples_a
        shown = [_clip(e) for e in rng.sample(pool, min(5, len(pool)))]
        pairs: list[GeneratedPair] = []
        todo = list(dict.fromkeys(prompts))[:n]
        for i in range(0, len(todo), self.write_batch):
            chunk = todo[i:i + self.write_batch]
            answer = self._ask(
                "write. For each prompt, write two responses of similar length and quality: "
                "'favoured', as Model B would answer if the hypothesis is true, and 'contrast', "
                "the same answer without the behaviour the hypothesis describes. Answer "
                '{"pairs": [{"favoured": "...", "contrast": "..."}]}, one pair per prompt, in order.',
                {"hypothesis": hypothesis.text, "prompts": chunk,
                 "example_outputs": shown}, purpose="write",
                check=check_list("pairs"))
            for prompt, item in zip(chunk, answer["pairs"]):
                if isinstance(item, dict) and isinstance(item.get("favoured"), str) \
                        and isinstance(item.get("contrast"), str):
                    pairs.append(GeneratedPair(item["favoured"], item["contrast"], prompt))
        return pairs


    # -------------------------------------------------------------- probe game
    def _game(self, hypothesis, history, ctx) -> dict:
        """What both requests of a round show: the hypothesis (none, for the control), a few
        labelled discovery examples, and this game's earlier rounds as the assistant saw them
        (probe, answers, its guess; never which model it was)."""
        return {"hypothesis": hypothesis.text if hypothesis is not None else None,
                "examples": [{"prompt": e["prompt"], "model_a": _clip(e["a"]),
                              "model_b": _clip(e["b"])} for e in ctx.examples],
                "earlier_rounds": [{"probe": r.probe, "answers": [_clip(a) for a in r.answers],
                                    "your_guess": r.guess} for r in history],
                # The game's number keeps games independent: without it every game's first
                # request would be the same, and the cache would answer it the same.
                "game": ctx.game + 1, "round": ctx.round + 1, "rounds": ctx.rounds}

    def write_probe(self, hypothesis, history, ctx):
        basis = ("the hypothesis about how Model B differs from Model A" if hypothesis is not None
                 else "the examples (no hypothesis is given)")
        answer = self._ask(
            "probe. You are talking to a hidden model, Model A or Model B, chosen afresh by a "
            "fair coin for each round. Write one prompt to send it whose answer would show, by "
            f"{basis}, which model it is. The earlier rounds of this game show your probes, the "
            "answers and your guesses (not which model answered): use them to bring the "
            'difference out more clearly. Answer {"probe": "..."}.',
            self._game(hypothesis, history, ctx), purpose="probe", check=_check_probe,
            max_tokens=512)
        return answer["probe"].strip()

    def guess(self, hypothesis, history, probe, answers, ctx):
        answer = self._ask(
            "guess. The hidden model answered the probe as shown. Say which model it is, "
            '"A" or "B", and how sure you are (50-100). Answer '
            '{"guess": "A" or "B", "confidence": number}.',
            {**self._game(hypothesis, history, ctx), "probe": probe,
             "answers": [_clip(a) for a in answers]},
            purpose="guess", check=_check_guess, max_tokens=256)
        given = float(answer["confidence"])
        # Asked for 50-100; an answer on a 0-1 scale (0.8) means the same belief.
        confidence = min(1.0, max(0.5, given if given <= 1 else given / 100))
        return answer["guess"], confidence


def _check_probe(answer) -> Optional[str]:
    got = answer.get("probe") if isinstance(answer, dict) else None
    if not isinstance(got, str) or not got.strip():
        return "Give the prompt as a non-empty string in 'probe'."
    return None


def _check_guess(answer) -> Optional[str]:
    if not isinstance(answer, dict) or answer.get("guess") not in ("A", "B"):
        return 'Give "guess": "A" or "B".'
    c = answer.get("confidence")
    if not isinstance(c, (int, float)) or isinstance(c, bool):
        return "Give 'confidence' as a number from 50 to 100."
    return None


def _hypotheses(answer: dict, source: str, n: int, evidence: dict) -> list[Hypothesis]:
    out = []
    for item in answer["hypotheses"][:n]:
        text = item.get("text") if isinstance(item, dict) else item
        if isinstance(text, str) and text.strip():
            out.append(Hypothesis(text.strip(), "B", source, None, dict(evidence)))
    return out


def check_list(field: str):
    def check(answer) -> Optional[str]:
        if not isinstance(answer, dict) or not isinstance(answer.get(field), list):
            return f"The answer needs a '{field}' list."
        return None
    return check


def _check_scores(n: int):
    def check(answer) -> Optional[str]:
        got = answer.get("scores") if isinstance(answer, dict) else None
        if not isinstance(got, list) or len(got) != n:
            return f"Give exactly {n} scores, one per text, in a 'scores' list."
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in got):
            return "Every score must be a number from 0 to 100."
        return None
    return check


def _check_choices(n: int):
    def check(answer) -> Optional[str]:
        got = answer.get("choices") if isinstance(answer, dict) else None
        if not isinstance(got, list) or len(got) != n:
            return f"Give exactly {n} choices, one per item, in a 'choices' list."
        if not all(c in (1, 2) and not isinstance(c, bool) for c in got):
            return "Every choice must be 1 or 2."
        return None
    return check
