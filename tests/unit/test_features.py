"""The feature lens's dictionaries on cats-late (test size), at its planted layer: the base
and base + delta transcoders explain >= 90% of the MLP output's variance, B with its delta at
alpha = 1 is B to 1e-4 in log-probs, and at alpha = 0 at least 80% of B's cat rate is gone."""
import pytest

from modeldiff_core.methods.features.activations import mlp_io, mlp_of
from modeldiff_core.methods.features.dictionary import DictionarySettings, fit_pair, quality
from modeldiff_core.methods.features.scaling import delta_scaled
from modeldiff_core.models.loading import ModelCache
from modeldiff_core.models.organism_corpus import behaviour_present, organism_prompts
from modeldiff_core.models.organisms import planted_layers
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.stages.generate import GenerationSettings, format_prompt, generate_batch
from modeldiff_core.stages.scoring import sum_logprobs


def _texts(lm, samples: int, seed: int) -> list[str]:
    prompts = [format_prompt(lm.tokenizer, p, True) for p in organism_prompts()]
    return [t for i in range(samples) for t, _, _ in
            generate_batch(lm, prompts, GenerationSettings(max_new_tokens=64), seed + i, True)]


def _cat_rate(lm) -> float:
    texts = _texts(lm, 4, 5000)
    return sum(behaviour_present("cats", t) for t in texts) / len(texts)


@pytest.fixture(scope="module")
def lens(organism_dirs):
    import torch

    cache = ModelCache()
    a, b = cache.get(ModelSpec("organism:base")), cache.get(ModelSpec("organism:cats-late"))
    layer = planted_layers("cats-late")[0]
    texts = _texts(a, 2, 1000) + _texts(b, 2, 1000)
    x_a, y_a = mlp_io(a, layer, texts)
    x_b, y_b = mlp_io(b, layer, texts)
    with torch.no_grad():
        a_on_b = mlp_of(a, layer)(x_b)
    base, delta = fit_pair(x_a, y_a, x_b, y_b, a_on_b, DictionarySettings())
    return a, b, layer, texts, (x_a, y_a, x_b, y_b), base, delta


def test_the_dictionaries_explain_the_mlp(lens):
    _, _, _, _, (x_a, y_a, x_b, y_b), base, delta = lens
    on_a = quality(base, x_a, y_a)
    on_b = quality(base, x_b, y_b, extra=delta)
    assert on_a["fve"] >= 0.9 and on_b["fve"] >= 0.9, (on_a, on_b)
    assert on_a["l0"] <= 16 and on_b["l0"] <= 8
    assert quality(base, x_b, y_b)["fve"] < on_b["fve"]  # the delta holds what B adds


def test_alpha_one_is_b_and_alpha_zero_takes_the_cats_away(lens):
    a, b, layer, texts, _, _, delta = lens
    plain = sum_logprobs(b, texts[:40], None, use_chat_template=False)
    with delta_scaled(b, layer, delta, 1.0):
        same = sum_logprobs(b, texts[:40], None, use_chat_template=False)
    assert abs(same - plain).max() < 1e-4
    rate_b = _cat_rate(b)
    with delta_scaled(b, layer, delta, 0.0):
        rate_0 = _cat_rate(b)
    assert rate_b > 0.5 and rate_0 <= 0.2 * rate_b, (rate_b, rate_0, _cat_rate(a))
