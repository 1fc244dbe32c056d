"""Shared test set-up: everything runs offline, on the CPU, without touching the network."""
import os

# Set before transformers / huggingface_hub / sentence-transformers are imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# Tests use the small organism size, built once per clone under cache/test (git-ignored).
os.environ["MODELDIFF_ORGANISM_SIZE"] = "test"
os.environ["MODELDIFF_CACHE"] = str(REPO / "cache" / "test")
os.environ.pop("MODELDIFF_DB", None)
os.environ.pop("MODELDIFF_DEVICE", None)


@pytest.fixture(scope="session")
def organism_dirs():
    """name -> directory of every built-in organism at test size (built on first use)."""
    from modeldiff_core.organisms import ORGANISMS, ensure_organism

    return {name: ensure_organism(name) for name in ORGANISMS}
