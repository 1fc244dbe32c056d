"""Log-prob scoring throughput: batched vs one text at a time, same model and texts, side by
side in one process. Prints tokens/s of both and the ratio."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import random
import time

from modeldiff_core.models.loading import load
from modeldiff_core.models.organism_corpus import make_document, organism_prompts
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.models.scoring import token_logprobs


def tokens_per_second(lm, texts, prompts, batch_size):
    t0 = time.perf_counter()
    scored = token_logprobs(lm, texts, prompts, batch_size=batch_size)
    return sum(len(s) for s in scored) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="organism:base")
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    lm = load(ModelSpec(args.model))
    rng = random.Random(0)
    texts = [make_document(rng).split("<|assistant|>")[1].replace("<|end|>", "").strip()
             for _ in range(args.texts)]
    prompts = [rng.choice(organism_prompts()) for _ in texts]
    token_logprobs(lm, texts[:4], prompts[:4])  # warm-up
    batched, single = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        batched.append(tokens_per_second(lm, texts, prompts, args.batch))
        single.append(tokens_per_second(lm, texts, prompts, 1))
    b, s = max(batched), max(single)
    print(f"model {args.model} on {lm.device}, {len(texts)} texts, best of {args.repeats}")
    print(f"batched (batch {args.batch}): {b:9.1f} tokens/s")
    print(f"one at a time:      {s:9.1f} tokens/s")
    print(f"ratio:              {b / s:9.1f}x")


if __name__ == "__main__":
    main()
