"""The `outputs:` file: answers already made, one a row, with `prompt` and `output` and
optionally `sample`, `model`, `group` and `id`; JSONL, CSV or Parquet by extension. Reading
checks the whole file in one pass and says what is wrong in one line (naming the row); writing
gives the same format back as JSONL, so an exported run re-imports as it was."""
from __future__ import annotations

import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from ...config import ModelDiffError, decode_text, first_line
from ...config import json_lines

REQUIRED = ("prompt", "output")
OPTIONAL = ("sample", "model", "group", "id")
FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
           ".parquet": "parquet"}
# The prompt reader's limit: the whole file is read (and hashed) before the run starts.
MAX_OUTPUTS_FILE_BYTES = 2 * 1024 ** 3  # whole evals: read in memory, so a bound, not a tight one
HEAD_BYTES = 1 << 16  # the start of a text file, checked before the whole is read


@dataclass(frozen=True)
class OutputsFile:
    """A checked file. `rows`: prompt (stripped), output (verbatim), sample (int or None),
    model, group, id (str or None) and row (where the row is, for messages), in file order."""
    path: Path
    rows: pd.DataFrame
    columns: tuple[str, ...]  # every column the file has, extra ones included
    row_word: str  # "line" in JSONL, "item" in a JSON array, "row" otherwise (from 1)

    @property
    def has(self) -> frozenset[str]:
        return frozenset(self.columns)

    def where(self, row: int) -> str:
        return f"{self.path.name} {self.row_word} {row}"


def read_outputs(path: str | Path) -> OutputsFile:
    """The checked file at `path` (read once per content: a check, the pairing and the import
    share one parse)."""
    if not str(path).strip():
        raise ModelDiffError("outputs: needs a file path (outputs:PATH names a JSONL, CSV or "
                             "Parquet file of answers)")
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelDiffError(f"outputs file {path} does not exist" if not p.exists()
                             else f"outputs file {path} is not a file")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ModelDiffError(f"{p.name}: an outputs file must be .jsonl, .csv or .parquet "
                             f"(got {p.suffix or 'no extension'})")
    st = p.stat()
    check_size(f"outputs file {path}", st.st_size)
    return _read_cached(str(p.resolve()), st.st_size, st.st_mtime_ns, fmt)


def check_size(what: str, size: int) -> None:
    """Refuse a file at the limit or over it by its size alone, before a byte is read."""
    if size >= MAX_OUTPUTS_FILE_BYTES:
        raise ModelDiffError(f"{what} is {size / 2**20:,.0f} MiB; a file of answers must be "
                             f"under {MAX_OUTPUTS_FILE_BYTES // 2**20:,} MiB (it is read whole "
                             "into memory)")


@lru_cache(maxsize=8)
def _read_cached(path: str, size: int, mtime_ns: int, fmt: str) -> OutputsFile:
    # size and mtime are in the key so that a file changed on disk is read again.
    p = Path(path)
    try:
        if fmt != "parquet":  # a binary file: refused from its start, not after gigabytes
            with p.open("rb") as f:
                head = f.read(HEAD_BYTES)
            if len(head) == HEAD_BYTES:  # a character cut at the end is no error: whole
                head = head[:head.rfind(b"\n") + 1 or len(head) - 3]  # lines, or all but 3 bytes
            decode_text(head, p.name)
        data = p.read_bytes()
    except OSError as err:
        raise ModelDiffError(f"outputs file {p} is not readable ({first_line(err)})") from None
    if not data.strip():
        raise ModelDiffError(f"{p.name} is empty")
    frame, row_word = (_parse_parquet(data, p.name) if fmt == "parquet"
                       else _parse_text(data, p.name, fmt))
    columns = tuple(str(c) for c in frame.columns)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ModelDiffError(f"{p.name} has no {' or '.join(repr(c) for c in missing)} column "
                             f"(columns: {', '.join(columns) or 'none'})")
    if frame.empty:
        raise ModelDiffError(f"{p.name} has no rows")
    rows = frame.attrs.get("rows") or list(range(1, len(frame) + 1))
    return OutputsFile(p, _normalised(frame, rows, p.name, row_word), columns, row_word)


def _parse_text(data: bytes, name: str, fmt: str) -> tuple[pd.DataFrame, str]:
    text = decode_text(data, name)
    if fmt == "csv":
        # Every cell as text, none read as missing: an answer may well be "NA" or "None".
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                na_filter=False)
        except (pd.errors.ParserError, ValueError) as err:
            raise ModelDiffError(f"{name}: not valid CSV ({first_line(err)})") from None
        return frame, "row"
    if text.lstrip().startswith("["):  # a JSON array of objects (how some evals store answers)
        return _parse_json_array(text, name), "item"
    records, lines = [], []
    for lineno, obj in json_lines(text, name, "expected a JSON object with 'prompt' and 'output'"):
        records.append(obj)
        lines.append(lineno)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame.attrs["rows"] = lines
    return frame, "line"


def _parse_json_array(text: str, name: str) -> pd.DataFrame:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise ModelDiffError(f"{name} line {err.lineno}: not valid JSON ({err.msg})") from None
    for i, obj in enumerate(items, start=1):
        if not isinstance(obj, dict):
            raise ModelDiffError(f"{name} item {i}: expected a JSON object with 'prompt' and "
                                 "'output'")
    return pd.DataFrame.from_records(items) if items else pd.DataFrame()


def _parse_parquet(data: bytes, name: str) -> tuple[pd.DataFrame, str]:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001 - pyarrow's many errors all mean "not Parquet"
        raise ModelDiffError(f"{name}: not a readable Parquet file ({first_line(err)})") from None
    return frame.reset_index(drop=True), "row"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _text(value: Any, what: str, where: str) -> str:
    if _missing(value):
        raise ModelDiffError(f"{where}: missing {what}")
    if not isinstance(value, str):
        raise ModelDiffError(f"{where}: {what} is {type(value).__name__}, not text")
    return value


def _key(value: Any, what: str, where: str) -> Optional[str]:
    """An id or a group as text (12, 12.0 and "12" are one id), None when blank."""
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (bool, list, dict)) or not isinstance(value, (str, int, float)):
        raise ModelDiffError(f"{where}: {what} must be text or a number")
    return str(value).strip()


def _sample(value: Any, where: str) -> int:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number.is_integer() and number >= 0):
        raise ModelDiffError(f"{where}: sample must be a whole number from 0 (got {value!r})")
    return int(number)


def _normalised(frame: pd.DataFrame, rows: list[int], name: str,
                row_word: str) -> pd.DataFrame:
    has = set(frame.columns)
    out: dict[str, list] = {c: [] for c in ("prompt", "output", *OPTIONAL, "row")}
    records = frame.to_dict("records")
    for row, rec in zip(rows, records):
        where = f"{name} {row_word} {row}"
        prompt = _text(rec["prompt"], "prompt", where).strip()
        if not prompt:
            raise ModelDiffError(f"{where}: empty prompt")
        out["prompt"].append(prompt)
        out["output"].append(_text(rec["output"], "output", where))
        out["sample"].append(_sample(rec["sample"], where) if "sample" in has else None)
        model = rec.get("model")
        out["model"].append(None if _missing(model) else str(model))
        out["group"].append(_key(rec.get("group"), "group", where))
        ident = _key(rec["id"], "id", where) if "id" in has else None
        if "id" in has and ident is None:
            raise ModelDiffError(f"{where}: missing id")
        out["id"].append(ident)
        out["row"].append(row)
    return pd.DataFrame(out)


def save_upload(filename: str, data: bytes) -> Path:
    """An uploaded file kept under the cache by its content's hash (with its own name, for
    the label), so that the spec can name it and the same upload is one file."""
    from ...config import cache_dir

    name = Path(filename).name
    if Path(name).suffix.lower() not in FORMATS:
        raise ModelDiffError(f"{name}: an outputs file must be .jsonl, .csv or .parquet")
    check_size(name, len(data))
    safe = re.sub(r"[^\w.\-]", "_", name)
    path = cache_dir() / "uploads" / hashlib.sha256(data).hexdigest()[:16] / safe
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # never a half-written file under the final name
    return path


def outputs_jsonl(rows: pd.DataFrame) -> bytes:
    """JSONL in this format: rows with prompt, output and any of sample, model, group, id."""
    columns = [c for c in (*REQUIRED, *OPTIONAL) if c in rows.columns]
    lines = []
    for rec in rows[columns].to_dict("records"):
        clean = {k: (None if _missing(v) else v.item() if hasattr(v, "item") else v)
                 for k, v in rec.items()}
        lines.append(json.dumps(clean, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")
