"""The feature lens's dictionaries on cats-late (test size), at its planted layer: the base
and base + delta transcoders explain >= 90% of the MLP output's variance, B with its delta at
alpha = 1 is B to 1e-4 in log-probs, at alpha = 0 at least 80% of B's cat rate is gone, and the
top B-specific delta features' highest-activating texts are cat texts. On the null organism no
delta feature passes Benjamini-Hochberg."""
import pytest

from modeldiff_core.methods.features.activations import mlp_io, mlp_of
from modeldiff_core.methods.features.dictionary import DictionarySettings, fit_pair, quality
from modeldiff_core.methods.features.scaling import delta_scaled
from modeldiff_core.methods.features.table import feature_table, text_values, top_texts
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


def _lens(name: str, layer: int):
    """The pair's texts (A's two samples per prompt, then B's), the MLP activations of both
    models on all of them, and the fitted dictionaries."""
    import torch

    cache = ModelCache()
    a, b = cache.get(ModelSpec("organism:base")), cache.get(ModelSpec(f"organism:{name}"))
    texts = _texts(a, 2, 1000) + _texts(b, 2, 1000)
    x_a, y_a, _ = mlp_io(a, layer, texts)
    x_b, y_b, rows = mlp_io(b, layer, texts)
    with torch.no_grad():
        a_on_b = mlp_of(a, layer)(x_b)
    base, delta = fit_pair(x_a, y_a, x_b, y_b, a_on_b, DictionarySettings())
    n = len(organism_prompts())
    sides = ["A"] * (len(texts) // 2) + ["B"] * (len(texts) // 2)
    values = text_values(delta, x_b, rows, len(texts))
    table = feature_table(values, sides, [i % n for i in range(len(texts))])
    return a, b, layer, texts, (x_a, y_a, x_b, y_b), base, delta, (values, table)


@pytest.fixture(scope="module")
def lens(organism_dirs):
    return _lens("cats-late", planted_layers("cats-late")[0])


def test_the_dictionaries_explain_the_mlp(lens):
    _, _, _, _, (x_a, y_a, x_b, y_b), base, delta, _ = lens
    on_a = quality(base, x_a, y_a)
    on_b = quality(base, x_b, y_b, extra=delta)
    assert on_a["fve"] >= 0.9 and on_b["fve"] >= 0.9, (on_a, on_b)
    assert on_a["l0"] <= 16 and on_b["l0"] <= 8
    assert quality(base, x_b, y_b)["fve"] < on_b["fve"]  # the delta holds what B adds


def test_alpha_one_is_b_and_alpha_zero_takes_the_cats_away(lens):
    a, b, layer, texts, _, _, delta, _ = lens
    plain = sum_logprobs(b, texts[:40], None, use_chat_template=False)
    with delta_scaled(b, layer, delta, 1.0):
        same = sum_logprobs(b, texts[:40], None, use_chat_template=False)
    assert abs(same - plain).max() < 1e-4
    rate_b = _cat_rate(b)
    with delta_scaled(b, layer, delta, 0.0):
        rate_0 = _cat_rate(b)
    assert rate_b > 0.5 and rate_0 <= 0.2 * rate_b, (rate_b, rate_0, _cat_rate(a))


def test_the_top_b_specific_features_fire_on_cat_texts(lens):
    texts, (values, table) = lens[3], lens[7]
    specific = table[table["b_specific"]]
    assert len(specific) >= 1, table.head()
    # The most B-specific feature (largest per-prompt rise of its activation on B's texts).
    top = top_texts(values, texts, int(specific["latent"].iloc[0]))
    assert sum(behaviour_present("cats", t["text"]) for t in top) >= 8, top


def test_on_the_null_organism_no_delta_feature_passes(organism_dirs):
    table = _lens("null", 1)[7][1]
    assert not table["b_specific"].any() and (table["q_value"] >= 0.05).all(), table.head()
