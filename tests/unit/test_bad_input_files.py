"""Files and numbers a user gets wrong: each refused by the CLI with one line on stderr (exit 2),
never a traceback, with nothing stored changed and no file left behind. In-process and without
organisms: every case is answered before any model is built or loaded."""
import pathlib

import kept_row
import pytest

from modeldiff_core.cli import build_parser, main
from modeldiff_core.config import ModelDiffError

# Two endpoints: what the prompts file is checked beside stops at the missing key, so a file
# accepted by mistake ends in another one-line error instead of a run.
ENDPOINTS = ["run", "--model-a", "openai:a", "--model-b", "openai:b", "--quiet"]


@pytest.fixture()
def db(tmp_path):
    return kept_row.make(tmp_path / "keep.duckdb")


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def _one_line_error(capsys, argv, *needles):
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own refusals leave through _Parser.error
        code = exit.code
    assert code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("modeldiff") and "Traceback" not in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _unreadable(monkeypatch, path):
    """As a mode-000 file is to a user who is not root (tests run as root, who reads anyway)."""
    real_open = pathlib.Path.open

    def refusing_open(self, *args, **kwargs):
        if self.resolve() == path.resolve():
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)
    monkeypatch.setattr(pathlib.Path, "open", refusing_open)


# ------------------------------------------------------------------------ prompts file
@pytest.mark.parametrize("row, words", [
    ('"second, unterminated', "never closed"),  # a quote left open: named where it opens
    ('"second" oops', "not valid CSV"),  # a bad row: named by its own line, not the last good one
])
def test_a_bad_csv_row_is_refused_naming_its_line(tmp_path, db, capsys, row, words):
    prompts = tmp_path / "q.csv"
    prompts.write_text(f"prompt\nfirst\n{row}\nthird\n")
    _one_line_error(capsys, [*ENDPOINTS, "--prompts", str(prompts), "--db", str(db)],
                    "q.csv line 3", words)
    kept_row.untouched(db, no_runs=True)


def test_an_unreadable_prompts_file_gives_the_system_reason(tmp_path, db, capsys, monkeypatch):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "hello"}\n')
    _unreadable(monkeypatch, prompts)
    _one_line_error(capsys, [*ENDPOINTS, "--prompts", str(prompts), "--db", str(db)],
                    "cannot read prompt file", "p.jsonl", "Permission denied")
    kept_row.untouched(db, no_runs=True)


def test_a_folder_given_as_prompts_file_is_called_a_folder(tmp_path, db, capsys):
    folder = tmp_path / "prompts.jsonl"
    folder.mkdir()
    message = _one_line_error(capsys, [*ENDPOINTS, "--prompts", str(folder), "--db", str(db)],
                              "prompts.jsonl is a folder")
    assert "does not exist" not in message
    kept_row.untouched(db, no_runs=True)


def test_a_bad_byte_in_a_prompts_file_is_named_by_its_line(tmp_path, db, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_bytes(b'{"prompt": "fine"}\n{"prompt": "caf\xe9"}\n')
    _one_line_error(capsys, [*ENDPOINTS, "--prompts", str(prompts), "--db", str(db)],
                    "p.jsonl line 2", "not UTF-8")
    kept_row.untouched(db, no_runs=True)


def test_an_uploaded_prompts_file_is_checked_as_a_path_is():
    from modeldiff_core.stages.prompts import parse_prompt_upload

    with pytest.raises(ModelDiffError, match=r"^u\.csv line 3: not UTF-8"):
        parse_prompt_upload(b"prompt\nfine\ncaf\xe9\n", "u.csv")
    with pytest.raises(ModelDiffError, match=r"^u\.csv line 2: a quoted field opened here"):
        parse_prompt_upload(b'prompt\n"open\nrest\n', "u.csv")


# ------------------------------------------------------------ ground truths and keys
def test_a_binary_truths_file_is_one_line(tmp_path, db, capsys):
    truths = tmp_path / "truths.txt"
    truths.write_bytes(b"The model likes cats.\n\x89PNG\xff\xfe\n")
    _one_line_error(capsys, ["plant", "--truths-file", str(truths), "--db", str(db), "--quiet"],
                    "--truths-file", "truths.txt line 2", "not UTF-8")
    kept_row.untouched(db, no_runs=True)


def test_a_binary_assistant_key_file_is_one_line(tmp_path, db, capsys):
    answers = tmp_path / "a.jsonl"
    answers.write_text('{"prompt": "p1", "output": "x"}\n{"prompt": "p2", "output": "y"}\n')
    key = tmp_path / "key"
    key.write_bytes(b"\xff\xfe\x00k")
    _one_line_error(capsys, ["run", "--model-a", f"outputs:{answers}", "--model-b",
                             f"outputs:{answers}", "--assistant", "openai",
                             "--assistant-key-file", str(key), "--db", str(db), "--quiet"],
                    "openai key file", "key line 1", "not UTF-8")
    kept_row.untouched(db, no_runs=True)


def test_planting_reads_the_assistants_key_before_building_or_storing(tmp_path, db, capsys,
                                                                       monkeypatch):
    from modeldiff_core.methods.ground_truth import plant

    def too_soon(*args, **kwargs):
        raise AssertionError("the base model was looked at before the key was read")
    monkeypatch.setattr(plant, "check_spec", too_soon)
    monkeypatch.setattr(plant, "ensure_built", too_soon)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "hello"}\n')
    key = tmp_path / "key"
    key.write_bytes(b"\xff")
    _one_line_error(capsys, ["plant", "--truth", "The model likes cats.", "--data", "openai",
                             "--assistant-key-file", str(key), "--prompts", str(prompts),
                             "--db", str(db), "--quiet"], "openai key file", "not UTF-8")
    kept_row.untouched(db, no_runs=True)


def test_an_unreadable_model_key_file_gives_the_system_reason(tmp_path, db, capsys,
                                                              monkeypatch):
    key = tmp_path / "key"
    key.write_text("sk-test\n")
    _unreadable(monkeypatch, key)
    _one_line_error(capsys, [*ENDPOINTS, "--key-file-a", str(key), "--db", str(db)],
                    f"cannot read openai key file {key}", "Permission denied")
    kept_row.untouched(db, no_runs=True)


# ------------------------------------------------------------------ negative numbers
@pytest.mark.parametrize("argv, says", [
    (["run", "--model-a", "organism:base", "--model-b", "organism:cats", "--alpha", "-inf"],
     "--alpha must be between 0 and 1 (got -inf)"),
    (["run", "--model-a", "organism:base", "--model-b", "organism:cats", "--alpha", "-nan"],
     "--alpha must be between 0 and 1"),
    (["demo", "--temperature", "-1e5"], "--temperature must be a number from 0.0 to 100.0"),
    (["demo", "--temperature", "-0.5"], "--temperature must be a number from 0.0 to 100.0"),
    (["demo", "--seed", "-1"], "--seed must be a number from 0"),
    (["plant", "--lr", "-inf"], "--lr must be a number"),
    (["probe", "--run", "r", "--alpha", "-Infinity"], "--alpha must be between 0 and 1"),
    (["layers", "--model-a", "organism:base", "--model-b", "organism:cats",
      "--scales", "-inf,1"], "--scales must be a non-empty list of finite numbers"),
])
def test_a_negative_number_reaches_the_range_check(argv, says, db, capsys):
    message = _one_line_error(capsys, [*argv, "--db", str(db), "--quiet"], says)
    assert "expected one argument" not in message
    kept_row.untouched(db, no_runs=True)


def test_negative_scales_are_values_not_options():
    args = build_parser().parse_args(["layers", "--model-a", "organism:base", "--model-b",
                                      "organism:cats", "--scales", "-1,0,1"])
    assert args.scales == "-1,0,1"


# ------------------------------------------------------- commands that read a stored run
@pytest.mark.parametrize("argv", [
    ["export", "--run", "r", "--out", "OUT"],
    ["probe", "--run", "r"],
    ["features", "--run", "r"],
    ["layers", "--model-a", "organism:base", "--model-b", "organism:cats", "--run", "r"],
])
def test_a_mistyped_database_is_refused_and_not_created(argv, tmp_path, capsys):
    missing = tmp_path / "typo.duckdb"
    argv = [str(tmp_path) if a == "OUT" else a for a in argv]
    _one_line_error(capsys, [*argv, "--db", str(missing), "--quiet"],
                    f"no database at {missing}")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_folder_given_as_database_is_called_a_folder(tmp_path, capsys):
    _one_line_error(capsys, ["export", "--run", "r", "--out", str(tmp_path / "out"),
                             "--db", str(tmp_path)], "(it is a folder)")
