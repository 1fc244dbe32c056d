"""The probe game's rounds: one row per (hypothesis, arm, game, round), stored as each round
finishes, read back to resume a game or to summarise it."""
from __future__ import annotations

import json

import pandas as pd

from .connection import Connection, now


class ProbeStore(Connection):
    def save_probe_round(self, run_id: str, hypothesis_set: str, hypothesis_id: str,
                         settings: str, arm: str, row: dict) -> None:
        """row: game, round, probe, hidden, answers (list of texts), guess, confidence."""
        with self._lock:
            self._q("INSERT OR REPLACE INTO probe_rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?)", [run_id, hypothesis_set, hypothesis_id, settings, arm,
                              int(row["game"]), int(row["round"]), row["probe"], row["hidden"],
                              json.dumps(row["answers"]), row["guess"],
                              float(row["confidence"]), now()])

    def probe_rounds(self, run_id: str, hypothesis_set: str, settings: str) -> pd.DataFrame:
        """Every stored round of a hypothesis set's games with these settings, in play order."""
        df = self._df("SELECT hypothesis_id, arm, game, round, probe, hidden, answers, guess, "
                      "confidence FROM probe_rounds WHERE run_id = ? AND hypothesis_set = ? "
                      "AND settings = ? ORDER BY hypothesis_id, arm, game, round",
                      [run_id, hypothesis_set, settings])
        df["answers"] = [json.loads(v) for v in df["answers"]]
        return df

    def probe_settings(self, run_id: str, hypothesis_set: str) -> list[str]:
        """The settings under which games of this set were played, most recent first."""
        with self._lock:
            rows = self._q("SELECT settings FROM probe_rounds WHERE run_id = ? AND "
                           "hypothesis_set = ? GROUP BY settings ORDER BY max(created_at) DESC",
                           [run_id, hypothesis_set]).fetchall()
        return [r[0] for r in rows]
