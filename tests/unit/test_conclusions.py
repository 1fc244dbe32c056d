"""Each analysis' conclusion in words, from its result: the levels closest to and furthest from
the reference (and why bf16 can trail 4-bit), where the layer lens finds B's change, and what
the probe game showed against its control."""
from modeldiff_core.methods.layers.show import conclusion as layers_conclusion
from modeldiff_core.methods.probe.show import conclusion as probe_conclusion
from modeldiff_core.methods.quant.show import conclusion as quant_conclusion


def _level(level, kl, top1, flips=0):
    return {"level": level, "kl_mean": kl, "top1_agreement": top1, "ppl": 10.0, "ppl_ref": 9.9,
            "flips": flips, "n_mc": 40}


def test_quant_names_the_closest_and_furthest_level_and_explains_a_bf16_that_trails():
    result = {"reference": "fp32", "levels": [_level("bf16", 3e-3, 0.935, 2),
                                              _level("4bit", 2e-3, 0.956, 1),
                                              _level("8bit", 1e-4, 0.99, 0)]}
    lines = quant_conclusion(result)
    assert lines[0].startswith("Closest to fp32: 8bit (KL mean 1.00e-04")
    assert lines[1].startswith("Furthest from fp32: bf16") and "2 of 40" in lines[1]
    assert lines[2].startswith("bf16 agrees with fp32 less than 8bit and 4bit: bf16 rounds the "
                               "whole model")
    # A bf16 that agrees best needs no explaining.
    result["levels"][0]["top1_agreement"] = 0.999
    assert not any(line.startswith("bf16 agrees") for line in quant_conclusion(result))
    assert quant_conclusion({"reference": "fp32", "levels": []}) == ["No level measured yet."]


def test_layers_says_where_weights_and_activations_moved_most():
    lens = {"weight_delta": [{"layer": 0, "module": "mlp", "rel_norm": 0.01},
                             {"layer": 2, "module": "attn", "rel_norm": 0.2},
                             {"layer": 1, "module": "mlp", "rel_norm": 0.05}],
            "activation_diff": [{"layer": 0, "cosine": 0.01}, {"layer": 1, "cosine": 0.3}],
            "conclusions": {"h1": "layer 2 alone restores 80% of it"}}
    assert layers_conclusion(lens) == [
        "B's weights moved most at layer 2 (attn: |W_B - W_A| / |W_A| = 0.2).",
        "The models' activations part most at layer 1 (cosine distance 0.3 on held-out texts).",
        "h1: layer 2 alone restores 80% of it"]


def test_probe_counts_the_hypotheses_that_beat_their_control():
    h = {"hypothesis_id": "h1", "correct": 30, "n": 36, "accuracy": 30 / 36, "q_value": 0.003,
         "probe_validated": True, "control": {"correct": 18, "n": 36}}
    lines = probe_conclusion({"hypotheses": [h, {**h, "hypothesis_id": "h2", "correct": 19,
                                                  "accuracy": 19 / 36, "q_value": 0.6,
                                                  "probe_validated": False}]})
    assert lines[0] == "1 of 2 probed hypotheses beat the control in conversation."
    assert lines[1] == ("h1: told A from B in 30 of 36 rounds (83%) against the control's 18 of "
                        "36; q = 0.003 — probe-validated.")
    assert lines[2].endswith("— not validated.")
