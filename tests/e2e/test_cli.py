"""The CLI contract end to end on the test-size organisms: real clusters and statistics, bad
input answered with one line and exit 2, a killed run resumed from its stored rows."""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import cli_kit
import kept_row
import pytest
from planted import names_behaviour

from modeldiff_core.cli import main
from modeldiff_core.models.organism_corpus import behaviour_present
from modeldiff_core.render.terminal import run_summary
from modeldiff_core.store import Store

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _demo(demo_db, tmp_path, organism):
    """`demo --organism ORGANISM`, run once per session (conftest), as this test's d.duckdb."""
    path, result = demo_db(organism, tmp_path)
    path.rename(tmp_path / "d.duckdb")
    return result


def _run_demo(tmp_path, organism, capsys):
    out = tmp_path / f"{organism}.json"
    code = main(["demo", "--organism", organism, "--out", str(out), "--db",
                 str(tmp_path / "d.duckdb"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    return json.loads(out.read_text())


def _probe(tmp_path, run_id, capsys, *args):
    out = tmp_path / "probe.json"
    code = main(["probe", "--run", run_id, "--db", str(tmp_path / "d.duckdb"), "--out", str(out),
                 "--quiet", *args])
    assert code == 0, capsys.readouterr().err
    return json.loads(out.read_text())


def test_demo_finds_the_planted_behaviour_cluster(tmp_path, demo_db):
    result = _demo(demo_db, tmp_path, "cats")
    assert set(result) >= {"run_id", "model_a", "model_b", "n_texts", "baseline", "clusters",
                           "hypotheses"}
    assert result["model_a"] == "organism:base" and result["model_b"] == "organism:cats"
    assert result["n_texts"] == {"A": 240, "B": 240}
    assert 0.5 < result["baseline"]["accuracy"] <= 1 and result["baseline"]["auc"] > 0.7
    for c in result["clusters"]:
        assert set(c) >= {"cluster_id", "size_a", "size_b", "share_b", "p_value", "q_value"}
    assert sum(c["size_a"] + c["size_b"] for c in result["clusters"]) == 480
    # The most B-skewed significant cluster is made of B texts that mention cats.
    skewed = [c for c in result["clusters"] if c["q_value"] < 0.05 and c["share_b"] > 0.8]
    assert skewed
    with Store(tmp_path / "d.duckdb") as store:
        points = store.points(result["run_id"])
    top = max(skewed, key=lambda c: c["size_b"])
    b_texts = points[(points.cluster_id == top["cluster_id"]) & (points.side == "B")].text
    assert sum(behaviour_present("cats", t) for t in b_texts) / len(b_texts) > 0.8


def test_demo_on_the_null_organism_finds_no_cluster_and_validates_nothing(tmp_path, capsys,
                                                                         demo_db):
    result = _demo(demo_db, tmp_path, "null")
    assert min(c["q_value"] for c in result["clusters"]) >= 0.05
    assert not [h for h in result["hypotheses"] if h["validated"]]
    # The run's own false-positive check: A's four samples per prompt split in two pseudo-
    # models, the same proposal and validation; it validates nothing, and says so in the
    # CLI's summary.
    sc = result["self_check"]
    assert sc["validated"] == 0 and sc["proposed"] >= 0 and sc["n_prompts"] == 30, sc
    assert "Self-check" in run_summary(result, 0.05)
    assert result["coverage"]["share"] is None
    assert result["coverage"]["note"].startswith("not applicable")
    # The probe game on the null pair: hypotheses a finetune could have had (cats, questions)
    # tell nothing apart — at chance, nothing probe-validated — and neither does the control.
    from modeldiff_core.hypotheses.types import Hypothesis

    with Store(tmp_path / "d.duckdb") as store:
        store.save_hypotheses(result["run_id"], "offline [probe check]", [
            Hypothesis("Model B mentions cats more often.", "B", "check",
                       {"type": "mentions", "terms": ["cat"], "favours": "B"}),
            Hypothesis("Model B asks questions more often.", "B", "check",
                       {"type": "feature", "feature": "questions", "op": ">", "threshold": 0,
                        "favours": "B"})])
    probed = _probe(tmp_path, result["run_id"], capsys, "--assistant", "offline [probe check]",
                    "--hypothesis", "h1", "--hypothesis", "h2", "--rounds", "4")
    for h in probed["hypotheses"]:
        assert h["n"] == 12 and h["p_value"] > 0.05 and not h["probe_validated"], h
        assert h["p_vs_chance"] > 0.05 and h["control_p_value"] > 0.05


@pytest.mark.parametrize("name", ["cats", "short"])
def test_findings_come_headline_first_with_what_they_explain_folded_under(tmp_path, demo_db,
                                                                          name):
    """The result lists the validated headlines by held-out effect, each followed by the
    findings it explains; an explained finding names a headline before it and carries the
    conditional p that let it be folded."""
    result = _demo(demo_db, tmp_path, name)
    hyps = result["hypotheses"]
    validated = [h for h in hyps if h["validated"]]
    assert validated and hyps[:len(validated)] == validated
    assert validated[0]["explained_by"] is None and validated[0]["conditional_p"] is None
    seen, last_head_effect = [], math.inf
    for h in validated:
        effect = h["discriminative"]["mean_score_diff"]
        if h["explained_by"] is None:
            assert effect <= last_head_effect
            last_head_effect = effect
        else:
            head = next(x for x in seen if x["id"] == h["explained_by"])
            assert head["explained_by"] is None and h["conditional_p"] >= 0.05
        seen.append(h)
    assert all(h["explained_by"] is None for h in hyps if not h["validated"])


@pytest.mark.parametrize("name", ["cats", "questions", "short", "long", "cats-late", "null"])
def test_hypothesis_texts_state_the_claim_and_the_held_out_rates_beside_it(tmp_path, demo_db,
                                                                           name):
    """A hypothesis text is the claim alone: no internal word (cluster, refine), no discovery
    figure. Where it came from is its `source`; the evidence shown beside it is the held-out
    rates of its predicate, which agree with the texts it was judged on."""
    from modeldiff_core.hypotheses.predicates import predicate_fires
    from modeldiff_core.hypotheses.validation import judged_texts
    from modeldiff_core.render.fmt import finding

    result = _demo(demo_db, tmp_path, name)
    for h in result["hypotheses"]:
        assert not re.search(r"cluster|refine|%|\bvs\b|sampled|median", h["text"], re.I), h
        for source in h["source"].split(", "):
            assert re.fullmatch(r"corpus|cluster -?\d+|refine \d+", source), h["source"]
    with Store(tmp_path / "d.duckdb") as store:
        gens = store.generations(result["run_id"])
        tests = store.validations(result["run_id"], result["assistant"])
    for h in result["hypotheses"]:
        rates = h["discriminative"]["rates"]
        stored = tests[(tests["hypothesis_id"] == h["id"]) & (tests["test"] == "discriminative")]
        judged = judged_texts(gens, stored["result"].iloc[0])
        fires = [float(predicate_fires(h["predicate"], t)) for t in judged["text"]]
        per_prompt = judged.assign(f=fires).groupby(["prompt_id", "side"])["f"].mean()
        both = per_prompt.unstack("side").dropna()
        assert rates["rate_b"] == pytest.approx(both["B"].mean())
        assert rates["rate_a"] == pytest.approx(both["A"].mean())
        assert rates["n_prompts"] == h["discriminative"]["n_prompts"] == len(both)
        assert f"{100 * rates['rate_b']:.0f}% of B's texts" in finding(h)


def test_what_longer_answers_bring_is_folded_under_the_length_headline(tmp_path, demo_db,
                                                                       record_property):
    """B writes twice as many sentences: every name and stop word then shows up in more of
    its texts. Those word-presence hypotheses are true and nothing but length; the first
    finding states the length, and each of them is folded under it (no longer separating the
    models within its strata)."""
    result = _demo(demo_db, tmp_path, "long")
    validated = [h for h in result["hypotheses"] if h["validated"]]
    top = validated[0]
    record_property("validated", [[h["text"], h["explained_by"], h["conditional_p"]]
                                  for h in validated])
    assert names_behaviour(top, "long") and top["explained_by"] is None, top["text"]
    worded = [h for h in validated if h["predicate"]["type"] == "mentions"]
    assert worded, "the longer answers brought no word-presence hypothesis to fold"
    assert all(h["explained_by"] == top["id"] for h in worded), \
        [(h["text"], h["conditional_p"]) for h in worded]


@pytest.mark.parametrize("name, names", [("cats", ['"cat"']), ("questions", ["questions"]),
                                             ("short", ["shorter", "fewer sentences"]),
                                             ("cats-late", ['"cat"'])])
def test_demo_validates_a_hypothesis_naming_the_behaviour(tmp_path, capsys, demo_db, name,
                                                          names, record_property):
    """...and the first validated hypothesis (they come strongest first) names the planted
    behaviour in one theme or style feature, judges held-out texts nearly as well as the
    bag-of-words baseline on the same texts, and the validated set explains at least 90% of
    the separability."""
    from modeldiff_core.models.organisms import PLANTED

    result = _demo(demo_db, tmp_path, name)
    top = next(h for h in result["hypotheses"] if h["validated"])
    (behaviour,) = PLANTED[name]
    assert names_behaviour(top, behaviour), top["text"]
    cov = result["coverage"]
    record_property("top", [top["text"], top["discriminative"]["accuracy"],
                            cov["baseline_accuracy"], cov["share"]])
    assert top["discriminative"]["accuracy"] >= 0.9 * cov["baseline_accuracy"]
    assert cov["share"] >= 0.9 and cov["n_prompts"] == 30, cov
    named = [h for h in result["hypotheses"] if h["validated"]
             and any(n in h["text"] for n in names)]
    assert named, [h["text"] for h in result["hypotheses"]]
    d = named[0]["discriminative"]
    assert d["q_value"] < 0.05 and d["p_value"] <= d["q_value"]
    assert d["accuracy"] > 0.75 and d["auc"] > 0.75 and d["ci_low"] > 0.5
    assert d["n"] > 50
    # The generative test runs on the named hypothesis' pairs. Whether it confirms the
    # behaviour is not asserted here: over organism seeds 0-4 it did not at three of twenty
    # (the cats theme with co-occurring animal words whose edits B favours only in their own
    # sentences, AUC 0.47 twice; a "?" swapped onto statements for questions, AUC 0.28).
    # test_offline_assistant checks its power on a one-word hypothesis.
    g = named[0]["generative"]
    if named[0]["predicate"]["type"] == "mentions":  # a word: swapped against its placebos
        assert g is not None and g["design"].startswith("matched")
        record_property("generative", [g["auc"], g["p_value"], g["n"]])
        assert g["n"] > 10 and 0 <= g["auc"] <= 1 and 0 < g["p_value"] <= 1
    else:  # questions, length: no frequency-matched edit, and the result says so
        assert g is None and "no frequency-matched edit" in named[0]["generative_skipped"]
    # The self-check (A1 vs A2, both the base model) validates nothing here either.
    record_property("self_check", result["self_check"])
    assert result["self_check"]["validated"] == 0, result["self_check"]
    # The probe game tells the models apart by the named hypothesis; the control, guessing the
    # same rounds without it, does not. The CLI's default game (12 rounds x 3 games) on cats;
    # 8 x 3 on the others, where a round costs the same and says the same (the paired test
    # needs the control to miss a few rounds the hypothesis gets: 4 x 3 would leave it short
    # when the control's coin is lucky).
    rounds = 12 if name == "cats" else 8
    probed = _probe(tmp_path, result["run_id"], capsys, "--hypothesis", named[0]["id"],
                    *([] if name == "cats" else ["--rounds", "8"]))
    (p,) = probed["hypotheses"]
    assert probed["settings"]["examples"] == 0  # the offline assistant is shown none
    assert probed["settings"]["rounds"] == rounds and probed["settings"]["games"] == 3
    assert p["n"] == 3 * rounds and p["accuracy"] >= 0.9 and p["probe_validated"], p["per_probe"]
    assert p["control"]["n"] == 3 * rounds and p["control_p_value"] > 0.05
    assert set(p["rounds"][0]) >= {"game", "round", "probe", "hidden", "answer", "guess",
                                   "confidence", "correct"}
    for h in result["hypotheses"]:  # every hypothesis comes with its tests and q-values
        assert set(h) >= {"id", "text", "source", "discriminative", "generative", "validated"}
        assert h["validated"] == (h["discriminative"]["q_value"] < 0.05)


def test_a_second_identical_run_reuses_everything(tmp_path, capsys, demo_db):
    first = _demo(demo_db, tmp_path, "short")
    with Store(tmp_path / "d.duckdb") as store:
        before = store.generations(first["run_id"])
    second = _run_demo(tmp_path, "short", capsys)
    assert second["run_id"] == first["run_id"]
    assert second["hypotheses"] == first["hypotheses"]
    with Store(tmp_path / "d.duckdb") as store:
        after = store.generations(first["run_id"])
    assert after.equals(before)


def _cli(*args, env=None):
    return cli_kit.run(*args, env=env)


def _process(*args):
    """A real `python -m modeldiff_core`: the smoke tests of what only a process shows (its
    exit code, argparse's own exit, nothing else written on stderr)."""
    return subprocess.run([sys.executable, "-m", "modeldiff_core", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def _one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("modeldiff")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def stored_db(tmp_path_factory):
    """A database with one stored row, to prove that bad input leaves it untouched."""
    return kept_row.make(tmp_path_factory.mktemp("db") / "keep.duckdb")


_still_there = kept_row.untouched


def test_missing_model_path(stored_db):
    proc = _cli("run", "--model-a", "./no/such/model", "--model-b", "organism:base",
                "--db", str(stored_db), "--quiet")
    _one_line_error(proc, "does not exist")
    _still_there(stored_db)


def test_unknown_hf_id_offline(stored_db):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = _cli("run", "--model-a", "nobody-here/no-such-model-xyz", "--model-b",
                "organism:base", "--db", str(stored_db), "--quiet", env=env)
    _one_line_error(proc, "offline: cannot reach the hub to find nobody-here/no-such-model-xyz")
    _still_there(stored_db)


def test_broken_prompt_file_names_file_and_line(tmp_path, stored_db):
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": "fine"}\n{"prompt": broken\n')
    proc = _cli("run", "--model-a", "organism:base", "--model-b", "organism:cats",
                "--prompts", str(bad), "--db", str(stored_db), "--quiet")
    _one_line_error(proc, "p.jsonl line 3")
    empty = tmp_path / "e.csv"
    empty.write_text("prompt\n")
    proc = _cli("run", "--model-a", "organism:base", "--model-b", "organism:cats",
                "--prompts", str(empty), "--db", str(stored_db), "--quiet")
    _one_line_error(proc, "empty")
    _still_there(stored_db)


def test_4bit_on_unpackable_model(tmp_path, stored_db):
    from transformers import GPT2Config, GPT2LMHeadModel

    from modeldiff_core.models.organisms import build_tokenizer

    tok = build_tokenizer()
    odd = tmp_path / "odd"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=48, n_layer=1, n_head=2,
                               n_positions=64)).save_pretrained(odd)
    tok.save_pretrained(odd)
    proc = _cli("run", "--model-a", str(odd), "--model-b", str(odd), "--quant-b", "4bit",
                "--max-new-tokens", "16", "--db", str(stored_db), "--quiet")
    _one_line_error(proc, "multiple of 32")
    _still_there(stored_db)


def test_bad_arguments_are_one_line():
    proc = _process("run", "--model-a", "organism:base")
    _one_line_error(proc, "--model-b")
    assert proc.stderr.count("\n") == 1, proc.stderr
    proc = _cli("demo", "--organism", "dogs")
    _one_line_error(proc, "invalid choice")


def test_database_held_by_another_process(tmp_path, stored_db):
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                               f"c = duckdb.connect({str(stored_db)!r}); print('ok', flush=True); "
                               "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        proc = _process("demo", "--db", str(stored_db), "--quiet")
        _one_line_error(proc, "in use by another process", str(holder.pid))
    finally:
        holder.kill()
        holder.wait()
    _still_there(stored_db)


def test_killed_run_resumes_from_stored_rows(tmp_path, organism):
    from modeldiff_core.cli import _config_from_args, build_parser
    from modeldiff_core.pipeline import run_pipeline

    db, log = tmp_path / "k.duckdb", tmp_path / "stderr.txt"
    args = ["demo", "--organism", "questions", "--db", str(db), "--batch-size", "8",
            "--samples", "2"]
    env = dict(os.environ, MODELDIFF_PROGRESS_EVERY="0")  # a progress line per batch
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "modeldiff_core", *args], cwd=REPO,
                                stderr=err, stdout=subprocess.DEVNULL, env=env)
        # Kill it hard once generation of A has stored a few batches.
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if re.search(rb"generate A: (2[4-9]|[3-9]\d)/120", log.read_bytes()):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Store(db) as store:
        run_id = store.list_runs().run_id.iloc[0]
        kept = store.generations(run_id).set_index(["side", "prompt_id", "sample_idx"]).text
    assert 0 < len(kept) < 240
    events = []
    config = _config_from_args(build_parser().parse_args(args))
    with Store(db) as store:
        result = run_pipeline(store, config, progress=events.append)
        after = store.generations(run_id).set_index(["side", "prompt_id", "sample_idx"]).text
    assert result["run_id"] == run_id and result["n_texts"] == {"A": 120, "B": 120}
    first_a = next(e for e in events if e.stage == "generate A")
    assert first_a.done == len(kept.loc["A"]) > 0  # resumed, not restarted
    assert after.loc[kept.index].equals(kept)


def test_llm_assistant_without_a_key(stored_db):
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")}
    proc = _cli("demo", "--assistant", "openai", "--db", str(stored_db), "--quiet", env=env)
    _one_line_error(proc, "OPENAI_API_KEY")
    # Not quiet: the refusal still comes alone, with no cost estimate for a run that cannot start.
    proc = _cli("run", "--model-a", "organism:base", "--model-b", "organism:cats", "--assistant",
                "anthropic", "--db", str(stored_db), env=env)
    _one_line_error(proc, "ANTHROPIC_API_KEY")
    _still_there(stored_db)


def test_on_the_null_pair_even_loose_proposals_do_not_validate(tmp_path, demo_db):
    """With thresholds loose enough to propose noise, held-out validation + BH rejects it all."""
    from modeldiff_core.assistants.offline import OfflineAssistant
    from modeldiff_core.cli import _config_from_args, build_parser
    from modeldiff_core.hypotheses import stats
    from modeldiff_core.stages.propose import ProposalSettings, propose_hypotheses
    from modeldiff_core.stages.hypotheses import heldout_for
    from modeldiff_core.hypotheses.validation import discriminative
    from modeldiff_core.pipeline import run_pipeline

    config = _config_from_args(build_parser().parse_args(["demo", "--organism", "null"]))
    with Store(demo_db("null", tmp_path)[0]) as store:
        result = run_pipeline(store, config)  # stored: read back
        points, clusters = store.points(result["run_id"]), store.clusters(result["run_id"])
        judged = heldout_for(store, result["run_id"],
                             store.generations(result["run_id"], split="validation"), 240, 0)
    loose = OfflineAssistant(fdr=1.0)
    found = propose_hypotheses(loose, points, clusters, ProposalSettings(alpha=1.0))
    assert len(found) >= 3  # noise was proposed...
    p = [discriminative(loose, h, judged)["p_value"] for h in found]
    assert (stats.benjamini_hochberg(p) >= 0.05).all()  # ...and none of it survives
