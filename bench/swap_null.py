"""A null on real text: the shared AlpacaEval answers of one pair, every prompt's two answers
assigned to A and B by a seeded coin, run through `run_pipeline` exactly as `modeldiff run
--model-a outputs:A --model-b outputs:B --seed S` runs them (the same split, clustering,
offline proposal, validation and ledger). Nothing differs between A and B by construction, so
every validated hypothesis is a false positive. The seed sets the coin, the split and the
clustering together. Texts are embedded once: later seeds read them from the process's cache.
Prints one line a run and the count of runs that validated anything; --json adds the runs."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import json
import tempfile
import time

import numpy as np

from modeldiff_core.cli import _config_from_args, build_parser
from modeldiff_core.pipeline import run_pipeline
from modeldiff_core.render.fmt import finding, role
from modeldiff_core.store import Store

ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpacaeval"
PAIRS = {"qwen": ("qwen15_7b", "qwen15_72b"), "llama": ("llama3_8b", "llama3_70b")}


def swapped(pair: str, seed: int, folder: Path) -> tuple[Path, Path]:
    """Two files of answers: per prompt, a fair coin (seeded) says whose answer A gets."""
    rows = [[json.loads(line) for line in (ALPACA / f"{name}.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()] for name in PAIRS[pair]]
    by_prompt = {r["prompt"]: r["output"] for r in rows[1]}
    shared = [(r["prompt"], r["output"], by_prompt[r["prompt"]]) for r in rows[0]
              if r["prompt"] in by_prompt]
    # seed None: no coin, every answer stays with its model (the real pair, for contrast)
    heads = (np.zeros(len(shared), bool) if seed is None
             else np.random.default_rng(seed).random(len(shared)) < 0.5)
    paths = folder / f"{pair}-{seed}-A.jsonl", folder / f"{pair}-{seed}-B.jsonl"
    for side, path in enumerate(paths):
        with path.open("w", encoding="utf-8") as f:
            for (prompt, first, second), head in zip(shared, heads):
                output = (first, second)[int(head) ^ side]
                f.write(json.dumps({"prompt": prompt, "output": output}) + "\n")
    return paths


def chat_feature_checks(held, validated_features: list[str]) -> list[dict]:
    """Each chat feature at its natural threshold (any at all) on every held-out text: the
    share of A's and of B's texts that show it (averaged over prompts), the prompt-level
    two-sided p over all held-out prompts, and whether a validated hypothesis names it."""
    from modeldiff_core.hypotheses.chat_features import CHAT_FEATURES
    from modeldiff_core.hypotheses import stats

    out = []
    for name, feature in CHAT_FEATURES.items():
        shows = np.array([feature(t) > 0 for t in held["text"]], dtype=float)
        rate_b, rate_a = stats.per_prompt_rates(shows, held["side"], held["prompt_id"])
        d = rate_b - rate_a
        p = min(1.0, 2 * min(stats.prompt_level_p(d), stats.prompt_level_p(-d)))
        out.append({"feature": name, "rate_a": float(rate_a.mean()),
                    "rate_b": float(rate_b.mean()), "p_value": p, "n_prompts": int(len(d)),
                    "validated": name in validated_features})
    return out


def one_run(pair: str, seed, folder: Path, judge_prompts: int) -> dict:
    path_a, path_b = swapped(pair, seed, folder)
    config = _config_from_args(build_parser().parse_args(
        ["run", "--model-a", f"outputs:{path_a}", "--model-b", f"outputs:{path_b}",
         "--seed", str(seed or 0), "--judge-prompts", str(judge_prompts)]))
    t0 = time.perf_counter()
    with Store(folder / f"{pair}-{seed}.duckdb") as store:
        result = run_pipeline(store, config)
        held = store.generations(result["run_id"], split="validation")
    validated = [h["text"] for h in result["hypotheses"] if h["validated"]]
    features = [h["predicate"]["feature"] for h in result["hypotheses"]
                if h["validated"] and (h["predicate"] or {}).get("type") == "feature"]
    return {"pair": pair, "seed": seed, "proposed": len(result["hypotheses"]),
            "chat_features": chat_feature_checks(held, features),
            "baseline": {k: result["baseline"].get(k) for k in ("accuracy", "auc", "n")},
            "findings": [{"text": finding(h), "role": role(h), **{k: (h["discriminative"] or {})
                          .get(k) for k in ("accuracy", "n", "n_prompts", "q_value")}}
                         for h in result["hypotheses"]],
            "validated": len(validated), "validated_texts": validated,
            "min_p": min((h["discriminative"]["p_value"] for h in result["hypotheses"]
                          if (h.get("discriminative") or {}).get("p_value") is not None),
                         default=None),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default="qwen,llama", help=f"of {', '.join(PAIRS)}")
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0 .. N-1 per pair")
    parser.add_argument("--judge-prompts", type=int, default=120)
    parser.add_argument("--real", action="store_true",
                        help="also each pair as it is (no coin), to show what the same run finds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not ALPACA.is_dir():
        sys.exit(f"{ALPACA} is absent: this null needs the shared AlpacaEval answers")
    pairs = [p for p in args.pairs.split(",") if p]
    if unknown := [p for p in pairs if p not in PAIRS]:
        sys.exit(f"unknown pair {unknown[0]!r}: one of {', '.join(PAIRS)}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in pairs:
            for seed in [*([None] if args.real else []), *range(args.seeds)]:
                run = one_run(pair, seed, Path(tmp), args.judge_prompts)
                runs.append(run)
                name = "as it is" if seed is None else f"seed {seed}"
                print(f"{pair} {name}: {run['validated']} of {run['proposed']} validated, "
                      f"least p {run['min_p']} ({run['seconds']} s)", file=sys.stderr, flush=True)
    real = [r for r in runs if r["seed"] is None]
    runs = [r for r in runs if r["seed"] is not None]
    for r in real:
        print(f"{r['pair']} as it is ({r['seconds']} s; bag-of-words AUC "
              f"{r['baseline']['auc']:.2f} on {r['baseline']['n']} held-out texts): "
              f"{r['validated']} of {r['proposed']} validated")
        for f in r["findings"]:
            print(f"  {f['role']}: {f['text']} (accuracy {f['accuracy']:.2f}, n = {f['n']} texts "
                  f"of {f['n_prompts']} prompts, q = {f['q_value']:.1e})")
        for c in r["chat_features"]:
            if c["p_value"] < 0.001:
                print(f"  chat feature {c['feature']}: {100 * c['rate_a']:.0f}% -> "
                      f"{100 * c['rate_b']:.0f}% of held-out texts, p = {c['p_value']:.1e} "
                      f"over {c['n_prompts']} prompts: "
                      f"{'validated' if c['validated'] else 'NOT validated'}")
    hits = sum(r["validated"] > 0 for r in runs)
    per_pair = ", ".join(f"{p}: {sum(r['validated'] > 0 for r in runs if r['pair'] == p)} of "
                         f"{sum(r['pair'] == p for r in runs)}" for p in pairs)
    print(f"A/B swap null: {hits} of {len(runs)} runs validated anything ({per_pair})")
    if args.json:
        print(json.dumps(real + runs))


if __name__ == "__main__":
    main()
