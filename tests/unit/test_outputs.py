"""`outputs:PATH` sources: the file format, pairing two files, importing a side, exporting a
run's texts back in the same format."""
import json
from pathlib import Path

import pandas as pd
import pytest

from modeldiff_core.config import ModelDiffError
from modeldiff_core.models.sources import make_source
from modeldiff_core.models.sources.outputs import OutputsSource
from modeldiff_core.stages.prompts import prompts_from_files
from modeldiff_core.models.sources.outputs_file import read_outputs
from modeldiff_core.models.spec import ModelSpec
from modeldiff_core.stages.export import export_bytes, export_run
from modeldiff_core.models.generation import GenerationSettings
from modeldiff_core.stages.prompts import assign_splits
from modeldiff_core.stages.generate import generate_side
from modeldiff_core.store import Store
from modeldiff_core.store.runs import RunRecord

ALPACA = Path(__file__).resolve().parents[3] / "shared" / "data" / "alpacaeval"
ROWS = [{"prompt": "Name a fruit.", "output": "An apple."},
        {"prompt": "Name a colour.", "output": "Blue, I think."},
        {"prompt": "Name a fruit.", "output": "A pear."}]


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def spec(path: Path, **kw) -> ModelSpec:
    return ModelSpec(f"outputs:{path}", **kw)


def error_of(fn, *args) -> str:
    with pytest.raises(ModelDiffError) as err:
        fn(*args)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("ext", ["jsonl", "json-array", "csv", "parquet"])
def test_each_format_reads_the_same_rows(tmp_path, ext):
    frame = pd.DataFrame(ROWS)
    if ext == "jsonl":
        path = jsonl(tmp_path / "a.jsonl", ROWS)
    elif ext == "json-array":
        path = tmp_path / "a.json"
        path.write_text(json.dumps(ROWS, indent=2))
    elif ext == "csv":
        path = tmp_path / "a.csv"
        frame.to_csv(path, index=False)
    else:
        path = tmp_path / "a.parquet"
        frame.to_parquet(path)
    rows = read_outputs(path).rows
    assert list(rows["prompt"]) == [r["prompt"] for r in ROWS]
    assert list(rows["output"]) == [r["output"] for r in ROWS]


def test_csv_keeps_answers_that_look_like_missing_values(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('prompt,output\n"Say NA",NA\n"Say None",None\n')
    assert list(read_outputs(path).rows["output"]) == ["NA", "None"]


def test_several_answers_per_prompt_are_samples_in_order(tmp_path):
    ps, notes = prompts_from_files(spec(jsonl(tmp_path / "a.jsonl", ROWS)), ModelSpec("organism:base"))
    assert ps.prompts == ("Name a fruit.", "Name a colour.") and notes == []
    assert ps.groups is None and ps.name.startswith("outputs:")


def test_sample_column_numbers_the_answers(tmp_path):
    path = jsonl(tmp_path / "a.jsonl", [dict(r, sample=s) for r, s in zip(ROWS, (5, 0, 2))])
    store, run_id = _run(tmp_path, spec(path), ModelSpec("organism:base"))
    assert generate_side(store, run_id, "A", OutputsSource(spec(path), None), store.prompts(run_id),
                                                    GenerationSettings()) == 3
    gens = store.generations(run_id)
    assert sorted(zip(gens["prompt_id"], gens["sample_idx"])) == [(0, 2), (0, 5), (1, 0)]


def test_two_files_pair_by_prompt_text_and_count_one_sided_prompts(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", ROWS + [{"prompt": "Only in A", "output": "x"}])
    b = jsonl(tmp_path / "b.jsonl", [{"prompt": "  Name a colour.\n", "output": "Red"},
                                     {"prompt": "Only in B 1", "output": "y"},
                                     {"prompt": "Only in B 2", "output": "z"},
                                     {"prompt": "Name a fruit.", "output": "Kiwi"}])
    ps, notes = prompts_from_files(spec(a), spec(b))
    assert ps.prompts == ("Name a fruit.", "Name a colour.")  # A's order
    assert notes == ["1 prompts of A and 2 of B have no answer on the other side; left out"]


def test_two_files_with_ids_pair_by_id_even_when_texts_differ(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", [{"id": 1, "prompt": "Same text", "output": "a1"},
                                     {"id": 2, "prompt": "Same text", "output": "a2"},
                                     {"id": 3, "prompt": "Q3", "output": "a3"}])
    b = jsonl(tmp_path / "b.jsonl", [{"id": "3", "prompt": "Q3 (reworded)", "output": "b3"},
                                     {"id": "2", "prompt": "Same text", "output": "b2"},
                                     {"id": "1", "prompt": "Same text", "output": "b1"}])
    ps, notes = prompts_from_files(spec(a), spec(b))
    assert ps.prompts == ("Same text", "Same text", "Q3")  # two prompts alike stay two
    assert notes == ["1 prompts matched by id read differently in B's file; the run shows "
                     "A's text"]
    store, run_id = _run(tmp_path, spec(a), spec(b))
    for side, path in (("A", a), ("B", b)):
        generate_side(store, run_id, side, OutputsSource(spec(path), None), store.prompts(run_id),
                                                 GenerationSettings())
    gens = store.generations(run_id)
    got = {(s, p): t for s, p, t in zip(gens["side"], gens["prompt_id"], gens["text"])}
    assert got == {("A", 0): "a1", ("A", 1): "a2", ("A", 2): "a3",
                   ("B", 0): "b1", ("B", 1): "b2", ("B", 2): "b3"}


def test_groups_come_with_the_prompts(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", [{"prompt": "p1", "output": "x", "group": "g"},
                                     {"prompt": "p2", "output": "y", "group": "g"},
                                     {"prompt": "p3", "output": "z"}])
    ps, _ = prompts_from_files(spec(a), ModelSpec("organism:base"))
    assert ps.groups == ("g", "g", "p3")
    split = assign_splits(ps.prompts, 0, 0.5, ps.groups)
    assert split["split"][0] == split["split"][1]


def test_the_prompt_set_name_follows_the_content(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", ROWS)
    b = jsonl(tmp_path / "b.jsonl", ROWS[1:])  # the colour first
    c = jsonl(tmp_path / "c.jsonl", list(ROWS))
    name = prompts_from_files(spec(a), ModelSpec("organism:base"))[0].name
    assert name == prompts_from_files(spec(c), ModelSpec("organism:base"))[0].name
    assert name != prompts_from_files(spec(b), ModelSpec("organism:base"))[0].name


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name,data,expected", [
    ("a.jsonl", b'{"prompt": "p", "answer": "x"}\n',
     "a.jsonl has no 'output' column (columns: prompt, answer)"),
    ("a.csv", b"question,response\nq,r\n",
     "a.csv has no 'prompt' or 'output' column (columns: question, response)"),
    ("a.jsonl", b"", "a.jsonl is empty"),
    ("a.jsonl", b"\n  \n", "a.jsonl is empty"),
    ("a.csv", b"prompt,output\n", "a.csv has no rows"),
    ("a.jsonl", b'{"prompt": "p", "output": "x"}\n{"prompt": "q"}\n',
     "a.jsonl line 2: missing output"),
    ("a.jsonl", b'{"prompt": "p", "output": "x"}\n\n{"prompt": " ", "output": "y"}\n',
     "a.jsonl line 3: empty prompt"),
    ("a.csv", b"prompt,output\np,x\n,y\n", "a.csv row 2: empty prompt"),
    ("a.jsonl", b'{"prompt": "p", "output": 3}\n', "a.jsonl line 1: output is int, not text"),
    ("a.jsonl", b'{"prompt": "p", "output": "x"}\nnot json\n', "a.jsonl line 2: not valid JSON"),
    ("a.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "a.jsonl line 1: not UTF-8 text"),
    ("a.jsonl", b'{"prompt": "p"}\x00\n', "a.jsonl line 1: contains a NUL byte"),
    ("a.parquet", b"not parquet at all", "a.parquet: not a readable Parquet file"),
    ("a.txt", b"prompt\toutput\n", "a.txt: an outputs file must be .jsonl, .csv or .parquet"),
    ("a.jsonl", b'{"prompt": "p", "output": "x", "sample": -1}\n',
     "a.jsonl line 1: sample must be a whole number from 0"),
    ("a.jsonl", b'{"prompt": "p", "output": "x", "sample": 0}\n'
                b'{"prompt": "p", "output": "y", "sample": 0}\n',
     "a.jsonl line 2: a second answer numbered sample 0 for the same prompt"),
    ("a.jsonl", b'{"prompt": "p", "output": "x", "id": 1}\n{"prompt": "q", "output": "y", "id": 1}\n',
     "a.jsonl line 2: id 1 has another prompt than on its first row"),
    ("a.jsonl", b'{"prompt": "p", "output": "x", "id": 1}\n{"prompt": "q", "output": "y"}\n',
     "a.jsonl line 2: missing id"),
])
def test_bad_files_are_refused_in_one_line(tmp_path, name, data, expected):
    path = _write(tmp_path / name, data)
    message = error_of(prompts_from_files, spec(path), ModelSpec("organism:base"))
    assert message.startswith(expected)


def test_a_missing_file_and_a_directory_are_refused(tmp_path):
    assert "does not exist" in error_of(read_outputs, tmp_path / "nope.jsonl")
    (tmp_path / "d.jsonl").mkdir()
    assert "is not a file" in error_of(read_outputs, tmp_path / "d.jsonl")


def test_check_refuses_before_anything_is_stored(tmp_path):
    path = _write(tmp_path / "a.jsonl", b'{"text": "x"}\n')
    source = make_source(spec(path), None)
    assert isinstance(source, OutputsSource) and not source.answers_prompts
    assert error_of(source.check, GenerationSettings()) == \
        "a.jsonl has no 'prompt' or 'output' column (columns: text)"


def test_loading_options_do_not_apply_to_a_file(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", ROWS)
    assert error_of(OutputsSource(spec(a, quant="8bit"), None).check, None) == (
        "outputs:a.jsonl is a file of answers: dtype, quantization, revision, adapter and "
        "engine do not apply to it")
    assert error_of(read_outputs, "").startswith("outputs: needs a file path")


def test_two_files_with_nothing_in_common_are_refused(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", ROWS)
    b = jsonl(tmp_path / "b.jsonl", [{"prompt": "Something else", "output": "x"}])
    assert error_of(prompts_from_files, spec(a), spec(b)) == \
        "outputs:a.jsonl and outputs:b.jsonl have no prompt in common (matched by prompt text)"


def _run(tmp_path, spec_a, spec_b, run_id="run-test"):
    """A store at tmp_path/RUN_ID.duckdb with the run of a pair's paired prompts, no texts."""
    store = Store(tmp_path / f"{run_id}.duckdb")
    ps, _ = prompts_from_files(spec_a, spec_b)
    store.upsert_run(run_id, RunRecord(spec_a.label, spec_b.label, spec_a.to_dict(),
                                       spec_b.to_dict(), "fa", "fb", ps.name, {}))
    store.save_prompts(run_id, assign_splits(ps.prompts, 0, 0.5, ps.groups))
    return store, run_id


def test_import_stores_each_answer_once(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", ROWS)
    store, run_id = _run(tmp_path, spec(a), ModelSpec("organism:base"))
    source, events = OutputsSource(spec(a), None), []
    prompts = store.prompts(run_id)
    assert generate_side(store, run_id, "A", source, prompts, GenerationSettings(), events.append) == 3
    gens = store.generations(run_id)
    assert list(zip(gens["prompt_id"], gens["sample_idx"], gens["text"])) == [
        (0, 0, "An apple."), (0, 1, "A pear."), (1, 0, "Blue, I think.")]
    assert list(gens["n_tokens"]) == [2, 2, 3]  # whitespace words
    assert set(gens["finish_reason"]) == {"imported"}
    assert events[-1].done == events[-1].total == 3
    assert generate_side(store, run_id, "A", source, prompts, GenerationSettings()) == 0
    assert store.count_generations(run_id) == 3


def test_a_file_has_no_log_probs_unless_a_scorer_is_named(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", ROWS)
    plain = OutputsSource(spec(a), None)
    assert plain.scorer() is None
    assert plain.lacks_logprobs().startswith("no log-probs for this source: outputs:a.jsonl is "
                                             "a file of answers")
    assert OutputsSource(spec(a, scorer="organism:base"), None).lacks_logprobs() is None
    message = error_of(OutputsSource(spec(a, scorer="/no/such/model"), None).check, None)
    assert message.startswith("scorer of outputs:a.jsonl: model path /no/such/model")


def test_an_exported_run_imports_as_it_was(tmp_path):
    """Export writes prompt, output, sample, model, group and id; importing both files gives
    the same prompts (alike ones too), groups, texts and sample indices."""
    src = jsonl(tmp_path / "src.jsonl",
                [{"prompt": p, "output": o, "group": g} for p, o, g in
                 [("Same", "one", "g1"), ("Same", "two", "g1"), ("Other", "", None),
                  ("Third", "x y z", "g2")]])
    store, run_id = _run(tmp_path, spec(src), ModelSpec("organism:base"))
    prompts = store.prompts(run_id)
    generate_side(store, run_id, "A", OutputsSource(spec(src), None), prompts, GenerationSettings())
    store.save_generations(run_id, pd.DataFrame({
        "side": "B", "prompt_id": [0, 0, 1, 2], "sample_idx": [0, 1, 0, 0],
        "text": ["b0", "b1", "b2", "NA"], "n_tokens": 1, "finish_reason": "eos"}))
    path_a, path_b = export_run(store, run_id, tmp_path / "out")
    assert path_a.name == f"{run_id}-A.jsonl" and path_a.read_bytes() == export_bytes(
        store, run_id, "A")
    first = json.loads(path_b.read_text().splitlines()[0])
    assert first == {"prompt": "Same", "output": "b0", "sample": 0, "model": "organism:base",
                     "group": "g1", "id": 0}
    ps, notes = prompts_from_files(spec(path_a), spec(path_b))
    assert notes == [] and ps.prompts == tuple(prompts["prompt"])
    assert ps.groups == tuple(prompts["prompt_group"])
    again, new_id = _run(tmp_path, spec(path_a), spec(path_b), "run-again")
    for side, path in (("A", path_a), ("B", path_b)):
        generate_side(again, new_id, side, OutputsSource(spec(path), None), again.prompts(new_id),
                                                 GenerationSettings())
    keep = ["side", "prompt_id", "sample_idx", "text", "prompt", "split"]
    pd.testing.assert_frame_equal(again.generations(new_id)[keep], store.generations(run_id)[keep])


def test_export_refuses_a_run_it_cannot_write(tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    assert error_of(export_run, store, "run-none", tmp_path) == "no run run-none"
    a = jsonl(tmp_path / "a.jsonl", ROWS)
    store, run_id = _run(tmp_path, spec(a), ModelSpec("organism:base"))
    assert error_of(export_run, store, run_id, tmp_path) == \
        f"run {run_id} has no texts of model A yet"
    blocker = _write(tmp_path / "file", b"")
    assert error_of(export_run, store, run_id, blocker).endswith("is a file, not a directory")


@pytest.mark.skipif(not (ALPACA / "qwen15_7b.jsonl").exists(), reason="no shared AlpacaEval data")
def test_real_answers_of_two_models_pair_on_every_instruction():
    ps, notes = prompts_from_files(spec(ALPACA / "qwen15_7b.jsonl"), spec(ALPACA / "qwen15_72b.jsonl"))
    assert len(ps.prompts) == 805 and len(set(ps.prompts)) == 805 and notes == []
