"""The feature lens's dictionaries on cats-late (test size), at its planted layer: the base
and base + delta transcoders explain >= 90% of the MLP output's variance, B with its delta at
alpha = 1 is B to 1e-4 in log-probs, at alpha = 0 at least 70% of B's cat rate is gone, and the
top B-specific delta features' highest-activating texts are cat texts. On the null organism no
delta feature passes Benjamini-Hochberg. Bounds are set from test seeds 0-4 (MODELDIFF_TEST_SEED,
each training its own organisms), measured with the suite's pinned threads and kernels."""
import pytest

from modeldiff_core.methods.features.activations import mlp_io
from modeldiff_core.models.hooks import mlp_of
from modeldiff_core.methods.features.dictionary import fit_pair, quality
from modeldiff_core.methods.features.settings import DictionarySettings
from modeldiff_core.methods.features.scaling import delta_scaled, latent_output, mlp_replaced
from modeldiff_core.methods.features.table import feature_table, text_values, top_texts
from modeldiff_core.models.loading import ModelCache
from modeldiff_core.models.organism_corpus import behaviour_present, organism_prompts
from modeldiff_core.models.organisms import planted_layers
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.models.generation import GenerationSettings, format_prompt, generate_batch
from modeldiff_core.models.scoring import sum_logprobs


from seeds import SEED  # the samples drawn, the dictionaries' initialisation and batches


def _texts(lm, samples: int, seed: int) -> list[str]:
    prompts = [format_prompt(lm.tokenizer, p, True) for p in organism_prompts()]
    return [t for i in range(samples) for t, _, _ in
            generate_batch(lm, prompts, GenerationSettings(max_new_tokens=64), seed + i, True)]


def _cat_rate(lm, seed: int = SEED) -> float:
    texts = _texts(lm, 4, 5000 + 100 * seed)
    return sum(behaviour_present("cats", t) for t in texts) / len(texts)


def _lens(name: str, layer: int, seed: int = SEED):
    """The pair's texts (A's two samples per prompt, then B's), the MLP activations of both
    models on all of them, and the fitted dictionaries."""
    import torch

    cache = ModelCache()
    a, b = cache.get(ModelSpec("organism:base")), cache.get(ModelSpec(f"organism:{name}"))
    texts = _texts(a, 2, 1000 + 100 * seed) + _texts(b, 2, 1000 + 100 * seed)
    x_a, y_a, _ = mlp_io(a, layer, texts)
    x_b, y_b, rows = mlp_io(b, layer, texts)
    with torch.no_grad():
        a_on_b = mlp_of(a, layer)(x_b)
    base, delta = fit_pair(x_a, y_a, x_b, y_b, a_on_b, DictionarySettings(seed=seed))
    n = len(organism_prompts())
    sides = ["A"] * (len(texts) // 2) + ["B"] * (len(texts) // 2)
    values = text_values(delta, x_b, rows, len(texts))  # per-token means: what is tested
    peaks = text_values(delta, x_b, rows, len(texts), reduce="max")  # what top texts show
    table = feature_table(values, sides, [i % n for i in range(len(texts))])
    return a, b, layer, texts, (x_a, y_a, x_b, y_b), base, delta, (peaks, table)


@pytest.fixture(scope="module")
def lens(organism):
    return _lens("cats-late", planted_layers("cats-late")[0])


def test_the_dictionaries_explain_the_mlp(lens, record_property):
    _, _, _, _, (x_a, y_a, x_b, y_b), base, delta, _ = lens
    on_a = quality(base, x_a, y_a)
    on_b = quality(base, x_b, y_b, extra=delta)
    record_property("fve", [on_a["fve"], on_b["fve"], len(x_a)])
    assert on_a["fve"] >= 0.9 and on_b["fve"] >= 0.9, (on_a, on_b)
    assert on_a["l0"] <= 16 and on_b["l0"] <= 8
    assert quality(base, x_b, y_b)["fve"] < on_b["fve"]  # the delta holds what B adds


def test_a_token_cap_keeps_whole_texts(lens):
    import numpy as np

    a, layer, texts = lens[0], lens[2], lens[3][:6]
    full = mlp_io(a, layer, texts)
    counts = np.bincount(full.text)
    cut = mlp_io(a, layer, texts, max_tokens=int(counts[:3].sum()) + 1)
    assert cut.n_texts == 3 and len(cut.x) == counts[:3].sum() and full.n_texts == 6


def test_alpha_one_is_b_and_alpha_zero_takes_the_cats_away(lens, record_property):
    a, b, layer, texts, _, _, delta, _ = lens
    plain = sum_logprobs(b, texts[:40], None, use_chat_template=False)
    with delta_scaled(b, layer, delta, 1.0):
        same = sum_logprobs(b, texts[:40], None, use_chat_template=False)
    assert abs(same - plain).max() < 1e-4
    # The hook's own arithmetic (alpha = 1 skips the hook): y + 0 * delta(x) is y.
    with mlp_replaced(b, layer, lambda x, y: y + 0.0 * latent_output(delta, x)):
        hooked = sum_logprobs(b, texts[:40], None, use_chat_template=False)
    assert abs(hooked - plain).max() < 1e-4
    rate_b = _cat_rate(b)
    with delta_scaled(b, layer, delta, 0.0):
        rate_0 = _cat_rate(b)
    record_property("cat_rates", [rate_b, rate_0])
    # Seeds 0-4 (one thread per process): B's rate 0.68-0.82; at alpha = 0 it kept 12-20% of
    # it (0.20, 0.13, 0.15, 0.15, 0.12 of rate_b); on two threads 12-22%, and one seed on
    # another machine once kept 24%.
    assert rate_b > 0.5 and rate_0 <= 0.3 * rate_b, (rate_b, rate_0, _cat_rate(a))


def test_the_top_b_specific_features_fire_on_cat_texts(lens, record_property):
    texts, (values, table) = lens[3], lens[7]
    specific = table[table["b_specific"]]
    assert len(specific) >= 1, table.head()
    # Ranked by the standardised per-prompt rise of their activation on B's texts: nine or ten
    # of the first feature's ten top texts are cat texts, and at least one more of the first
    # five has 8 or more (seeds 0-4: [10, 10, 6, 5, 5], [10, 10, 8, 10, 10], [10, 7, 10, 7, 7],
    # [9, 8, 10, 7, 7], [10, 9, 9, 10, 10]; the low ones fire on nearly every text of both
    # models).
    cats = [sum(behaviour_present("cats", t["text"]) for t in top_texts(values, texts, int(j)))
            for j in specific["latent"].head(5)]
    record_property("top_cat_texts", cats)
    assert cats[0] >= 8 and sum(c >= 8 for c in cats) >= 2, cats


def test_on_the_null_organism_no_delta_feature_passes(organism):
    table = _lens("null", 1)[7][1]
    assert not table["b_specific"].any() and (table["q_value"] >= 0.05).all(), table.head()


# ------------------------------------------------------------ no organism needed

def test_links_find_the_planted_latent_on_prompts_that_did_not_choose_it():
    import numpy as np

    from modeldiff_core.methods.features.table import hypothesis_links

    rng = np.random.default_rng(0)
    prompts = np.repeat(np.arange(40), 2)
    values = rng.random((80, 6))
    labels = rng.random(80) < 0.5
    values[:, 4] += 2 * labels  # latent 4 fires on the texts the hypothesis holds of
    links = hypothesis_links(values, labels, n=3, prompt_ids=prompts)
    assert links[0]["latent"] == 4 and links[0]["auc"] > 0.9 and len(links) == 3
    assert links[0]["n_texts"] == 40  # reported on the half of the prompts that did not choose
    assert hypothesis_links(values, np.ones(80, bool)) == []
    # Pure noise: the best of 2,048 latents looks good on the texts that chose it, and is
    # chance on the others.
    prompts = np.repeat(np.arange(120), 2)
    noise, labels = rng.random((240, 2048)), rng.random(240) < 0.5
    best = hypothesis_links(noise, labels, n=1, prompt_ids=prompts)[0]
    assert best["auc_choosing"] > 0.62 and abs(best["auc"] - 0.5) < 0.1, best
    assert hypothesis_links(noise, labels, n=1)[0]["auc"] > 0.62  # chosen and shown on all


def test_a_length_only_difference_flags_no_latent():
    """Per-token activations alike for both models, B's texts twice as long: a text's largest
    activation grows with its length and flags nearly every latent; its mean per token does
    not."""
    import numpy as np

    from modeldiff_core.methods.features.table import feature_table

    rng = np.random.default_rng(5)
    n_prompts, latents = 30, 100
    peak, mean, sides, prompts = [], [], [], []
    for p in range(n_prompts):
        for side, length in (("A", 20), ("B", 40)):
            for _ in range(2):
                code = np.maximum(0, rng.normal(-1.0, 1.0, (length, latents)))  # sparse
                peak.append(code.max(0))
                mean.append(code.mean(0))
                sides.append(side)
                prompts.append(p)
    old = feature_table(np.array(peak), sides, prompts)
    new = feature_table(np.array(mean), sides, prompts)
    assert old["b_specific"].sum() >= 70 and new["b_specific"].sum() <= 1, (
        old["b_specific"].sum(), new["b_specific"].sum())


def test_sign_flips_over_columns_are_the_one_column_test():
    """The vectorised test against sign_flip_p column by column: equal when exact (few
    prompts), within Monte Carlo error otherwise; a column with a NaN is NaN."""
    import numpy as np

    from modeldiff_core.hypotheses.stats import sign_flip_p, sign_flip_p_columns

    rng = np.random.default_rng(3)
    small = rng.normal(0.3, 1, (9, 7))
    exact = sign_flip_p_columns(small)
    assert np.allclose(exact, [sign_flip_p(small[:, j], alternative="two-sided")
                               for j in range(7)])
    big = rng.normal(0.2, 1, (30, 5))
    big[3, 4] = np.nan
    mc = sign_flip_p_columns(big, 20_000, seed=1)
    one = [sign_flip_p(big[:, j], 20_000, seed=2, alternative="two-sided") for j in range(4)]
    assert np.allclose(mc[:4], one, atol=0.01) and np.isnan(mc[4])
    for alternative in ("greater", "less"):
        got = sign_flip_p_columns(small, alternative=alternative)
        assert np.allclose(got, [sign_flip_p(small[:, j], alternative=alternative)
                                 for j in range(7)])


def test_beyond_the_resamples_the_tail_bound_is_never_below_the_exact_p():
    import numpy as np

    from modeldiff_core.hypotheses.stats import sign_flip_p_columns

    rng = np.random.default_rng(6)
    d = np.column_stack([np.abs(rng.normal(3.0, 1, 24)), rng.normal(0, 1, 24)])
    # Every difference of the strong column is positive: only the all-plus and all-minus sign
    # vectors reach its |sum|, so its exact two-sided p is 2 / 2^24.
    exact = 2 / 2 ** 24
    capped = sign_flip_p_columns(d, 999, tail_bound=True)
    hoeffding = 2 * np.exp(-d[:, 0].sum() ** 2 / (2 * (d[:, 0] ** 2).sum()))
    # The exact p is far below what 999 resamples resolve; the bound stands in for it, above
    # the exact value. The null column keeps its Monte Carlo p.
    assert exact < hoeffding < 1 / 1000 and capped[0] == pytest.approx(hoeffding)
    assert capped[1] == sign_flip_p_columns(d, 999)[1]


def test_a_lone_strong_feature_among_many_can_pass():
    """With m latents the resamples grow so that the smallest attainable p passes BH alone."""
    import numpy as np

    from modeldiff_core.methods.features.table import feature_table, resamples_for

    assert resamples_for(256, 0.05) == 10_240 and resamples_for(10, 0.05) == 9999
    rng = np.random.default_rng(4)
    prompts, sides = np.repeat(np.arange(30), 2), np.tile(["A", "B"], 30)
    values = rng.random((60, 3000))
    values[sides == "B", 7] += 1.0  # one latent rises on every prompt
    table = feature_table(values, sides, prompts)
    assert list(table.loc[table["b_specific"], "latent"]) == [7]


def test_the_feature_table_holds_its_level_on_simulated_nulls():
    """Latents whose values are exchangeable between A's and B's texts of a prompt: across 40
    simulated tables of 50 latents each, BH at 0.05 makes any discovery in few of them (the
    family-wise rate under the complete null is at most alpha)."""
    import numpy as np

    from modeldiff_core.methods.features.table import feature_table

    rng = np.random.default_rng(1)
    prompts = np.repeat(np.arange(20), 4)  # 20 prompts, two texts per side each
    sides = np.tile(["A", "A", "B", "B"], 20)
    any_found, p_small = 0, []
    for sim in range(40):
        prompt_level = rng.gamma(1.0, 1.0, (20, 1))  # prompts differ, sides do not
        values = np.maximum(0, rng.normal(0, 1, (80, 50)) + prompt_level[prompts] - 0.5)
        table = feature_table(values, sides, prompts, seed=sim)
        any_found += bool(table["b_specific"].any())
        p_small.append(float((table["p_value"] < 0.05).mean()))
    assert any_found <= 5, any_found  # 2 expected at alpha = 0.05; P(> 5) < 0.001
    assert 0.02 < np.mean(p_small) < 0.08, np.mean(p_small)  # uncorrected p ~ uniform


def test_token_pieces_put_the_text_back_together():
    from modeldiff_core.methods.features.table import token_pieces

    class Words:  # a word-level tokenizer: single tokens decode without their spaces
        vocab = ["the", "cat", "sat", "."]

        def decode(self, ids):
            return " ".join(self.vocab[i] for i in ids)

    assert token_pieces(Words(), [0, 1, 2, 3]) == ["the", " cat", " sat", " ."]


def test_scaling_chosen_latents_moves_the_output_by_their_part_only():
    import torch

    from modeldiff_core.methods.features.dictionary import transcoder
    from modeldiff_core.methods.features.scaling import latent_output

    torch.manual_seed(0)
    delta = transcoder(8, 8, 16, 4, seed=0)
    x = torch.randn(30, 8)
    with torch.no_grad():
        code = delta.encode(x)
        part = latent_output(delta, x, [2, 5])
        manual = code[:, [2, 5]] @ delta.W_dec[[2, 5]]
        whole = latent_output(delta, x)
        assert torch.allclose(part, manual) and torch.allclose(whole, delta(x))
        every = latent_output(delta, x, list(range(16))) + delta.b_dec
        assert torch.allclose(every, whole, atol=1e-5)  # all latents and the bias: the whole


def test_feature_settings_round_trip_and_refuse_bad_values():
    from modeldiff_core.config import ModelDiffError
    from modeldiff_core.methods.features.settings import FeatureSettings

    s = FeatureSettings(layer=1, dictionary=DictionarySettings(width=4, steps=10),
                        alphas=(0.0, 0.5))
    assert FeatureSettings.from_dict(s.to_dict()) == s
    for bad in (FeatureSettings(layer=-1), FeatureSettings(n_texts=0), FeatureSettings(fdr=1.0),
                FeatureSettings(dictionary=DictionarySettings(k=0)),
                FeatureSettings(alphas=(float("nan"),))):
        with pytest.raises(ModelDiffError, match="out of range"):
            bad.check()


def test_the_default_layer_is_the_one_the_layer_lens_ranks_first():
    from modeldiff_core.methods.features.lens import choose_layer

    class Stored:
        def __init__(self, lens):
            self.lens = lens

        def method_result(self, run_id, method, hypothesis_set):
            return self.lens if method == "layers" else None

    rows = [{"hypothesis_id": "h1", "layer": 0, "layers": [0], "logprob_fraction": 0.1,
             "predicate_fraction": None},
            {"hypothesis_id": "h1", "layer": 2, "layers": [2], "logprob_fraction": 0.7,
             "predicate_fraction": 0.9},
            {"hypothesis_id": "h1", "layer": "together", "layers": [0, 2], "logprob_fraction": 1.0,
             "predicate_fraction": 1.0}]
    assert choose_layer(Stored({"restoration": rows}), "r", "offline", 4, None)[0] == 2
    assert choose_layer(Stored(None), "r", "offline", 4, None)[0] == 2
    assert choose_layer(Stored(None), "r", "offline", 4, 3) == (3, "given")
    with pytest.raises(Exception, match="layers 0 to 3, not 4"):
        choose_layer(Stored(None), "r", "offline", 4, 4)


def test_a_pair_without_weights_is_refused_before_anything_loads(tmp_path):
    from modeldiff_core.config import ModelDiffError
    from modeldiff_core.context import Context
    from modeldiff_core.methods.features.settings import Params
    from modeldiff_core.methods.registry import method
    from modeldiff_core.models.spec import ModelSpec

    answers = tmp_path / "a.jsonl"
    answers.write_text('{"prompt": "p", "output": "o"}\n')

    class Stored:
        def get_run(self, run_id):
            return {"spec_a": ModelSpec(f"outputs:{answers}").to_dict(),
                    "spec_b": ModelSpec("organism:cats").to_dict()}

    class NoLoading:
        def get(self, spec):
            raise AssertionError("a model was loaded")

    with pytest.raises(ModelDiffError, match="feature lens needs the model's weights"):
        method("features").run(Stored(), Params("r"), Context(cache=NoLoading()))
