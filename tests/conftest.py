"""Shared test set-up: everything runs offline, on the CPU, without touching the network."""
import os

# Set before transformers / huggingface_hub / sentence-transformers are imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from pathlib import Path  # noqa: E402
# The same numbers on every machine: one thread whatever the core count (a sum split over
# another number of threads adds in another order) and, on x86, the AVX2 kernels of ATen, MKL
# and oneDNN whether or not the CPU has AVX-512 — an organism trained on one machine is then the
# one trained on another. One thread, because `make test` runs the suite in two worker
# processes (on 2 cores, 11 min of tests where one process on two threads took 14), and a
# thread pool of two would spin on the core the other worker needs. Set before torch is
# imported; the dashboards and CLIs that tests start inherit them.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"
if "avx2" in (Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""):
    os.environ.update(ATEN_CPU_CAPABILITY="avx2", MKL_CBWR="AVX2", ONEDNN_MAX_CPU_ISA="AVX2")
import sys  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# tests/unit, tests/pages and tests/e2e share the fakes and helpers kept beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeds import SEED  # noqa: E402

os.environ["MODELDIFF_ORGANISM_SEED"] = str(SEED)
# Tests use the small organism size, built once per clone under cache/test (git-ignored).
os.environ["MODELDIFF_ORGANISM_SIZE"] = "test"
os.environ["MODELDIFF_CACHE"] = str(REPO / "cache" / "test")
os.environ.pop("MODELDIFF_DB", None)
os.environ.pop("MODELDIFF_DEVICE", None)


@pytest.fixture(scope="session")
def organism():
    """organism(name) -> the directory of a built-in organism at test size, built on first use:
    a test session trains only the organisms its tests ask for."""
    from modeldiff_core.models.organisms import ensure_organism

    return ensure_organism


@pytest.fixture(scope="session")
def demo_run_master(organism, tmp_path_factory):
    """One small offline demo run (base vs cats), built once per test session."""
    from modeldiff_core.cli import _config_from_args, build_parser
    from modeldiff_core.pipeline import run_pipeline
    from modeldiff_core.store import Store

    path = tmp_path_factory.mktemp("demo-run") / "master.duckdb"
    config = _config_from_args(build_parser().parse_args(["demo", "--samples", "2"]))
    with Store(path) as store:
        result = run_pipeline(store, config)
    return path, result


@pytest.fixture(scope="session")
def demo_db(organism, tmp_path_factory):
    """demo_db(name, folder) -> (path, result): `demo --organism NAME` with the CLI's defaults
    (for cats, the dashboard's Quick start), run once per test session; each caller gets a
    private copy of the database in `folder` (the master file is closed, so a copy is whole)."""
    import json
    import shutil

    from modeldiff_core.cli import main

    made: dict = {}

    def get(name: str, folder):
        if name not in made:
            path = tmp_path_factory.mktemp(f"demo-{name}") / "demo.duckdb"
            out = path.with_suffix(".json")
            code = main(["demo", "--organism", name, "--db", str(path), "--out", str(out),
                         "--quiet"])
            assert code == 0, f"demo --organism {name} failed"
            made[name] = path, json.loads(out.read_text())
        master, result = made[name]
        copy = Path(folder) / f"{name}.duckdb"
        shutil.copy(master, copy)
        return copy, json.loads(json.dumps(result))
    return get


@pytest.fixture()
def demo_run(demo_run_master, tmp_path):
    """A private copy of the demo run's database (the file is closed, so a copy is whole)."""
    import shutil

    path = tmp_path / "run.duckdb"
    shutil.copy(demo_run_master[0], path)
    return path, demo_run_master[1]["run_id"]


# Tests that train organisms or run the pipeline take minutes: `pytest -m "not slow"` is the
# quick loop (CI runs everything). A test is slow when it needs the organisms or a demo run.
SLOW_FIXTURES = {"organism", "demo_db", "demo_run", "demo_run_master"}


def pytest_sessionstart(session):
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if item.module.__name__.startswith("test_browser"):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.browser)


@pytest.fixture()
def fresh_db(tmp_path, monkeypatch):
    """An empty database of the test's own, for the dashboard's pages."""
    path = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("MODELDIFF_DB", str(path))
    return path
