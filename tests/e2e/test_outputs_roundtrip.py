"""Round trip: a demo run exported in the `outputs:` format and imported again as two files of
answers gives the same prompts, split and texts, so the pipeline finds the same clusters, the
same hypotheses and the same verdicts. The files are scored by the weights that wrote them
(`scorer`), so the generative test has its log-probs; without a scorer it is skipped."""
import dataclasses

from modeldiff_core.cli import _config_from_args, build_parser
from modeldiff_core.stages.prompts import prompts_from_files
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.pipeline import run_pipeline
from modeldiff_core.stages.export import export_run
from modeldiff_core.store import Store

# What names the run and its models, not what it found.
RUN_KEYS = ("run_id", "model_a", "model_b")
TEXT_KEYS = ["side", "prompt_id", "sample_idx", "text", "prompt", "split"]


def test_an_exported_demo_run_imports_to_the_same_result(demo_run, tmp_path):
    path, run_id = demo_run
    demo = _config_from_args(build_parser().parse_args(["demo", "--samples", "2"]))
    with Store(path) as store:
        original = store.result(run_id)
        path_a, path_b = export_run(store, run_id, tmp_path / "export")
        spec_a = ModelSpec(f"outputs:{path_a}", scorer=demo.spec_a.model)
        spec_b = ModelSpec(f"outputs:{path_b}", scorer=demo.spec_b.model)
        prompt_set, notes = prompts_from_files(spec_a, spec_b)
        assert notes == []
        assert prompt_set.prompts == demo.prompt_set.prompts
        assert prompt_set.groups == demo.prompt_set.groups
        config = dataclasses.replace(demo, spec_a=spec_a, spec_b=spec_b, prompt_set=prompt_set)
        again = run_pipeline(store, config)
        assert again["run_id"] != run_id
        texts = store.generations(again["run_id"])[TEXT_KEYS]
        assert texts.equals(store.generations(run_id)[TEXT_KEYS])
        assert set(store.generations(again["run_id"])["finish_reason"]) == {"imported"}
        # A second import of the same files writes nothing new.
        n = store.count_generations(again["run_id"])
        run_pipeline(store, config)
        assert store.count_generations(again["run_id"]) == n
    assert again["model_a"] == f"outputs:{path_a.name}"
    assert again.keys() == original.keys()
    for key in original.keys() - set(RUN_KEYS):
        assert again[key] == original[key], key


def test_without_a_scorer_the_generative_test_is_reported_skipped(demo_run, tmp_path):
    path, run_id = demo_run
    demo = _config_from_args(build_parser().parse_args(["demo", "--samples", "2"]))
    with Store(path) as store:
        original = store.result(run_id)
        path_a, path_b = export_run(store, run_id, tmp_path / "export")
        spec_a, spec_b = ModelSpec(f"outputs:{path_a}"), ModelSpec(f"outputs:{path_b}")
        prompt_set, _ = prompts_from_files(spec_a, spec_b)
        result = run_pipeline(store, dataclasses.replace(demo, spec_a=spec_a, spec_b=spec_b,
                                                         prompt_set=prompt_set))
    assert result["clusters"] == original["clusters"]
    assert [h["discriminative"] for h in result["hypotheses"]] == \
        [h["discriminative"] for h in original["hypotheses"]]
    for h in result["hypotheses"]:  # never silently missing: the JSON says why
        assert h["generative"] is None
        assert "no log-probs for this source" in h["generative_skipped"]
