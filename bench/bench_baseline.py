"""The bag-of-words baseline's solver: Newton-CG (what `bow_baseline` uses) against lbfgs (what
it used), the same L2 logistic regression on word and bigram counts, on real answers, side by
side in one process. Prints both times, the ratio and both AUCs (the same model: they agree to
the solvers' tolerance)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import json
import time

from modeldiff_core.hypotheses import yardstick

ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpacaeval"


def timed(solver: str, texts, sides, groups, repeats: int):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    def model():
        return make_pipeline(CountVectorizer(token_pattern=yardstick.BOW_TOKENS,
                                             ngram_range=(1, 2), min_df=2),
                             LogisticRegression(C=1.0, solver=solver, max_iter=2000))
    real, times = yardstick._bow_model, []
    yardstick._bow_model = model
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = yardstick.bow_baseline(texts, sides, groups)
            times.append(time.perf_counter() - t0)
    finally:
        yardstick._bow_model = real
    return min(times), out["auc"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", default=str(ALPACA / "qwen15_7b.jsonl"))
    ap.add_argument("--b", default=str(ALPACA / "llama3_70b.jsonl"))
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    texts, sides, groups = [], [], []
    for side, path in (("A", args.a), ("B", args.b)):
        for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()[:args.prompts]):
            texts.append(json.loads(line)["output"])
            sides.append(side)
            groups.append(i)
    new, auc_new = timed("newton-cg", texts, sides, groups, args.repeats)
    old, auc_old = timed("lbfgs", texts, sides, groups, args.repeats)
    print(f"{len(texts)} answers: newton-cg {new:.2f} s (AUC {auc_new:.4f}), lbfgs {old:.2f} s "
          f"(AUC {auc_old:.4f}); lbfgs / newton-cg = {old / new:.1f}x")


if __name__ == "__main__":
    main()
