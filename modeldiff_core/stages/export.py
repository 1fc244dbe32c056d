"""A run's texts out, in the format `outputs:` reads (JSONL: prompt, output, sample, model,
group, id), one file per side: re-imported as `outputs:` on both sides, the files give the
same prompts in the same order, with the same groups (so the same split), texts and sample
indices, so the pipeline finds the same clusters and hypotheses. The `id` is the run's prompt
id, so prompts that read alike stay apart."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import ModelDiffError
from ..models.sources.outputs_file import outputs_jsonl

SIDES = ("A", "B")


def export_rows(store, run_id: str, side: str) -> pd.DataFrame:
    """One side's texts as rows of the outputs format, by prompt id then sample."""
    run = store.get_run(run_id)
    if run is None:
        raise ModelDiffError(f"no run {run_id}")
    if side not in SIDES:
        raise ModelDiffError(f"side must be A or B (got {side!r})")
    gens = store.generations(run_id)
    gens = gens[gens["side"] == side]
    if gens.empty:
        raise ModelDiffError(f"run {run_id} has no texts of model {side} yet")
    groups = store.prompts(run_id).set_index("prompt_id")["prompt_group"]
    group = gens["prompt_id"].map(groups)
    # A prompt that is its own group (no group given) is written without one.
    group = group.where(group != gens["prompt"], None)
    rows = pd.DataFrame({"prompt": gens["prompt"].to_numpy(), "output": gens["text"].to_numpy(),
                         "sample": gens["sample_idx"].astype(int).to_numpy(),
                         "model": run[f"model_{side.lower()}"], "group": group.to_numpy(),
                         "id": gens["prompt_id"].astype(int).to_numpy()})
    return rows.sort_values(["id", "sample"], kind="stable").reset_index(drop=True)


def export_bytes(store, run_id: str, side: str) -> bytes:
    """One side's texts as a JSONL file's bytes (the dashboard's download)."""
    return outputs_jsonl(export_rows(store, run_id, side))


def export_name(run_id: str, side: str) -> str:
    return f"{run_id}-{side}.jsonl"


def export_run(store, run_id: str, out_dir: str | Path) -> tuple[Path, Path]:
    """Write both sides' texts to OUT_DIR/RUN-A.jsonl and RUN-B.jsonl; returns the two paths.
    Both sides are read before either file is written, so a failure leaves no half export."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ModelDiffError(f"{out_dir} is a file, not a directory")
    data = {side: export_bytes(store, run_id, side) for side in SIDES}
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for side in SIDES:
            path = out / export_name(run_id, side)
            path.write_bytes(data[side])
            paths.append(path)
    except OSError as err:
        raise ModelDiffError(f"cannot write the export to {out_dir}: {err.strerror}") from None
    return paths[0], paths[1]
