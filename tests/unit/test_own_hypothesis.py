"""A researcher's own hypothesis: refused with a reason when it cannot be tested, tested on the
demo run's held-out texts with the proposed ones' tests, and counted in the run's one
Benjamini-Hochberg ledger (checked against scipy's)."""
import numpy as np
import pytest
from scipy.stats import false_discovery_control

from modeldiff_core.config import ModelDiffError
from modeldiff_core.context import Context
from modeldiff_core.commands import hypothesis as run_own
from modeldiff_core.stages.own import OWN_SOURCE, OwnParams, check_own, own_hypothesis
from modeldiff_core.store import Store


@pytest.mark.parametrize("fields, reason", [
    ({"text": "  "}, "type the hypothesis"),
    ({"direction": "C"}, "direction must be A or B"),
    ({"keywords": ("cat",), "regex": "cats?"}, "not both"),
    ({"regex": "(cat"}, "does not compile"),
])
def test_a_hypothesis_that_cannot_be_one_is_refused_in_a_line(fields, reason):
    params = OwnParams(**{"run_id": "r", "text": "B talks about cats", **fields})
    with pytest.raises(ModelDiffError, match=reason):
        own_hypothesis(params)


def test_predicates_from_keywords_and_from_a_pattern():
    words = own_hypothesis(OwnParams("r", "B talks about cats", keywords=(" Cats ", "", "kitten")))
    assert words.predicate == {"type": "mentions", "terms": ["cats", "kitten"], "favours": "B"}
    assert words.source == OWN_SOURCE
    pattern = own_hypothesis(OwnParams("r", "A asks back", direction="A", regex=r"\?\s*$"))
    assert pattern.predicate == {"type": "matches", "pattern": r"\?\s*$", "favours": "A"}
    assert own_hypothesis(OwnParams("r", "B is warmer")).predicate is None


def _bh_over_ledger(store, run_id):
    val = store.validations(run_id, "offline")
    disc = val[val["test"] == "discriminative"].sort_values("hypothesis_id")
    want = false_discovery_control(disc["p_value"].to_numpy(dtype=float), method="bh")
    return disc, want


def test_own_hypotheses_are_tested_and_enter_the_ledger(demo_run):
    path, run_id = demo_run
    with Store(path) as store:
        before = store.hypotheses(run_id, "offline")
        # The offline judge cannot read a bare sentence: said before anything starts.
        with pytest.raises(ModelDiffError, match="offline judge needs keywords"):
            check_own(store, OwnParams(run_id, "B is fond of cats"))
        with pytest.raises(ModelDiffError, match="put aside"):
            check_own(store, OwnParams(run_id, "B is fond of cats", "offline [kmeans]",
                                       keywords=("cat",)))
        # A set the run does not have would be proposed first (an LLM's, at a cost): refused,
        # under the name the run would give it.
        with pytest.raises(ModelDiffError, match="no hypothesis set 'openai:default'"):
            check_own(store, OwnParams(run_id, "B is fond of cats", "openai"))
        store.set_run_status(run_id, "hypotheses")  # its job still at work on it
        with pytest.raises(ModelDiffError, match="is hypotheses: test your hypothesis once"):
            check_own(store, OwnParams(run_id, "B is fond of cats", keywords=("cat",)))
        store.set_run_status(run_id, "done")
        cats = run_own(store, OwnParams(run_id, "B is fond of cats", keywords=("cat", "cats")),
                        Context())
        # A word neither model uses: a claim the texts cannot bear out.
        zebra = run_own(store, OwnParams(run_id, "B talks about zebras", keywords=("zebra",)),
                         Context())
        again = run_own(store, OwnParams(run_id, "B is fond of cats", keywords=("cat", "cats")),
                         Context())
        hyps = store.hypotheses(run_id, "offline")
        assert (cats["hypothesis_id"], zebra["hypothesis_id"]) == ("u1", "u2")
        assert again["hypothesis_id"] == "u1" and len(hyps) == len(before) + 2
        # The proposed hypotheses were neither proposed anew nor renamed.
        assert hyps["hypothesis_id"].tolist()[:len(before)] == before["hypothesis_id"].tolist()
        rows = {h["id"]: h for h in again["result"]["hypotheses"]}
        assert rows["u1"]["validated"] and rows["u1"]["source"] == OWN_SOURCE
        assert not rows["u2"]["validated"]
        assert rows["u2"]["discriminative"]["p_value"] > 0.5
        # One family: every q is Benjamini-Hochberg over every hypothesis of the run.
        disc, want = _bh_over_ledger(store, run_id)
        assert len(disc) == len(hyps)
        assert np.allclose(disc["q_value"].to_numpy(dtype=float), want)
        # Its generative test ran on pairs edited from held-out texts, as a proposed one's.
        val = store.validations(run_id, "offline")
        gen = val[(val.hypothesis_id == "u1") & (val.test == "generative")].iloc[0]
        assert gen["result"].get("n", 0) > 0 or gen["result"].get("skipped")


def test_a_pattern_is_judged_but_says_why_it_has_no_pairs(demo_run):
    path, run_id = demo_run
    with Store(path) as store:
        out = run_own(store, OwnParams(run_id, "B mentions cats", regex=r"\bcats?\b"), Context())
    row = next(h for h in out["result"]["hypotheses"] if h["id"] == "u1")
    assert row["validated"]
    assert "regular expression" in row["generative_skipped"]


def test_the_cli_tests_your_hypothesis_and_refuses_bad_input_in_a_line(demo_run, tmp_path,
                                                                        capsys):
    import json

    from modeldiff_core.cli import main

    path, run_id = demo_run
    base = ["hypothesis", "--run", run_id, "--db", str(path), "--quiet"]
    assert main([*base, "--text", "B likes cats", "--regex", "(cat"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modeldiff: error: the regular expression does not compile")
    assert len(err.strip().splitlines()) == 1
    assert main(["hypothesis", "--run", run_id, "--db", str(tmp_path / "none.duckdb"),
                 "--text", "x", "--keywords", "cat"]) == 2
    assert "no database at" in capsys.readouterr().err
    out = tmp_path / "own.json"
    assert main([*base, "--text", "B likes cats", "--keywords", "cat,cats", "--out",
                 str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith("u1 (yours): B likes cats — ") and "q = " in said
    doc = json.loads(out.read_text())
    assert doc["hypothesis_id"] == "u1"
    assert any(h["id"] == "u1" and h["validated"] for h in doc["result"]["hypotheses"])
