"""Background jobs (the dashboard's): their progress, and what became of them after a restart."""
from __future__ import annotations

import json
from typing import Any, Optional

import pandas as pd

from .connection import Connection, now


class JobStore(Connection):
    def create_job(self, job_id: str, kind: str, run_id: Optional[str], params: dict) -> None:
        stamp = now()
        with self._lock:
            self._q("INSERT INTO jobs (job_id, kind, run_id, status, stage, done, total, rate, "
                    "message, params, error, created_at, updated_at) "
                    "VALUES (?, ?, ?, 'queued', NULL, 0, 0, 0, '', ?, NULL, ?, ?)",
                    [job_id, kind, run_id, json.dumps(params), stamp, stamp])

    def update_job(self, job_id: str, **fields: Any) -> None:
        allowed = {"status", "stage", "done", "total", "rate", "message", "error", "run_id",
                   "stage_started", "stage_times"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown job fields: {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._lock:
            self._q(f"UPDATE jobs SET {sets}, updated_at = ? WHERE job_id = ?",
                    [*fields.values(), now(), job_id])

    def get_job(self, job_id: str) -> Optional[dict]:
        df = self._df("SELECT * FROM jobs WHERE job_id = ?", [job_id])
        if df.empty:
            return None
        row = df.iloc[0].to_dict()
        row["params"] = json.loads(row["params"]) if row["params"] else {}
        return row

    def list_jobs(self, statuses: Optional[list[str]] = None) -> pd.DataFrame:
        if statuses:
            marks = ", ".join("?" for _ in statuses)
            return self._df(f"SELECT * FROM jobs WHERE status IN ({marks}) "
                            "ORDER BY created_at DESC", statuses)
        return self._df("SELECT * FROM jobs ORDER BY created_at DESC")

    def stage_history(self, kind: str, last: int = 5) -> dict[str, float]:
        """Stage number -> the median seconds it took in the last finished jobs of a kind
        (their stored stage times): what an overall estimate adds for the stages to come."""
        rows = self._df("SELECT stage_times FROM jobs WHERE kind = ? AND status = 'done' AND "
                        "stage_times IS NOT NULL ORDER BY created_at DESC LIMIT ?", [kind, last])
        seen: dict[str, list[float]] = {}
        for times in rows["stage_times"]:
            for stage, seconds in json.loads(times).items():
                seen.setdefault(stage, []).append(float(seconds))
        return {k: sorted(v)[len(v) // 2] for k, v in seen.items()}

    def mark_interrupted_jobs(self) -> int:
        """At start-up: jobs left running or queued by a dead process become 'interrupted'."""
        stamp = now()
        with self._lock:
            n = self._one("SELECT count(*) FROM jobs WHERE status IN ('running', 'queued')")[0]
            # The reason says when the server came back and what the job was last doing.
            self._q("UPDATE jobs SET status = 'interrupted', updated_at = ?, error = "
                    "'the server stopped while the job was ' || CASE WHEN status = 'queued' "
                    "THEN 'queued' ELSE 'at ' || coalesce(stage, 'its start') || ' (' || "
                    "done || '/' || total || ')' END || ', last heard of at ' || "
                    "strftime(updated_at, '%Y-%m-%d %H:%M:%S') || ' UTC; restarted at ' || "
                    "strftime(?::TIMESTAMP, '%Y-%m-%d %H:%M:%S') || ' UTC' "
                    "WHERE status IN ('running', 'queued')", [stamp, stamp])
        return int(n)
