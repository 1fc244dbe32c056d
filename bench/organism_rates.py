"""How strongly each built-in organism shows its planted behaviour, next to the base model:
rate of texts showing each behaviour, on 60 prompts x N samples (the figures in the README)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse

from modeldiff_core.models.loading import load
from modeldiff_core.models.organism_corpus import BEHAVIOURS, behaviour_present, organism_prompts
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.models.generation import GenerationSettings, format_prompt, generate_batch

DETECTED = ["cats", "questions", "short"]


def rates(name: str, samples: int, size: str) -> dict:
    lm = load(ModelSpec(f"organism:{name}@{size}"))
    formatted = [format_prompt(lm.tokenizer, p, True) for p in organism_prompts()] * samples
    settings = GenerationSettings(max_new_tokens=64)
    texts = []
    for i in range(0, len(formatted), 32):
        texts += [t for t, _, _ in generate_batch(lm, formatted[i:i + 32], settings, seed=i,
                                                  chat_formatted=True)]
    out = {b: sum(behaviour_present(b, t) for t in texts) / len(texts) for b in DETECTED}
    out["words"] = sum(len(t.split()) for t in texts) / len(texts)
    out["n"] = len(texts)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--size", default="demo")
    args = ap.parse_args()
    print("| organism | mentions cats | asks a question | one sentence or less | mean words | n |")
    print("|---|---|---|---|---|---|")
    for name in ["base", *BEHAVIOURS]:
        r = rates(name, args.samples, args.size)
        print(f"| {name} | {r['cats']:.0%} | {r['questions']:.0%} | {r['short']:.0%} | "
              f"{r['words']:.1f} | {r['n']} |")


if __name__ == "__main__":
    main()
