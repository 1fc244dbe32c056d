"""Prompt sets (built-in or from a JSONL/CSV file) and the seeded discovery/validation split."""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from ..config import DATA_DIR, ModelDiffError, decode_text, json_lines, read_text_file
from ..models.organism_corpus import organism_prompt_groups, organism_prompts

BUILTIN_SETS = ("organisms", "chat")
MAX_PROMPT_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class PromptSet:
    name: str  # "builtin:chat" or "file:NAME@HASH"
    prompts: tuple[str, ...]
    # One group per prompt (a topic: its phrasings share a split), or None: each prompt alone.
    groups: Optional[tuple[str, ...]] = None

    def __post_init__(self):
        if self.groups is not None and len(self.groups) != len(self.prompts):
            raise ModelDiffError(f"{len(self.groups)} groups for {len(self.prompts)} prompts")


def builtin_prompt_set(name: str) -> PromptSet:
    if name == "organisms":
        return PromptSet("builtin:organisms", tuple(organism_prompts()),
                         tuple(organism_prompt_groups()))
    if name == "chat":
        return parse_prompt_text((DATA_DIR / "chat_prompts.jsonl").read_text(), "chat_prompts.jsonl",
                                 set_name="builtin:chat")
    raise ModelDiffError(f"unknown built-in prompt set {name!r}; choose one of {', '.join(BUILTIN_SETS)}")


def _group_value(value, where: str) -> Optional[str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value).strip()
    raise ModelDiffError(f"{where}: 'group' must be a string or an integer")


def _csv_error(filename: str, reader: csv.DictReader, err: csv.Error) -> ModelDiffError:
    # A DictReader's line_num is where its last whole row ended; its reader's, the line read.
    if "end of data" in str(err):  # the file ended inside a quoted field
        return ModelDiffError(f"{filename} line {reader.line_num + 1}: a quoted field opened "
                              "here is never closed")
    return ModelDiffError(f"{filename} line {reader.reader.line_num}: not valid CSV ({err})")


def parse_prompt_text(text: str, filename: str, set_name: Optional[str] = None) -> PromptSet:
    """Parse JSONL (a `prompt` field per line) or CSV (a `prompt` column), each with an optional
    `group` (prompts of one group share a split); errors name the line. The bytes were checked
    by `decode_text`."""
    prompts: list[str] = []
    groups: list[Optional[str]] = []
    if filename.lower().endswith(".csv"):
        # A long prompt is one long field: allow any field the file-size limit allows.
        csv.field_size_limit(max(csv.field_size_limit(), MAX_PROMPT_FILE_BYTES))
        # strict: a quote left open would otherwise swallow the rest of the file into one
        # prompt without a word.
        reader = csv.DictReader(io.StringIO(text), strict=True)
        try:
            fields = reader.fieldnames
        except csv.Error as err:
            raise _csv_error(filename, reader, err) from None
        if not fields or "prompt" not in fields:
            raise ModelDiffError(f"{filename}: CSV has no 'prompt' column "
                                 f"(columns: {', '.join(fields or []) or 'none'})")
        try:
            for row in reader:
                value = (row.get("prompt") or "").strip()
                if not value:
                    raise ModelDiffError(f"{filename} line {reader.line_num}: empty prompt")
                prompts.append(value)
                groups.append(_group_value(row.get("group"),
                                           f"{filename} line {reader.line_num}"))
        except csv.Error as err:
            raise _csv_error(filename, reader, err) from None
    elif filename.lower().endswith((".jsonl", ".json", ".ndjson")):
        expected = "expected an object with a string 'prompt' field"
        for lineno, obj in json_lines(text, filename, expected):
            if not isinstance(obj.get("prompt"), str):
                raise ModelDiffError(f"{filename} line {lineno}: {expected}")
            if not obj["prompt"].strip():
                raise ModelDiffError(f"{filename} line {lineno}: empty prompt")
            prompts.append(obj["prompt"].strip())
            groups.append(_group_value(obj.get("group"), f"{filename} line {lineno}"))
    else:
        raise ModelDiffError(f"{filename}: prompt files must be .jsonl or .csv")
    if not prompts:
        raise ModelDiffError(f"{filename}: the prompt set is empty")
    # A prompt without a group is a group of its own.
    full = tuple(g if g is not None else f"prompt:{p}" for g, p in zip(groups, prompts))
    has_groups = any(g is not None for g in groups)
    payload = "\n".join(prompts) + ("\x00" + "\n".join(full) if has_groups else "")
    digest = hashlib.sha256(payload.encode()).hexdigest()[:10]
    return PromptSet(set_name or f"file:{Path(filename).name}@{digest}", tuple(prompts),
                     full if has_groups else None)


def load_prompt_file(path: str | Path) -> PromptSet:
    return parse_prompt_text(read_text_file(path, "prompt file", MAX_PROMPT_FILE_BYTES),
                             str(path))


def parse_prompt_upload(data: bytes, name: str) -> PromptSet:
    """A prompt file uploaded to the dashboard, checked as `load_prompt_file` checks a path."""
    if len(data) > MAX_PROMPT_FILE_BYTES:
        raise ModelDiffError(f"{name} is larger than {MAX_PROMPT_FILE_BYTES // 2**20} MiB")
    return parse_prompt_text(decode_text(data, name), name)


def _unit_hash(seed: int, prompt: str) -> float:
    h = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


# assign_splits holds whole groups out: with fewer than two, no prompt is left to test a
# hypothesis on. Two groups, each prompt answered by both sides, also give the map its 4 texts.
MIN_PROMPT_GROUPS = 2


def check_splittable(prompt_set: PromptSet, subject: str) -> None:
    """Refuse in one line a prompt set too small to split into discovery and held-out prompts;
    `subject` starts the message ("the prompt set has", "outputs:a.jsonl and … share")."""
    keys = prompt_set.groups if prompt_set.groups is not None else prompt_set.prompts
    if len(set(keys)) >= MIN_PROMPT_GROUPS:
        return
    n = len(prompt_set.prompts)
    need = f"a comparison needs at least {MIN_PROMPT_GROUPS}"
    why = "one to find differences on, one held out to test them"
    if n < MIN_PROMPT_GROUPS:
        raise ModelDiffError(f"{subject} {n} prompt{'' if n == 1 else 's'}; {need} ({why})")
    alike = "in one group" if prompt_set.groups is not None else "with the same text"
    raise ModelDiffError(f"{subject} {n} prompts, all {alike}; {need} groups (the split holds "
                         f"whole groups out: {why})")


def assign_splits(prompts: tuple[str, ...] | list[str], seed: int = 0,
                  validation_fraction: float = 0.5,
                  groups: Optional[tuple[str, ...] | list[str]] = None) -> pd.DataFrame:
    """Each prompt goes to 'discovery' or 'validation' with its group (the prompt itself when
    there are no groups), by a seeded hash, so one topic's phrasings, and duplicates, share a
    side; `validation_fraction` of the groups (rounded, at least one each side) is held out."""
    if not 0.0 < validation_fraction < 1.0:
        raise ModelDiffError("validation fraction must be between 0 and 1")
    keys = list(groups) if groups is not None else list(prompts)
    if len(keys) != len(prompts):
        raise ModelDiffError(f"{len(keys)} groups for {len(prompts)} prompts")
    # Groups in the order of their seeded hash; the first share goes to validation. Ranking
    # (rather than a threshold on the hash) keeps the split's sizes right with few groups.
    unique = sorted(set(keys), key=lambda k: _unit_hash(seed, k))
    n_val = round(validation_fraction * len(unique))
    if len(unique) >= 2:
        n_val = min(max(n_val, 1), len(unique) - 1)
    held = set(unique[:n_val])
    split = ["validation" if k in held else "discovery" for k in keys]
    return pd.DataFrame({"prompt_id": range(len(prompts)), "prompt": list(prompts),
                         "prompt_group": keys, "split": split})


def prompts_from_files(spec_a, spec_b) -> tuple[PromptSet, list[str]]:
    """The run's prompts when one or both sides are `outputs:` files, and notes on what was
    left out; refused when too few for a run, before anything is stored or embedded."""
    from ..models.sources.outputs import pair_files

    pairing = pair_files(spec_a, spec_b)
    prompt_set = PromptSet(pairing.name, pairing.prompts, pairing.groups)
    files = [s.label for s in (spec_a, spec_b) if s.kind == "outputs"]
    check_splittable(prompt_set, f"{files[0]} and {files[1]} share" if len(files) == 2
                     else f"{files[0]} has")
    return prompt_set, list(pairing.notes)
