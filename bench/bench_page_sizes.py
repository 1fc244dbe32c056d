"""The dashboard's page-sized defaults against the full ones, side by side in one process, on
the demo run (`demo`, base vs cats, the CLI's defaults): the feature lens with
`FeatureSettings.for_page()` and with `FeatureSettings()`, and the probe game on the strongest
validated hypothesis (the Probe page's default) and on every validated one (the CLI's).
Prints each arm's seconds and the ratio; the dashboard promises a quick look in about a
minute on a CPU. Run it alone: `PYTHONPATH=. .venv/bin/python bench/bench_page_sizes.py`."""
import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    from modeldiff_core.cli import main as cli
    from modeldiff_core.context import Context
    from modeldiff_core.methods.features.settings import FeatureSettings
    from modeldiff_core.methods.features.settings import Params as FeatureParams
    from modeldiff_core.methods.probe.settings import Params as ProbeParams
    from modeldiff_core.methods.registry import method
    from modeldiff_core.store import Store

    folder = Path(tempfile.mkdtemp(prefix="bench-page-"))
    db, out = folder / "demo.duckdb", folder / "demo.json"
    with contextlib.redirect_stdout(sys.stderr):  # the demo's summary is not the result
        assert cli(["demo", "--db", str(db), "--out", str(out), "--quiet"]) == 0
    run_id = json.loads(out.read_text())["run_id"]
    # The probe stores its rounds and resumes from them: each probe arm on its own copy.
    copy = folder / "copy.duckdb"
    shutil.copy(db, copy)
    times = {}
    with Store(db) as store, Store(copy) as other:
        val = store.validations(run_id, "offline")
        disc = val[(val.test == "discriminative") & val.validated.fillna(False).astype(bool)]
        validated = disc.sort_values("p_value").hypothesis_id.tolist()
        arms = {"features, page": lambda: method("features").run(
                    store, FeatureParams(run_id, "offline", FeatureSettings.for_page()), Context()),
                "features, full": lambda: method("features").run(
                    store, FeatureParams(run_id, "offline", FeatureSettings()), Context()),
                "probe, page (strongest)": lambda: method("probe").run(
                    other, ProbeParams(run_id, "offline", validated[:1]), Context()),
                "probe, full (every validated)": lambda: method("probe").run(
                    store, ProbeParams(run_id, "offline", validated), Context())}
        for name, arm in arms.items():
            t0 = time.perf_counter()
            arm()
            times[name] = time.perf_counter() - t0
            print(f"{name}: {times[name]:.0f} s", file=sys.stderr)
    print(json.dumps({"validated": len(validated), "seconds": times,
                      "features_full_over_page": times["features, full"] / times["features, page"],
                      "probe_full_over_page": times["probe, full (every validated)"]
                      / times["probe, page (strongest)"]}, indent=2))


if __name__ == "__main__":
    main()
