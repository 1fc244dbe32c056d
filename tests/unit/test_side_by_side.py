"""The prompts side-by-side view's pieces and the Hypotheses page's sentences: differing words
marked and escaped, samples paired, hypotheses that fire named; a generative test's failure,
the p floor and a run that validates nothing said in words."""
import html

import pandas as pd

from modeldiff_core.render.fmt import (P_FLOOR, generative_outcome, nothing_validated,
                                       own_summary, p_floor_note)
from modeldiff_core.render.side_by_side import firing, paired_samples, prompt_table, word_diff


def test_word_diff_marks_only_the_words_that_differ_and_escapes_the_rest():
    a, b = word_diff("I like <b>dogs</b> a lot.", "I like <b>cats</b> a lot.")
    assert a.count("<mark") == 1 and b.count("<mark") == 1
    assert ">dogs</mark>" in a and ">cats</mark>" in b
    assert "<b>" not in a and html.escape("<b>") in a  # model text is never markup
    same_a, same_b = word_diff("Same text.\nTwo lines.", "same TEXT.\nTwo lines.")
    assert "<mark" not in same_a + same_b and "<br>" in same_a
    only_a, only_b = word_diff("An answer.", "")
    assert only_a.count("<mark") == 1 and only_b == ""


def _gens():
    rows = [("A", 0, 0, "a cat sat", "about pets", "validation"),
            ("B", 0, 0, "a cat and a cat", "about pets", "validation"),
            ("B", 0, 1, "dogs only", "about pets", "validation"),
            ("A", 1, 0, "weather is fine", "about weather", "discovery"),
            ("B", 1, 0, "weather is bad", "about weather", "discovery")]
    return pd.DataFrame(rows, columns=["side", "prompt_id", "sample_idx", "text", "prompt",
                                       "split"])


def test_prompts_are_found_by_their_text_or_their_answers_and_samples_pair():
    gens = _gens()
    table = prompt_table(gens)
    assert table[["prompt_id", "A texts", "B texts"]].values.tolist() == [[0, 1, 2], [1, 1, 1]]
    assert prompt_table(gens, "DOGS")["prompt_id"].tolist() == [0]
    assert prompt_table(gens, "weather")["prompt_id"].tolist() == [1]
    assert prompt_table(gens, "zebra").empty
    assert paired_samples(gens, 0) == [{"sample": 0, "A": "a cat sat", "B": "a cat and a cat"},
                                       {"sample": 1, "A": None, "B": "dogs only"}]


def test_the_hypotheses_that_fire_on_an_answer_validated_first():
    hyps = [{"id": "h1", "validated": False, "predicate": {"type": "mentions", "terms": ["sat"]}},
            {"id": "h2", "validated": True, "predicate": {"type": "matches", "pattern": "CAT"}},
            {"id": "h3", "validated": True, "predicate": None}]
    assert firing(hyps, "a cat sat") == ["h2", "h1"]
    assert firing(hyps, "dogs only") == [] and firing(hyps, None) == []


def test_a_failed_generative_test_says_which_way_it_failed():
    assert generative_outcome({"generative": {"auc": 0.58, "q_value": 0.86}}).startswith(
        "failed, not borne out: AUC 0.58")
    assert generative_outcome({"generative": {"auc": 0.31, "q_value": 0.2}}).startswith(
        "failed, opposite to the prediction")
    assert generative_outcome({"generative": {"auc": 0.9, "q_value": 0.001}}).startswith(
        "supports the hypothesis")
    assert generative_outcome({"generative_skipped": "no log-probs"}) == "skipped: no log-probs"
    assert generative_outcome({"generative": None}) == "not run"


def test_the_p_floor_is_named_only_where_a_test_sits_on_it():
    at_floor = {"id": "h1", "discriminative": {"p_value": P_FLOOR}}
    above = {"id": "h2", "discriminative": {"p_value": 2 * P_FLOOR}}
    assert P_FLOOR == 1 / 10000
    note = p_floor_note([at_floor, above])
    assert note.startswith("p = 1.0e-04 (h1) is the smallest value") and "h2" not in note
    assert p_floor_note([above, {"id": "h3", "discriminative": None}]) is None


def test_a_run_that_validates_nothing_says_what_was_tried():
    result = {"baseline": {"auc": 0.58, "auc_ci_low": 0.52, "auc_ci_high": 0.64, "n": 80},
              "hypotheses": [{"source": "corpus"}, {"source": "yours"}],
              "assistant": "offline", "clusters": [
                  {"noise": False, "discovery": {"q_value": 0.01}},
                  {"noise": False, "discovery": {"q_value": 0.5}},
                  {"noise": True, "discovery": {"q_value": 0.001}}]}
    words, tried = nothing_validated(result)
    assert words.startswith("The words alone tell the models apart") and "0.58" in words
    assert tried == ("Tried: 1 hypotheses proposed by the offline assistant and 1 of yours, "
                     "tested on the 80 held-out texts; 1 of 2 clusters differ in size between "
                     "the models on the discovery texts (q < 0.05).")
    result["baseline"]["auc_ci_low"] = 0.45
    assert nothing_validated(result)[0].startswith("The words alone do not tell")


def test_your_hypothesis_reads_as_one_line_with_its_outcome():
    h = {"id": "u1", "text": "B likes cats", "validated": True, "explained_by": None,
         "discriminative": {"auc": 0.8, "p_value": 0.001, "q_value": 0.004},
         "generative_skipped": "no log-probs"}
    assert own_summary(h) == ("u1 (yours): B likes cats — headline; held out: AUC 0.80, p = 0.001, "
                           "q = 0.004; generative test skipped: no log-probs")
    assert own_summary({"id": "u2", "text": "x", "discriminative": None}).endswith("not tested yet")
