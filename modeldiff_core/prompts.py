"""Prompt sets (built-in or from a JSONL/CSV file) and the seeded discovery/validation split."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from .config import ModelDiffError
from .organisms import organism_prompts

DATA_DIR = Path(__file__).parent / "data"
BUILTIN_SETS = ("organisms", "chat")
MAX_PROMPT_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class PromptSet:
    name: str  # "builtin:chat" or "file:NAME@HASH"
    prompts: tuple[str, ...]


def builtin_prompt_set(name: str) -> PromptSet:
    if name == "organisms":
        return PromptSet("builtin:organisms", tuple(organism_prompts()))
    if name == "chat":
        return parse_prompt_text((DATA_DIR / "chat_prompts.jsonl").read_text(), "chat_prompts.jsonl",
                                 set_name="builtin:chat")
    raise ModelDiffError(f"unknown built-in prompt set {name!r}; choose one of {', '.join(BUILTIN_SETS)}")


def parse_prompt_text(text: str, filename: str, set_name: Optional[str] = None) -> PromptSet:
    """Parse JSONL (a `prompt` field per line) or CSV (a `prompt` column); errors name the line."""
    prompts: list[str] = []
    if filename.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "prompt" not in reader.fieldnames:
            raise ModelDiffError(f"{filename}: CSV has no 'prompt' column "
                                 f"(columns: {', '.join(reader.fieldnames or []) or 'none'})")
        for row in reader:
            value = (row.get("prompt") or "").strip()
            if not value:
                raise ModelDiffError(f"{filename} line {reader.line_num}: empty prompt")
            prompts.append(value)
    elif filename.lower().endswith((".jsonl", ".json", ".ndjson")):
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise ModelDiffError(f"{filename} line {lineno}: not valid JSON ({err.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str):
                raise ModelDiffError(f"{filename} line {lineno}: expected an object with a "
                                     "string 'prompt' field")
            if not obj["prompt"].strip():
                raise ModelDiffError(f"{filename} line {lineno}: empty prompt")
            prompts.append(obj["prompt"].strip())
    else:
        raise ModelDiffError(f"{filename}: prompt files must be .jsonl or .csv")
    if not prompts:
        raise ModelDiffError(f"{filename}: the prompt set is empty")
    digest = hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:10]
    return PromptSet(set_name or f"file:{Path(filename).name}@{digest}", tuple(prompts))


def load_prompt_file(path: str | Path) -> PromptSet:
    path = Path(path)
    if not path.is_file():
        raise ModelDiffError(f"prompt file {path} does not exist")
    if path.stat().st_size > MAX_PROMPT_FILE_BYTES:
        raise ModelDiffError(f"prompt file {path} is larger than {MAX_PROMPT_FILE_BYTES // 2**20} MiB")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ModelDiffError(f"{path}: not UTF-8 text ({err.reason})") from None
    return parse_prompt_text(text, str(path))


def _unit_hash(seed: int, prompt: str) -> float:
    h = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def assign_splits(prompts: tuple[str, ...] | list[str], seed: int = 0,
                  validation_fraction: float = 0.5) -> pd.DataFrame:
    """Each prompt goes to 'discovery' or 'validation' by a seeded hash of its text, so the same
    prompt always lands in the same split (duplicates cannot leak across the split)."""
    if not 0.0 < validation_fraction < 1.0:
        raise ModelDiffError("validation fraction must be between 0 and 1")
    u = [_unit_hash(seed, p) for p in prompts]
    split = ["validation" if x < validation_fraction else "discovery" for x in u]
    # With very few prompts one split can come out empty; move the nearest prompt across.
    if len(set(prompts)) >= 2 and len(set(split)) == 1:
        missing = "discovery" if split[0] == "validation" else "validation"
        target = 0.0 if missing == "validation" else 1.0
        i = min(range(len(u)), key=lambda k: abs(u[k] - target))
        for k, p in enumerate(prompts):
            if p == prompts[i]:
                split[k] = missing
    return pd.DataFrame({"prompt_id": range(len(prompts)), "prompt": list(prompts), "split": split})
