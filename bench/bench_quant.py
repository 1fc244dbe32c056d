"""Quantization metrics: two-phase (reference distributions computed once and cached, then one
pass per level) vs recomputing the reference for every level, same model, levels and texts,
side by side in one process. Prints compared tokens/s of both and the ratio."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import tempfile
import time

from modeldiff_core.methods.quant.study import compare_to_reference, load_level, reference_pass
from modeldiff_core.methods.common.eval_sets import eval_set_for
from modeldiff_core.models.spec import ModelSpec


def two_phase(spec, levels, eval_set, folder: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    ref = reference_pass(load_level(spec, "fp32"), eval_set, folder / "two-phase.npy")
    tokens = 0
    for level in levels:
        tokens += compare_to_reference(load_level(spec, level), eval_set, ref)["n_tokens"]
    return tokens / (time.perf_counter() - t0), tokens


def recompute(spec, levels, eval_set, folder: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    tokens = 0
    for i, level in enumerate(levels):
        ref = reference_pass(load_level(spec, "fp32"), eval_set, folder / f"again-{i}.npy")
        tokens += compare_to_reference(load_level(spec, level), eval_set, ref)["n_tokens"]
    return tokens / (time.perf_counter() - t0), tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="organism:base")
    ap.add_argument("--levels", default="bf16,8bit,4bit,int8-dynamic")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    spec, levels = ModelSpec(args.model), args.levels.split(",")
    eval_set = eval_set_for(spec)
    load_level(spec, "fp32")  # warm-up: builds the organism if needed, imports
    fast, slow = [], []
    for _r in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        with tempfile.TemporaryDirectory() as tmp:
            fast.append(two_phase(spec, levels, eval_set, Path(tmp))[0])
            rate, tokens = recompute(spec, levels, eval_set, Path(tmp))
            slow.append(rate)
    f, s = max(fast), max(slow)
    print(f"model {args.model}, levels {','.join(levels)}, {len(eval_set.texts)} texts, "
          f"{tokens} compared tokens per run, best of {args.repeats}")
    print(f"two-phase (reference cached): {f:9.1f} tokens/s")
    print(f"recompute reference per level: {s:9.1f} tokens/s")
    print(f"ratio:                         {f / s:9.2f}x")


if __name__ == "__main__":
    main()
