"""The methods' parameters and face: what a job stores reads back as the same parameters,
params stored by earlier versions still read, every method folder shows the same face, and the
CLI's flags take their defaults and bounds from the settings (the face itself: test_layout)."""
import re
from pathlib import Path

import pytest

from modeldiff_core.config import ModelDiffError
from modeldiff_core.methods.features.settings import DictionarySettings, FeatureSettings
from modeldiff_core.methods.ground_truth.plant import PlantConfig
from modeldiff_core.methods.layers.settings import LensSettings
from modeldiff_core.methods.probe.settings import ProbeSettings
from modeldiff_core.methods.registry import METHODS, method
from modeldiff_core.models.finetune import FinetuneSettings
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.models.generation import GenerationSettings

ROOT = Path(__file__).resolve().parents[2]


def _params():
    spec = ModelSpec("organism:base", quant="8bit")
    P = {m.name: m.Params for m in METHODS}
    return [
        P["plant"](PlantConfig(spec, ["The model really likes cats."],
                               settings=FinetuneSettings(rank=4, target_modules=("c_attn",))),
                   True, GenerationSettings(samples_per_prompt=2)),
        P["truth-bench"](GenerationSettings(seed=3), subtle=True, max_judge_prompts=240),
        P["quant"](spec, ["bf16", "4bit"], "fp32", texts=["a b"], eval_set="up"),
        P["layers"]("run-1", spec, ModelSpec("organism:cats"), "offline",
                    LensSettings(scales=[0, 1], window=2)),
        P["features"]("run-1", "anthropic:m", FeatureSettings(
            layer=2, dictionary=DictionarySettings(width=4), alphas=(0.0, 0.5))),
        P["probe"]("run-1", "offline", ["h1"], ProbeSettings(rounds=2), "http://x"),
        P["token-diff"](spec, ModelSpec("organism:cats"), "a text", "a prompt"),
    ]


def test_every_params_dataclass_round_trips():
    import json

    for params in _params():
        stored = json.loads(json.dumps(params.to_dict()))  # what the jobs table holds
        assert type(params).from_dict(stored) == params, type(params)


def test_params_stored_by_earlier_versions_still_read():
    P = {m.name: m.Params for m in METHODS}
    assert P["truth-bench"].from_dict({}) == P["truth-bench"]()
    quant = P["quant"].from_dict({"spec": {"model": "organism:base"}, "levels": ["8bit"],
                                  "reference": "fp32"})
    assert quant.spec == ModelSpec("organism:base") and quant.texts is None
    # The layer lens's settings were stored flat, the set named "assistant", scales "alphas".
    layers = P["layers"].from_dict({"run_id": "run-1", "assistant": "anthropic:m",
                                    "alphas": [0, 0.5], "window": 1, "n_generations": 8,
                                    "scales": None, "assistant_base_url": None})
    assert (layers.run_id, layers.spec_a, layers.hypothesis_set) == ("run-1", None, "anthropic:m")
    assert layers.settings == LensSettings(scales=(0, 0.5), window=1, n_generations=8)
    assert P["layers"].from_dict({"scales": None}).settings.scales == LensSettings().scales
    # A plant job from before `evaluate` existed evaluated; its finetune settings say "alpha".
    config = PlantConfig(ModelSpec("organism:base"), ["The model really likes cats."])
    old = {"plant": {**P["plant"](config).to_dict()["plant"]}}
    assert old["plant"]["settings"]["alpha"] == 16
    assert P["plant"].from_dict(old) == P["plant"](config, evaluate=True)
    probe = P["probe"].from_dict({"run_id": "r", "settings": {"rounds": 5}})
    assert probe.settings == ProbeSettings(rounds=5) and probe.hypothesis_ids is None


def test_a_pipeline_job_of_an_earlier_version_is_a_run():
    from modeldiff_core import commands

    assert commands.OLDER_KINDS["pipeline"] == "run"
    read, command = commands.KINDS["run"]
    assert command is commands.run


def _args(*argv):
    from modeldiff_core.cli import build_parser

    return build_parser().parse_args(list(argv))


def test_cli_flags_take_defaults_and_bounds_from_the_settings():
    read = lambda *a: method(a[0]).face.cli.params_from_args(_args(*a))  # noqa: E731
    assert read("probe", "--run", "r").settings == ProbeSettings()
    assert read("probe", "--run", "r", "--rounds", "5", "--assistant", "x").settings.rounds == 5
    assert read("features", "--run", "r").settings == FeatureSettings()
    wide = read("features", "--run", "r", "--width", "3", "--layer", "1", "--alphas", "0,1")
    assert (wide.settings.dictionary.width, wide.settings.layer) == (3, 1)
    assert wide.settings.alphas == (0.0, 1.0) and wide.settings.dictionary.steps == 3000
    layers = read("layers", "--model-a", "a", "--model-b", "b", "--texts", "7")
    assert layers.settings == LensSettings(n_texts=7)
    assert read("quant", "--model", "m").levels == ["bf16", "8bit", "4bit"]
    for argv, said in [(("probe", "--run", "r", "--rounds", "0"), "--rounds must be a number "
                        "from 1 to 10000 (got 0)"),
                       (("features", "--run", "r", "--width", "0"), "--width must be a number"),
                       (("layers", "--model-a", "a", "--model-b", "b", "--scales", "x"),
                        "--scales must be comma-separated numbers"),
                       (("features", "--run", "r", "--alphas", "x"), "--alphas: scales must be"),
                       (("quant", "--model", "m", "--levels", "9bit"), "--levels: unknown")]:
        with pytest.raises(ModelDiffError, match=re.escape(said)):
            read(*argv)


def test_token_diff_from_the_cli_needs_one_text(tmp_path, capsys):
    from modeldiff_core.cli import main

    assert main(["token-diff", "--model-a", "a", "--model-b", "b"]) == 2
    assert "--text or --text-file" in capsys.readouterr().err
    assert main(["token-diff", "--model-a", "a", "--model-b", "b", "--text-file",
                 str(tmp_path / "none.txt")]) == 2
    assert "none.txt" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_token_diff_from_the_cli_scores_a_text(organism, tmp_path, capsys):
    import json

    from modeldiff_core.cli import main

    out = tmp_path / "diff.json"
    assert main(["token-diff", "--model-a", "organism:base", "--model-b", "organism:cats",
                 "--text", "the cat purred softly by the pond .", "--out", str(out),
                 "--quiet", "--db", str(tmp_path / "never.duckdb")]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    diffs = [b - a for a, b in zip(result["logprob_a"], result["logprob_b"])]
    assert len(result["tokens"]) == len(diffs) > 3
    top = result["tokens"][max(range(len(diffs)), key=diffs.__getitem__)]
    assert f"B favours most: {top!r}" in printed
    assert abs(result["means"]["diff"] - sum(diffs) / len(diffs)) < 1e-9
    assert not (tmp_path / "never.duckdb").exists()  # nothing is stored: no database is made


def test_a_run_job_stored_flat_reads_into_the_configs_parts():
    """Run jobs stored before the configuration had parts held every setting flat."""
    import json

    from modeldiff_core.pipeline import RunConfig, config_from_dict, config_to_dict
    from modeldiff_core.stages.prompts import PromptSet
    from modeldiff_core.stages.settings import ClusterSettings, HypothesisSettings

    config = RunConfig(ModelSpec("organism:base"), ModelSpec("organism:cats"),
                       PromptSet("t", ("a", "b"), None), GenerationSettings(seed=2), 0.4,
                       ClusterSettings("hdbscan", None, 7),
                       HypothesisSettings("openai", "m", alpha=0.1, judge_mode="pairwise"),
                       ("a note",))
    assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config
    old = {k: v for k, v in config_to_dict(config).items() if k not in ("clustering", "hypotheses")}
    old.update(cluster_method="hdbscan", n_clusters=None, min_cluster_size=7, assistant="openai",
               assistant_model="m", alpha=0.1, judge_mode="pairwise", max_judge_prompts=120,
               refine_rounds=2, n_pairs=60, assistant_base_url=None, assistant_key_file=None)
    assert config_from_dict(old) == config
    # The clustering as stored with a run (and so which stored map is reused): the embedder
    # chosen is part of it (the cluster stage adds the embedder's fingerprint).
    assert config.cluster_settings() == {
        "method": "hdbscan", "n_clusters": None, "min_cluster_size": 7, "seed": 2,
        "embedder": "default",
        "umap": {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean", "normalised": True}}
