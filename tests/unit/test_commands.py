"""The command layer's parameters: what a job stores reads back as the same parameters, and
params stored by earlier versions (the dashboard's own dicts) still read."""
from modeldiff_core import commands
from modeldiff_core.methods.ground_truth.plant import PlantConfig
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.stages.generate import GenerationSettings


def test_every_params_dataclass_round_trips():
    spec = ModelSpec("organism:base", quant="8bit")
    for params in [
        commands.PlantParams(PlantConfig(spec, ["The model really likes cats."]), True,
                             GenerationSettings(samples_per_prompt=2)),
        commands.BenchParams(GenerationSettings(seed=3), subtle=True, max_judge_prompts=240),
        commands.QuantParams(spec, ["bf16", "4bit"], "fp32", texts=["a b"], eval_set="up"),
        commands.LayersParams("run-1", spec, ModelSpec("organism:cats"), "offline", [0, 1], 2),
    ]:
        assert type(params).from_dict(params.to_dict()) == params


def test_params_stored_by_the_dashboard_before_still_read():
    assert commands.BenchParams.from_dict({}) == commands.BenchParams()
    quant = commands.QuantParams.from_dict({"spec": {"model": "organism:base"},
                                            "levels": ["8bit"], "reference": "fp32"})
    assert quant.spec == ModelSpec("organism:base") and quant.texts is None
    layers = commands.LayersParams.from_dict({"run_id": "run-1", "assistant": "offline",
                                              "alphas": [0, 0.5], "window": 1,
                                              "n_generations": 8, "assistant_base_url": None})
    assert layers.run_id == "run-1" and layers.spec_a is None and layers.n_generations == 8
