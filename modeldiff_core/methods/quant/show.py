"""What the quantization study shows: a table of levels on the terminal, and in a run's report
the newest study of each of its models."""
from __future__ import annotations

from typing import Optional

from ...cli_args import as_json as to_json  # noqa: F401 - --out writes the result as it is
from ...formats import Section, Table, fmt_num, sci


INTEGER_LEVELS = ("8bit", "4bit", "int8-dynamic")  # the linear layers only: the rest stays


def conclusion(result: dict) -> list[str]:
    """What the study found, in sentences: the levels closest to and furthest from the
    reference, the answers they change, and why bf16 may trail a lower-bit level."""
    levels = sorted(result["levels"], key=lambda r: r["kl_mean"])
    if not levels:
        return ["No level measured yet."]
    ref = result["reference"]

    def said(r):
        return (f"{r['level']} (KL mean {r['kl_mean']:.2e} nats per token, top-1 agreement "
                f"{r['top1_agreement']:.3f}, perplexity {r['ppl']:.3f} against {r['ppl_ref']:.3f}, "
                f"{r['flips']} of {r['n_mc']} multiple-choice answers changed)")
    lines = [f"Closest to {ref}: {said(levels[0])}."]
    if len(levels) > 1:
        lines.append(f"Furthest from {ref}: {said(levels[-1])}.")
    by_level = {r["level"]: r for r in levels}
    bf16 = by_level.get("bf16")
    better = [lv for lv in INTEGER_LEVELS
              if bf16 and lv in by_level and by_level[lv]["top1_agreement"] > bf16["top1_agreement"]]
    if better:
        lines.append(f"bf16 agrees with {ref} less than {' and '.join(better)}: bf16 rounds the "
                     "whole model (every weight, activation and the residual stream, to 8 bits "
                     f"of mantissa, at every layer), while {' and '.join(better)} quantize the "
                     f"linear layers' weights only and keep the rest of the model in {ref}.")
    return lines


def summary(result: dict) -> str:
    lines = [f"{result['model']}: {len(result['levels'])} levels against {result['reference']} "
             f"({result['eval_set']}, {result['n_texts']} texts)",
             f"{'level':<13} {'KL mean':>9} {'median':>9} {'p99':>9} {'top-1':>6} "
             f"{'ppl':>8} {'ref ppl':>8} {'flips':>7}"]
    for r in result["levels"]:
        lines.append(f"{r['level']:<13} {r['kl_mean']:>9.2e} {r['kl_median']:>9.2e} "
                     f"{r['kl_p99']:>9.2e} {r['top1_agreement']:>6.3f} {r['ppl']:>8.3f} "
                     f"{r['ppl_ref']:>8.3f} {r['flips']:>3}/{r['n_mc']:<3}")
    return "\n".join(lines)



def quant_rows(q: dict) -> list[list[str]]:
    """A study's levels as table cells: level, KL mean/median/p99, top-1 agreement, perplexity
    (reference), answer flips, tokens."""
    return [[str(r["level"]), sci(r["kl_mean"]), sci(r["kl_median"]), sci(r["kl_p99"]),
             fmt_num(r["top1_agreement"], 3),
             f"{fmt_num(r['ppl'], 3)} ({fmt_num(r['ppl_ref'], 3)})",
             f"{r['flips']} of {r['n_mc']}", str(r["n_tokens"])] for r in q["levels"]]


def report(store, run_id: str, hypothesis_set: str, run: dict) -> Optional[list]:
    """The newest study of each of the run's models, when one was measured."""
    from .study import quant_result

    models = list(dict.fromkeys([run["spec_a"]["model"], run["spec_b"]["model"]]))
    studies = store.quant_studies(models)
    studies = studies[studies["n_levels"] > 0].drop_duplicates("model")
    return [quant_result(store, sid) for sid in studies["study_id"]] or None


def sections(studies: list) -> list[Section]:
    return [Section("Quantization — {} against " + q["reference"], code=q["model"],
                    caption=f"{q['n_texts']} texts of {q['eval_set']}; KL(reference ‖ level) "
                            "per token; answer flips on the multiple-choice set.",
                    tables=[Table(["level", "KL mean", "KL median", "KL p99", "top-1 agreement",
                                   "ppl (reference)", "answer flips", "tokens"],
                                  quant_rows(q))]) for q in studies]
