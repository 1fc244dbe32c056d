"""Hypothesis sets: the hypotheses proposed for a run, their tests, the validation pass's
failures, the researcher's verdicts and the settings each set was made with. A set is named by
(run_id, hypothesis_set) in every one of these tables."""
from __future__ import annotations

import json
from typing import Optional

import pandas as pd

from .connection import Connection, now
from .schema import HYPOTHESIS_SET_TABLES


class HypothesisStore(Connection):
    VERDICTS = ("accepted", "rejected", "unsure")

    # ---------------------------------------------------------------- hypotheses
    def save_hypotheses(self, run_id: str, hypothesis_set: str, hypotheses: list) -> None:
        """Store proposed hypotheses as h1, h2, ... in proposal order (kept if already there)."""
        df = pd.DataFrame({
            "run_id": run_id, "hypothesis_set": hypothesis_set,
            "hypothesis_id": [f"h{i + 1}" for i in range(len(hypotheses))],
            "position": list(range(len(hypotheses))),
            "text": [h.text for h in hypotheses], "direction": [h.direction for h in hypotheses],
            "source": [h.source for h in hypotheses],
            "predicate": [json.dumps(h.predicate) for h in hypotheses],
            "evidence": [json.dumps(h.evidence) for h in hypotheses], "created_at": now()})
        self._insert_df("hypotheses", df)

    def add_hypothesis(self, run_id: str, hypothesis_set: str, h, prefix: str = "u") -> str:
        """Store one hypothesis after the set's others as u1, u2, ... (a researcher's own);
        the same text with the same predicate already there keeps its id. Returns the id."""
        with self._lock:  # the id is chosen and taken at once: two jobs never share one
            stored = self.hypotheses(run_id, hypothesis_set)
            for row in stored.itertuples():
                if (row.text, row.predicate, row.direction) == (h.text, h.predicate, h.direction):
                    return row.hypothesis_id
            taken = {i for i in stored["hypothesis_id"] if i.startswith(prefix)}
            n = next(k for k in range(1, len(taken) + 2) if f"{prefix}{k}" not in taken)
            position = 1000 + n  # after every proposed hypothesis, however many there are
            self._insert_df("hypotheses", pd.DataFrame({
                "run_id": [run_id], "hypothesis_set": hypothesis_set,
                "hypothesis_id": f"{prefix}{n}", "position": position, "text": h.text,
                "direction": h.direction, "source": h.source,
                "predicate": json.dumps(h.predicate), "evidence": json.dumps(h.evidence),
                "created_at": now()}))
            return f"{prefix}{n}"

    def hypotheses(self, run_id: str, hypothesis_set: str) -> pd.DataFrame:
        df = self._df("SELECT hypothesis_id, text, direction, source, predicate, evidence "
                      "FROM hypotheses WHERE run_id = ? AND hypothesis_set = ? ORDER BY position",
                      [run_id, hypothesis_set])
        for col in ("predicate", "evidence"):
            df[col] = [json.loads(v) for v in df[col]]
        return df

    def hypothesis_sets(self, run_id: str) -> list[str]:
        """The hypothesis sets that have hypotheses for a run."""
        with self._lock:
            rows = self._q("SELECT DISTINCT hypothesis_set FROM hypotheses WHERE run_id = ? "
                           "ORDER BY hypothesis_set", [run_id]).fetchall()
        return [r[0] for r in rows]

    def set_aside_hypotheses(self, run_id: str, hypothesis_set: str, label: str) -> None:
        """Move a hypothesis set, with its tests, verdicts and scores, under another name."""
        with self._transaction():
            for table in HYPOTHESIS_SET_TABLES:
                # Copy then delete (not UPDATE): the set's name is part of every key.
                self._q(f"INSERT INTO {table} SELECT * REPLACE (? AS hypothesis_set) FROM {table} "
                        "WHERE run_id = ? AND hypothesis_set = ?", [label, run_id, hypothesis_set])
                self._q(f"DELETE FROM {table} WHERE run_id = ? AND hypothesis_set = ?",
                        [run_id, hypothesis_set])

    # --------------------------------------------------------------- validations
    def save_validation(self, run_id: str, hypothesis_set: str, hypothesis_id: str, test: str,
                        result: dict) -> None:
        p = result.get("p_value")
        with self._lock:
            self._q("INSERT OR REPLACE INTO validations VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, "
                    "NULL, ?)", [run_id, hypothesis_set, hypothesis_id, test,
                                 json.dumps(result, default=float),
                                 None if p is None or p != p else float(p),
                                 int(result.get("n", 0)), now()])

    def validations(self, run_id: str, hypothesis_set: str) -> pd.DataFrame:
        df = self._df("SELECT hypothesis_id, test, result, p_value, n, q_value, validated, alpha "
                      "FROM validations WHERE run_id = ? AND hypothesis_set = ? "
                      "ORDER BY hypothesis_id, test", [run_id, hypothesis_set])
        df["result"] = [json.loads(v) for v in df["result"]]
        return df

    def set_q_values(self, run_id: str, hypothesis_set: str, rows: pd.DataFrame,
                     alpha: float) -> None:
        """rows: hypothesis_id, test, q_value, validated — written in one transaction."""
        with self._transaction():
            for r in rows.itertuples():
                q = None if r.q_value != r.q_value else float(r.q_value)
                self._q("UPDATE validations SET q_value = ?, validated = ?, alpha = ? WHERE "
                        "run_id = ? AND hypothesis_set = ? AND hypothesis_id = ? AND test = ?",
                        [q, bool(r.validated), alpha, run_id, hypothesis_set, r.hypothesis_id,
                         r.test])

    def set_run_failures(self, run_id: str, hypothesis_set: str, failures: list[str]) -> None:
        """The steps of the last validation pass that failed (empty list: none)."""
        with self._lock:
            self._q("INSERT OR REPLACE INTO run_failures VALUES (?, ?, ?, ?)",
                    [run_id, hypothesis_set, json.dumps(failures), now()])

    def run_failures(self, run_id: str, hypothesis_set: str) -> list[str]:
        with self._lock:
            row = self._one("SELECT failures FROM run_failures WHERE run_id = ? AND "
                            "hypothesis_set = ?", [run_id, hypothesis_set])
        return json.loads(row[0]) if row else []

    # ---------------------------------------------------------------- annotations
    def annotate(self, run_id: str, hypothesis_set: str, hypothesis_id: str, verdict: str,
                 note: str = "") -> None:
        """The researcher's verdict on a hypothesis, with a note."""
        if verdict not in self.VERDICTS:
            raise ValueError(f"verdict must be one of {self.VERDICTS}")
        with self._lock:
            self._q("INSERT OR REPLACE INTO annotations VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, hypothesis_set, hypothesis_id, verdict, note, now()])

    def annotations(self, run_id: str, hypothesis_set: str) -> dict[str, dict]:
        df = self._df("SELECT hypothesis_id, verdict, note FROM annotations "
                      "WHERE run_id = ? AND hypothesis_set = ?", [run_id, hypothesis_set])
        return {r.hypothesis_id: {"verdict": r.verdict, "note": r.note} for r in df.itertuples()}

    # ---------------------------------------------------------- proposal settings
    def proposal_settings(self, run_id: str, hypothesis_set: str) -> Optional[dict]:
        with self._lock:
            row = self._one("SELECT settings FROM hypothesis_settings "
                            "WHERE run_id = ? AND hypothesis_set = ?", [run_id, hypothesis_set])
        return json.loads(row[0]) if row else None

    def save_proposal_settings(self, run_id: str, hypothesis_set: str, settings: dict) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO hypothesis_settings VALUES (?, ?, ?, ?)",
                    [run_id, hypothesis_set, json.dumps(settings, sort_keys=True), now()])
