"""The Anthropic and OpenAI assistants: one implementation of the protocol over a `CallPath`
(which owns retries, the response cache and usage accounting). Every exchange asks for JSON;
texts travel as JSON lists so that nothing in a model's text can break the framing."""
from __future__ import annotations

import json
import random
from typing import Any, Optional

from .base import Assistant, GeneratedPair, Hypothesis

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


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " [...]"


class ChatAssistant(Assistant):
    def __init__(self, call_path, run_id: Optional[str] = None, n_examples: int = 20,
                 judge_batch: int = 10, write_batch: int = 5, seed: int = 0):
        self.call_path, self.run_id = call_path, run_id
        self.n_examples, self.judge_batch, self.write_batch, self.seed = (
            n_examples, judge_batch, write_batch, seed)
        self.kind = call_path.client.provider

    def _ask(self, task: str, payload: dict, purpose: str, check, max_tokens: int = 2048) -> Any:
        return ask_task(self.call_path, SYSTEM, task, payload, purpose, check, max_tokens,
                        run_id=self.run_id)

    def propose(self, texts_a, texts_b, source, max_hypotheses=5):
        if not texts_a or not texts_b:
            return []
        rng = random.Random(self.seed)
        sample = lambda xs: [_clip(t) for t in rng.sample(xs, min(self.n_examples, len(xs)))]  # noqa: E731
        answer = self._ask(
            "propose. Read the samples of Model A and Model B. Write up to "
            f"{max_hypotheses} short, testable statements of how Model B's outputs differ from "
            "Model A's, each about something a reader could check in a single text (a topic, "
            "a word, a style, the length). Start each with 'Model B'. Answer "
            '{"hypotheses": [{"text": "..."}]}.',
            {"model_a_samples": sample(texts_a), "model_b_samples": sample(texts_b)},
            purpose=f"propose {source}", check=check_list("hypotheses"))
        out = []
        for item in answer["hypotheses"][:max_hypotheses]:
            text = item.get("text") if isinstance(item, dict) else item
            if isinstance(text, str) and text.strip():
                out.append(Hypothesis(text.strip(), "B", source, None,
                                      {"n_a": len(texts_a), "n_b": len(texts_b), "strength": 0.0}))
        return out

    def judge(self, hypothesis, texts):
        scores: list[float] = []
        for i in range(0, len(texts), self.judge_batch):
            chunk = [_clip(t) for t in texts[i:i + self.judge_batch]]
            answer = self._ask(
                "judge. Suppose the hypothesis about Model B is true. For each text, give the "
                "probability (0-100) that Model B, not Model A, wrote it. Answer "
                '{"scores": [number, ...]} with exactly one score per text, in order.',
                {"hypothesis": hypothesis.text, "texts": chunk}, purpose="judge",
                check=_check_scores(len(chunk)), max_tokens=512)
            scores += [min(1.0, max(0.0, float(s) / 100)) for s in answer["scores"]]
        return scores

    def write_pairs(self, hypothesis, texts, prompts, examples, n):
        pairs: list[GeneratedPair] = []
        todo = list(prompts[:n])
        for i in range(0, len(todo), self.write_batch):
            chunk = todo[i:i + self.write_batch]
            answer = self._ask(
                "write. For each prompt, write two responses of similar length and quality: "
                "'favoured', as Model B would answer if the hypothesis is true, and 'contrast', "
                "the same answer without the behaviour the hypothesis describes. Answer "
                '{"pairs": [{"favoured": "...", "contrast": "..."}]}, one pair per prompt, in order.',
                {"hypothesis": hypothesis.text, "prompts": chunk,
                 "example_outputs": [_clip(e) for e in examples[:5]]}, purpose="write",
                check=check_list("pairs"))
            for prompt, item in zip(chunk, answer["pairs"]):
                if isinstance(item, dict) and isinstance(item.get("favoured"), str) \
                        and isinstance(item.get("contrast"), str):
                    pairs.append(GeneratedPair(item["favoured"], item["contrast"], prompt))
        return pairs


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
