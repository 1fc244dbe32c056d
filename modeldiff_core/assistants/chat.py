"""The Anthropic and OpenAI assistants: one implementation of the protocol over a `CallPath`
(which owns retries, the response cache and usage accounting). Every exchange asks for JSON;
texts travel as JSON lists so that nothing in a model's text can break the framing."""
from __future__ import annotations

import json
import random
from typing import Any, Optional

from ..config import ModelDiffError
from .base import Assistant, GeneratedPair, Hypothesis

SYSTEM = ("You are a careful research assistant comparing two language models, Model A and "
          "Model B, from samples of their outputs. You answer only with JSON.")
MAX_CHARS = 600  # per text shown to the assistant: enough to see style and topic


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " [...]"


class ChatAssistant(Assistant):
    def __init__(self, call_path, run_id: Optional[str] = None, n_examples: int = 20,
                 judge_batch: int = 10, write_batch: int = 5, seed: int = 0):
        self.call_path, self.run_id = call_path, run_id
        self.n_examples, self.judge_batch, self.write_batch, self.seed = (
            n_examples, judge_batch, write_batch, seed)
        self.kind = call_path.client.provider

    def _ask(self, task: str, payload: dict, purpose: str, max_tokens: int = 2048) -> Any:
        content = f"TASK: {task}\n\nINPUT (JSON):\n{json.dumps(payload, ensure_ascii=False)}"
        return self.call_path.complete_json(SYSTEM, [{"role": "user", "content": content}],
                                            max_tokens=max_tokens, temperature=0.0,
                                            run_id=self.run_id, purpose=purpose)

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
            purpose=f"propose {source}")
        items = answer.get("hypotheses") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise ModelDiffError(f"{self.kind} assistant: proposal answer has no 'hypotheses' list")
        out = []
        for item in items[:max_hypotheses]:
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
                {"hypothesis": hypothesis.text, "texts": chunk}, purpose="judge", max_tokens=512)
            got = answer.get("scores") if isinstance(answer, dict) else None
            if not isinstance(got, list) or len(got) != len(chunk):
                raise ModelDiffError(f"{self.kind} assistant: judge answered "
                                     f"{len(got) if isinstance(got, list) else 'no'} scores for "
                                     f"{len(chunk)} texts")
            try:
                scores += [min(1.0, max(0.0, float(s) / 100)) for s in got]
            except (TypeError, ValueError):
                raise ModelDiffError(f"{self.kind} assistant: judge scores are not numbers") from None
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
                 "example_outputs": [_clip(e) for e in examples[:5]]}, purpose="write")
            got = answer.get("pairs") if isinstance(answer, dict) else None
            if not isinstance(got, list):
                raise ModelDiffError(f"{self.kind} assistant: write answer has no 'pairs' list")
            for prompt, item in zip(chunk, got):
                if isinstance(item, dict) and isinstance(item.get("favoured"), str) \
                        and isinstance(item.get("contrast"), str):
                    pairs.append(GeneratedPair(item["favoured"], item["contrast"], prompt))
        return pairs
