"""What planting shows: where the adapter is and how to use it as model B."""
from __future__ import annotations

from ...cli_args import as_json
from ..common.report import no_report as report, no_sections as sections  # noqa: F401


def summary(row: dict) -> str:
    return (f"finetune {row['finetune_id']}: adapter {row['adapter_path']} (final loss "
            f"{row['final_loss']:.3f}); use it as model B with --model-b {row['base']['model']} "
            f"--adapter-b {row['adapter_path']}")


def to_json(row: dict) -> str:
    out = {k: row[k] for k in ("finetune_id", "truths", "adapter_path", "final_loss", "base")}
    out["model_b"] = row["spec_b"].to_dict()
    return as_json(out)
