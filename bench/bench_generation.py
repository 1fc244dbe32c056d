"""Batched generation vs a one-prompt-at-a-time loop, same model and prompts, side by side in
one process. Prints tokens/s of both and the ratio (absolute times on a shared CPU are noisy;
the ratio is the figure)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import time

from modeldiff_core.models.loading import load
from modeldiff_core.models.organism_corpus import organism_prompts
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.models.generation import GenerationSettings, format_prompt, generate_batch


def tokens_per_second(lm, formatted, settings, batch_size):
    t0, tokens = time.perf_counter(), 0
    for i in range(0, len(formatted), batch_size):
        rows = generate_batch(lm, formatted[i:i + batch_size], settings, seed=i, chat_formatted=True)
        tokens += sum(n for _, n, _ in rows)
    return tokens / (time.perf_counter() - t0), tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="organism:base")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    lm = load(ModelSpec(args.model))
    prompts = organism_prompts()[:args.batch]
    formatted = [format_prompt(lm.tokenizer, p, True) for p in prompts]
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    generate_batch(lm, formatted[:2], settings, seed=0, chat_formatted=True)  # warm-up
    batched, single = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        batched.append(tokens_per_second(lm, formatted, settings, args.batch)[0])
        single.append(tokens_per_second(lm, formatted, settings, 1)[0])
    b, s = max(batched), max(single)
    print(f"model {args.model} on {lm.device}, {len(prompts)} prompts, "
          f"max_new_tokens {args.max_new_tokens}, best of {args.repeats}")
    print(f"batched (batch {args.batch}): {b:8.1f} tokens/s")
    print(f"one at a time:      {s:8.1f} tokens/s")
    print(f"ratio:              {b / s:8.1f}x")


if __name__ == "__main__":
    main()
