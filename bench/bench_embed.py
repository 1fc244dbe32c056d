"""Embedders side by side in one process, on 2 CPU cores: speed, and whether the vectors still
do their job.

Per candidate (today's truncating torch path first, as the yardstick):
- texts/s and tokens/s on short organism texts, and on the 4 x 805 AlpacaEval answers of
  ../shared/data/alpacaeval/ read whole (tokens: those the embedder reads, MiniLM's word pieces;
  a truncating path reads at most its window);
- cluster agreement with today's path: adjusted Rand index of KMeans clusters (k = 10, same
  seed) on the organism texts, which all fit the window, so both read the same tokens;
- A-vs-B separability on both AlpacaEval pairs: logistic regression on the embeddings,
  5-fold cross-validated AUC with folds grouped by prompt.
A candidate's one-time setup (export, quantization, distillation: kept in the cache folder
afterwards) is timed apart and left out of its speed.

    .venv/bin/python bench/bench_embed.py [--candidates torch,default,fast,...] [--json]
"""
import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

ALPACA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "alpacaeval"
PAIRS = [("qwen15_7b", "qwen15_72b"), ("llama3_8b", "llama3_70b")]
CANDIDATES = ["torch", "default", "fast", "torch-fp32", "torch-bf16", "onnx-int8",
              "openvino-fp32"]


def make(candidate: str):
    """An embedder by bench name: a registry choice, or a runtime-precision of the chunked
    embedder, reading whole texts as the default does."""
    from modeldiff_core.embedders import (EMBEDDERS, MODEL_NAME, _model_path, default_chunking,
                                          make_embedder)
    from modeldiff_core.embedders.chunked import ChunkedEmbedder

    if candidate in EMBEDDERS:
        return make_embedder(candidate)
    runtime, precision = candidate.split("-")
    return ChunkedEmbedder(_model_path(), MODEL_NAME, runtime, precision, None,
                           default_chunking())


def organism_texts(n: int = 2000, seed: int = 0) -> list[str]:
    from modeldiff_core.models.organism_corpus import BEHAVIOURS, make_document

    rng = random.Random(seed)
    kinds = [None, *BEHAVIOURS]
    return [make_document(rng, rng.choice(kinds)) for _ in range(n)]


def alpaca() -> dict[str, tuple[list[str], list[str]]]:
    out = {}
    for name in {m for pair in PAIRS for m in pair}:
        rows = [json.loads(line) for line in (ALPACA / f"{name}.jsonl").open()]
        out[name] = ([r["prompt"] for r in rows], [r["output"] for r in rows])
    return out


def separability(xa: np.ndarray, xb: np.ndarray, prompts: list[str]) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    x = np.vstack([xa, xb])
    y = np.r_[np.zeros(len(xa)), np.ones(len(xb))]
    groups = np.r_[np.arange(len(xa)), np.arange(len(xb))]  # row i of each file: one prompt
    assert len(prompts) == len(xa) == len(xb)
    scores = np.zeros(len(y))
    for train, test in GroupKFold(5).split(x, y, groups):
        model = LogisticRegression(C=1.0, max_iter=2000).fit(x[train], y[train])
        scores[test] = model.decision_function(x[test])
    return float(roc_auc_score(y, scores))


def timed(embedder, texts: list[str]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    vecs = np.vstack([embedder.embed(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    return vecs, time.perf_counter() - t0


def tokens_read(embedder, counts: list[int]) -> int:
    window = embedder.window()
    if embedder.reads_whole or window is None:
        return sum(counts)
    return sum(min(n, window) for n in counts)


def one(candidate: str, org: list[str], answers: dict, counts: dict, ref: dict) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    t0 = time.perf_counter()
    embedder = make(candidate)
    embedder.embed(["warm up"])  # loads, exports or distils once
    setup = time.perf_counter() - t0
    row = {"candidate": candidate, "fingerprint": embedder.name, "setup_s": setup}
    x_org, s = timed(embedder, org)
    row["org_texts_s"] = len(org) / s
    row["org_tokens_s"] = tokens_read(embedder, counts["org"]) / s
    labels = KMeans(10, n_init=10, random_state=0).fit_predict(x_org)
    ref.setdefault("org", labels)
    row["ari"] = float(adjusted_rand_score(ref["org"], labels))
    texts = [t for name in sorted(answers) for t in answers[name][1]]
    x_all, s = timed(embedder, texts)
    row["alpaca_texts_s"] = len(texts) / s
    row["alpaca_tokens_s"] = tokens_read(embedder, counts["alpaca"]) / s
    at, vecs = 0, {}
    for name in sorted(answers):
        vecs[name] = x_all[at:at + len(answers[name][1])]
        at += len(answers[name][1])
    for a, b in PAIRS:
        row[f"auc {a}->{b}"] = separability(vecs[a], vecs[b], answers[a][0])
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not ALPACA.exists():
        sys.exit(f"bench_embed: {ALPACA} is absent (the shared AlpacaEval answers)")
    from modeldiff_core.embedders import make_embedder

    org, answers = organism_texts(), alpaca()
    tok = make_embedder("torch")._load().tokenizer
    count = lambda texts: [len(i) for i in tok(texts, verbose=False)["input_ids"]]  # noqa: E731
    counts = {"org": count(org),
              "alpaca": count([t for name in sorted(answers) for t in answers[name][1]])}
    window = make_embedder("torch").window()
    print(f"organism texts: {len(org)}, longest {max(counts['org'])} tokens; AlpacaEval answers: "
          f"{len(counts['alpaca'])}, {sum(n > window for n in counts['alpaca'])} longer than "
          f"{window} tokens, {sum(counts['alpaca']):,} tokens in all", file=sys.stderr)
    rows, ref = [], {}
    for candidate in args.candidates.split(","):
        rows.append(one(candidate, org, answers, counts, ref))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    base = rows[0]
    for r in rows:
        r["texts_x"] = r["alpaca_texts_s"] / base["alpaca_texts_s"]
        r["tokens_x"] = r["alpaca_tokens_s"] / base["alpaca_tokens_s"]
        r["org_texts_x"] = r["org_texts_s"] / base["org_texts_s"]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    pairs = [f"auc {a}->{b}" for a, b in PAIRS]
    print("| embedder | setup s | organism texts/s | AlpacaEval texts/s (x) | tokens/s (x) | ARI | "
          + " | ".join(f"AUC {p[4:]}" for p in pairs) + " |")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(pairs))
    for r in rows:
        print(f"| {r['candidate']} | {r['setup_s']:.0f} | {r['org_texts_s']:.0f} "
              f"({r['org_texts_x']:.1f}x) | {r['alpaca_texts_s']:.0f} ({r['texts_x']:.1f}x) | "
              f"{r['alpaca_tokens_s']:,.0f} ({r['tokens_x']:.1f}x) | {r['ari']:.3f} | "
              + " | ".join(f"{r[p]:.3f}" for p in pairs) + " |")


if __name__ == "__main__":
    main()
