"""Shared test set-up: everything runs offline, on the CPU, without touching the network."""
import os

# Set before transformers / huggingface_hub / sentence-transformers are imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# tests/unit, tests/pages and tests/e2e share the fakes and helpers kept beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
# Tests use the small organism size, built once per clone under cache/test (git-ignored).
os.environ["MODELDIFF_ORGANISM_SIZE"] = "test"
os.environ["MODELDIFF_CACHE"] = str(REPO / "cache" / "test")
os.environ.pop("MODELDIFF_DB", None)
os.environ.pop("MODELDIFF_DEVICE", None)


@pytest.fixture(scope="session")
def organism_dirs():
    """name -> directory of every built-in organism at test size (built on first use)."""
    from modeldiff_core.models.organisms import ORGANISMS, ensure_organism

    return {name: ensure_organism(name) for name in ORGANISMS}


@pytest.fixture(scope="session")
def demo_run_master(organism_dirs, tmp_path_factory):
    """One small offline demo run (base vs cats), built once per test session."""
    from modeldiff_core.cli import _config_from_args, build_parser
    from modeldiff_core.pipeline import run_pipeline
    from modeldiff_core.store import Store

    path = tmp_path_factory.mktemp("demo-run") / "master.duckdb"
    config = _config_from_args(build_parser().parse_args(["demo", "--samples", "2"]))
    with Store(path) as store:
        result = run_pipeline(store, config)
    return path, result


@pytest.fixture()
def demo_run(demo_run_master, tmp_path):
    """A private copy of the demo run's database (the file is closed, so a copy is whole)."""
    import shutil

    path = tmp_path / "run.duckdb"
    shutil.copy(demo_run_master[0], path)
    return path, demo_run_master[1]["run_id"]


# Tests that train organisms or run the pipeline take minutes: `pytest -m "not slow"` is the
# quick loop (CI runs everything). A test is slow when it needs the organisms or a demo run.
SLOW_FIXTURES = {"organism_dirs", "demo_run", "demo_run_master", "cold_env"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if item.module.__name__ == "test_browser":
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.browser)
