"""`outputs:PATH`: one side's answers read from a file (outputs_file.py) instead of generated.
The run's prompts are the file's (`pair_files`; `stages.prompts.prompts_from_files` makes the
run's prompt set of them); with two files, those both answered, matched by `id` when both
files have one, else by prompt text. Importing stores the answers
as the run's texts, keyed like generated ones, so a second import writes nothing. Log-probs
only through weights the user names as the side's scorer."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Optional

import pandas as pd

from ...config import ModelDiffError
from ...progress import ProgressCallback
from ..spec import ModelSpec, check_spec, ensure_built
from .base import Batch, Keep, Source
from .outputs_file import OutputsFile, read_outputs

SIDES = ("A", "B")
CHUNK = 5000  # rows per insert: progress moves, and a kill keeps what was stored


@dataclass(frozen=True)
class Pairing:
    """The run's prompts when a side is a file (with their groups, or None: no file has any,
    and the name of the set), and each prompt's key in the file(s)."""
    name: str
    prompts: tuple[str, ...]
    groups: Optional[tuple[str, ...]]
    by: str  # "id" or "prompt": what a row's prompt is known by in the files
    keys: tuple[str, ...]  # one per run prompt, in order (the same in both files)
    notes: tuple[str, ...]


def keyed(file: OutputsFile, by: str) -> pd.DataFrame:
    """The file's rows with `key` (their id or prompt) and `sample_idx`: the `sample` column
    when there is one, else the order of appearance within the prompt."""
    rows = file.rows.assign(key=file.rows["id" if by == "id" else "prompt"])
    if by == "id":
        first = rows.groupby("key", sort=False)["prompt"].transform("first")
        clash = rows[rows["prompt"] != first]
        if not clash.empty:
            r = clash.iloc[0]
            raise ModelDiffError(f"{file.where(r.row)}: id {r.key} has another prompt than on "
                                 "its first row")
    sample = (rows["sample"].astype(int) if "sample" in file.has
              else rows.groupby("key", sort=False).cumcount())
    rows = rows.assign(sample_idx=sample.to_numpy())
    dup = rows[rows.duplicated(["key", "sample_idx"])]
    if not dup.empty:
        r = dup.iloc[0]
        raise ModelDiffError(f"{file.where(r.row)}: a second answer numbered sample "
                             f"{r.sample_idx} for the same prompt")
    return rows


def _prompt_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per key in order of first appearance: its prompt and first non-blank group."""
    return rows.groupby("key", sort=False).agg(prompt=("prompt", "first"),
                                               group=("group", "first"))


def pair_files(spec_a: ModelSpec, spec_b: ModelSpec) -> Pairing:
    specs = dict(zip(SIDES, (spec_a, spec_b)))
    files = {s: read_outputs(spec.name) for s, spec in specs.items() if spec.kind == "outputs"}
    if not files:
        raise ModelDiffError("neither model is an outputs: file")
    by = "id" if all("id" in f.has for f in files.values()) else "prompt"
    tables = {s: _prompt_table(keyed(f, by)) for s, f in files.items()}
    notes: list[str] = []
    if len(tables) == 1:
        table = next(iter(tables.values()))
    else:
        a, b = tables["A"], tables["B"]
        shared = a.index.isin(b.index)
        if not shared.any():
            raise ModelDiffError(f"{spec_a.label} and {spec_b.label} have no prompt in common "
                                 f"(matched by {'id' if by == 'id' else 'prompt text'})")
        only_a, only_b = int((~shared).sum()), int((~b.index.isin(a.index)).sum())
        if only_a or only_b:
            notes.append(f"{only_a} prompts of A and {only_b} of B have no answer on the "
                         "other side; left out")
        table = a[shared].copy()
        if "group" not in files["A"].has:  # B's groups, when only B's file has them
            table["group"] = b["group"].reindex(table.index).to_numpy()
        if by == "id":
            differ = int((table["prompt"] != b["prompt"].reindex(table.index)).sum())
            if differ:
                notes.append(f"{differ} prompts matched by id read differently in B's file; "
                             "the run shows A's text")
    prompts = tuple(table["prompt"])
    given = [g if isinstance(g, str) else None for g in table["group"]]
    # A prompt without a group is a group of its own; no group at all: the split hashes prompts.
    groups = (None if all(g is None for g in given)
              else tuple(g if g is not None else p for g, p in zip(given, prompts)))
    digest = hashlib.sha256(json.dumps([prompts, groups]).encode()).hexdigest()[:12]
    return Pairing(f"outputs:{digest}", prompts, groups, by, tuple(table.index), tuple(notes))


def scorer_spec(spec: ModelSpec) -> Optional[ModelSpec]:
    """The weights named to give a file's texts log-probs (None: none named)."""
    return ModelSpec(spec.scorer) if spec.scorer else None


def word_count(text: str) -> int:
    """A file has no tokenizer: its texts' length is counted in whitespace-separated words."""
    return len(text.split())


class OutputsSource(Source):
    answers_prompts = False

    def __init__(self, spec: ModelSpec, cache):
        super().__init__(spec)
        self.cache = cache

    def check(self, settings) -> None:
        s = self.spec
        if s.quant != "none" or s.dtype != "auto" or s.revision or s.adapter or s.engine != "hf":
            raise ModelDiffError(f"{s.label} is a file of answers: dtype, quantization, "
                                 "revision, adapter and engine do not apply to it")
        read_outputs(s.name)
        scorer = scorer_spec(self.spec)
        if scorer is not None:
            try:
                check_spec(scorer)
            except ModelDiffError as err:
                raise ModelDiffError(f"scorer of {self.spec.label}: {err}") from None

    def prepare(self, progress: Optional[ProgressCallback] = None) -> None:
        scorer = scorer_spec(self.spec)
        if scorer is not None:
            ensure_built(scorer, progress)
            self.cache.get(scorer)

    def label(self, side: str) -> str:
        return f"import {side}"

    def wanted(self, store, run_id: str, side: str, prompts: pd.DataFrame,
               settings) -> list[tuple[int, int]]:
        """The rows the file holds for the run's prompts (samples as the file numbers them)."""
        pairing = self._run_pairing(store, run_id, side)
        ordered = prompts.sort_values("prompt_id")
        if list(ordered["prompt"]) != list(pairing.prompts):
            raise ModelDiffError(f"the prompts of {run_id} are not those of {self.spec.label} "
                                 "(the file changed since the run was made?)")
        pid_of = dict(zip(pairing.keys, ordered["prompt_id"].astype(int)))
        rows = keyed(read_outputs(self.spec.name), pairing.by)
        rows = rows[rows["key"].isin(pid_of)]
        self._answers = {(int(pid_of[k]), int(s)): text
                         for k, s, text in zip(rows["key"], rows["sample_idx"], rows["output"])}
        return list(self._answers)

    def answer_rows(self, batch: Batch, keep: Keep) -> None:
        """The file's answers, CHUNK rows at a time (their length counted in words)."""
        texts = [(r.prompt_id, r.sample_idx, self._answers[(r.prompt_id, r.sample_idx)])
                 for r in batch.requests]
        for start in range(0, len(texts), CHUNK):
            keep([(p, s, t, word_count(t), "imported") for p, s, t in texts[start:start + CHUNK]])

    def _run_pairing(self, store, run_id: str, side: str) -> Pairing:
        # The other side decides how prompts are matched (by id only when both files have
        # ids), so the pairing is made again from the run's two stored specs.
        run = store.get_run(run_id)
        if run is None:
            raise ModelDiffError(f"no run {run_id}")
        specs = {s: ModelSpec.from_dict(run[f"spec_{s.lower()}"]) for s in SIDES}
        specs[side] = self.spec
        return pair_files(specs["A"], specs["B"])

    def scorer(self):
        from .weights import WeightsScorer

        scorer = scorer_spec(self.spec)
        return None if scorer is None else WeightsScorer(self.cache.get(scorer))

    def lacks_logprobs(self) -> Optional[str]:
        if self.spec.scorer:
            return None
        return (f"no log-probs for this source: {self.spec.label} is a file of answers (name "
                "weights to score them with --scorer-a/--scorer-b)")
