"""Named hook points: what each reads is what the model computes there (checked against the
module run by hand), a rewrite lasts only inside its context, and a wrong name is one line."""
import pytest
import torch

from modeldiff_core.config import ModelDiffError
from modeldiff_core.models.hooks import (capture, hook_point, hook_points, mlp_in, mlp_of, mlp_out,
                                         replaced, resid_post, run_with_cache)
from modeldiff_core.models.loading import load
from modeldiff_core.models.spec import ModelSpec


@pytest.fixture(scope="module")
def lm(organism):
    return load(ModelSpec(str(organism("base"))))


def _ids(lm):
    enc = lm.tokenizer(["the cat sat by the pond .", "tom went to the garden ."],
                       return_tensors="pt", padding=True)
    return enc["input_ids"], enc["attention_mask"]


def test_each_point_reads_what_the_model_computes_there(lm):
    ids, mask = _ids(lm)
    n = len(hook_points(lm))
    names = [mlp_in(1), mlp_out(1), resid_post(n - 1)]
    got = run_with_cache(lm, {name: hook_point(lm, name) for name in names}, ids, mask)
    with torch.inference_mode():
        by_hand = mlp_of(lm, 1)(got[mlp_in(1)])
        hidden = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    torch.testing.assert_close(got[mlp_out(1)], by_hand.float())
    # The last block's output, before the final norm: the model's last hidden state is after it.
    with torch.inference_mode():
        final = lm.model.transformer.ln_f(got[resid_post(n - 1)])
    torch.testing.assert_close(final, hidden.hidden_states[-1].float(), atol=1e-5, rtol=1e-5)


def test_a_rewrite_holds_inside_its_context_only(lm):
    ids, mask = _ids(lm)
    point = {resid_post(0): hook_point(lm, resid_post(0))}
    before = run_with_cache(lm, point, ids, mask)[resid_post(0)]
    with replaced(lm, mlp_out(0), lambda x, y: torch.zeros_like(y)):
        with capture({mlp_out(0): hook_point(lm, mlp_out(0))}) as seen, torch.inference_mode():
            lm.model(input_ids=ids, attention_mask=mask)
        assert float(seen[mlp_out(0)].abs().max()) == 0.0
        assert not torch.equal(run_with_cache(lm, point, ids, mask)[resid_post(0)], before)
    torch.testing.assert_close(run_with_cache(lm, point, ids, mask)[resid_post(0)], before)


def test_a_wrong_name_is_one_line(lm):
    for name, said in [("blocks.0.hook_attn", "no hook point"), ("blocks.99.hook_mlp_out", "not 99"),
                       ("blocks.99.hook_resid_post", "not 99")]:
        with pytest.raises(ModelDiffError, match=said):
            hook_point(lm, name)
    with pytest.raises(ModelDiffError, match="only an output"):
        with replaced(lm, mlp_in(0), lambda x, y: y):
            pass
