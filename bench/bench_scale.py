"""How the text-only pipeline grows with the number of texts: import -> embed -> cluster -> map
-> cluster tables -> offline hypotheses -> validation, at 1k, 5k, 20k and 50k texts per side.

The texts are synthetic: documents of the built-in organisms' language, B's with the cats
behaviour in 30% of its answers, 4 answers per prompt, written as two `outputs:` files. Each
size runs in its own process (so its peak memory is its own) on a fresh database, after one
warm-up of the embedder and of UMAP (numba compiles on its first fit); the embedder is the
one `--embedder` names (default, fast, or torch: the earlier path). Printed: seconds per
stage, peak memory, and per stage the growth exponent b of time ~ n^b between consecutive
sizes (n log n is b a little above 1).

    .venv/bin/python bench/bench_scale.py [--sizes 1000,5000,20000,50000] [--embedder fast] [--json]
"""
import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

SAMPLES = 4
STAGES = ["import", "embed", "cluster", "map", "tables", "propose", "validate"]


def write_outputs(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    from modeldiff_core.models.organism_corpus import make_document

    rng = random.Random(seed)
    paths = []
    for side, rate in (("A", 0.0), ("B", 0.3)):
        path = folder / f"{side}.jsonl"
        with path.open("w") as f:
            for i in range(n):
                behaviour = "cats" if rng.random() < rate else None
                f.write(json.dumps({"prompt": f"Tell me about topic {i // SAMPLES}.",
                                    "output": make_document(rng, behaviour),
                                    "sample": i % SAMPLES}) + "\n")
        paths.append(path)
    return paths[0], paths[1]


def one_size(n: int, embedder_choice: str = "default") -> dict:
    """Every stage once at n texts per side; seconds per stage and peak memory."""
    from modeldiff_core.assistants.registry import make_assistant
    from modeldiff_core.stages.hypotheses import _proposed, hypotheses_run
    from modeldiff_core.models.loading import ModelCache
    from modeldiff_core.stages.prompts import prompts_from_files
    from modeldiff_core.models.spec import ModelSpec
    from modeldiff_core.pipeline import RunConfig, generate_run, make_sources, prepare_run
    from modeldiff_core.stages.cluster import (cluster_tables, make_clusterer, top_terms,
                                               umap_project)
    from modeldiff_core.embedders import make_embedder
    from modeldiff_core.stages.embed import embed_texts
    from modeldiff_core.models.generation import GenerationSettings
    from modeldiff_core.store import Store

    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        path_a, path_b = write_outputs(Path(tmp), n)
        spec_a, spec_b = ModelSpec(f"outputs:{path_a}"), ModelSpec(f"outputs:{path_b}")
        prompts, _ = prompts_from_files(spec_a, spec_b)
        config = RunConfig(spec_a, spec_b, prompts, GenerationSettings(samples_per_prompt=SAMPLES))
        embedder = make_embedder(embedder_choice)
        embedder.embed(["warm up"])
        # UMAP compiles with numba on its first fit in a process (~30 s): not the map's cost.
        import numpy as np
        umap_project(np.random.default_rng(0).normal(size=(64, 8)), seed=0)
        with Store(Path(tmp) / "scale.duckdb") as store:
            t0 = time.perf_counter()
            cache = ModelCache()
            sources = make_sources(config, cache, store)
            run_id = prepare_run(store, config)
            generate_run(store, run_id, config, sources)
            times["import"] = time.perf_counter() - t0
            gens = store.generations(run_id)
            t0 = time.perf_counter()
            x = embed_texts(store, embedder, gens["text"].tolist())
            times["embed"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            labels = make_clusterer("kmeans", seed=0).fit_predict(x)
            times["cluster"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            xy = umap_project(x, seed=0)
            times["map"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            table = cluster_tables(labels, gens["side"].to_numpy(), gens["prompt_id"].to_numpy(),
                                   gens["split"].to_numpy())
            table["top_terms"] = table["cluster_id"].map(top_terms(gens["text"].tolist(), labels))
            points = gens[["side", "prompt_id", "sample_idx"]].assign(
                cluster_id=labels.astype(int), x=xy[:, 0], y=xy[:, 1])
            store.replace_clustering(run_id, points, table.fillna({"top_terms": ""}),
                                     config.cluster_settings())
            times["tables"] = time.perf_counter() - t0
            assistant = make_assistant(config.hypotheses.assistant_settings(), store, run_id,
                                       embed=embedder.embed)
            calls = []  # the proposal asks the corpus, then each mined cluster, then refines
            ask = assistant.propose

            def timed(*a, **k):
                t = time.perf_counter()
                found = ask(*a, **k)
                calls.append({"source": a[2], "seconds": round(time.perf_counter() - t, 2),
                              "found": len(found)})
                return found
            assistant.propose = timed
            t0 = time.perf_counter()
            _, stored = _proposed(store, run_id, config.parts(), assistant, None)
            times["propose"] = time.perf_counter() - t0
            assistant.propose = ask
            t0 = time.perf_counter()
            hypotheses_run(store, run_id, config.parts(), assistant, sources)
            times["validate"] = time.perf_counter() - t0
            validated = store.validations(run_id, "offline")
            n_valid = int(validated["validated"].fillna(False).astype(bool).sum())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "seconds": {k: round(v, 2) for k, v in times.items()},
            "peak_mib": round(peak_mib), "hypotheses": len(stored), "validated": n_valid,
            "clusters": int(labels.max()) + 1, "proposals": len(calls), "calls": calls}


def exponents(rows: list[dict]) -> list[dict]:
    """Per stage, b in time ~ n^b between each size and the next."""
    out = []
    for lo, hi in zip(rows, rows[1:]):
        ratio = math.log(hi["n"] / lo["n"])
        out.append({"from": lo["n"], "to": hi["n"], **{
            s: round(math.log(max(hi["seconds"][s], 1e-3) / max(lo["seconds"][s], 1e-3)) / ratio, 2)
            for s in STAGES}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,20000,50000")
    parser.add_argument("--embedder", default="default", help="default, fast or torch")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one size, in this process
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.embedder)))
        return
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        done = subprocess.run([sys.executable, __file__, "--one", str(n), "--embedder",
                               args.embedder], check=True,
                              capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{n:>6} texts per side: " + ", ".join(f"{s} {r['seconds'][s]:.1f} s" for s in STAGES)
              + f"; peak {r['peak_mib']} MiB; {r['clusters']} clusters, {r['proposals']} "
              f"proposals asked, {r['hypotheses']} hypotheses, {r['validated']} validated",
              flush=True)
    growth = exponents(rows)
    for g in growth:
        print(f"growth exponent {g['from']} -> {g['to']}: "
              + ", ".join(f"{s} {g[s]:.2f}" for s in STAGES))
    if args.json:
        print(json.dumps({"rows": rows, "exponents": growth}))


if __name__ == "__main__":
    main()
