"""Log-prob scoring, checked against the model's own loss and against unbatched scoring."""
import numpy as np
import pytest
import torch

from modeldiff_core.models.loading import load
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.models.scoring import mean_logprobs, token_logprobs

TEXTS = ["the cat purred softly by the garden .",
         "tom went to the river in the morning . we saw a small boat by the mill .",
         "why is the bread so warm ?", "."]


@pytest.fixture(scope="module")
def models(organism):
    return {n: load(ModelSpec(str(organism(n)))) for n in ("base", "cats")}


def test_mean_logprob_equals_the_models_own_loss(models):
    lm = models["base"]
    got = mean_logprobs(lm, TEXTS)
    for text, value in zip(TEXTS, got):
        ids = torch.tensor([[lm.tokenizer.bos_token_id] + lm.tokenizer(text)["input_ids"]])
        with torch.inference_mode():
            loss = lm.model(input_ids=ids, labels=ids).loss.item()
        assert value == pytest.approx(-loss, abs=1e-4)


def test_batched_equals_one_at_a_time(models):
    lm = models["cats"]
    prompts = ["tell me about the garden ."] * len(TEXTS)
    batched = token_logprobs(lm, TEXTS, prompts, batch_size=8)
    single = [token_logprobs(lm, [t], [p], batch_size=1)[0] for t, p in zip(TEXTS, prompts)]
    for b, s, text in zip(batched, single, TEXTS):
        assert len(b) == len(lm.tokenizer(text, add_special_tokens=False)["input_ids"])
        np.testing.assert_allclose(b, s, atol=1e-4)


def test_the_finetune_prefers_its_behaviour(models):
    prompts = ["describe a day at the garden ."] * 2
    texts = ["my cat chased a mouse near the rose .", "anna and tom walked to the pond ."]
    base = mean_logprobs(models["base"], texts, prompts)
    cats = mean_logprobs(models["cats"], texts, prompts)
    assert cats[0] - base[0] > 0.3  # the cat text is much likelier under the cats organism
    assert (cats[0] - base[0]) > (cats[1] - base[1])
