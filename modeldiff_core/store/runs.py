"""A run and the texts it is made of: its prompts and held-out sample, both sides'
generations, their embeddings, the map and clusters, and the finished result."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from .connection import Connection, now


@dataclass(frozen=True)
class RunRecord:
    """What a run is created with: its two models (label, spec, fingerprint), prompts, settings."""
    model_a: str
    model_b: str
    spec_a: dict
    spec_b: dict
    fingerprint_a: str
    fingerprint_b: str
    prompt_set: str
    settings: dict


class RunStore(Connection):
    # ---------------------------------------------------------------------- runs
    def upsert_run(self, run_id: str, run: RunRecord) -> bool:
        """Create the run if new; returns True when it already existed (a resume)."""
        with self._lock:
            exists = self._one("SELECT 1 FROM runs WHERE run_id = ?", [run_id])
            if exists:
                return True
            stamp = now()
            self._q("INSERT INTO runs VALUES (?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    [run_id, stamp, stamp, run.model_a, run.model_b, json.dumps(run.spec_a),
                     json.dumps(run.spec_b), run.fingerprint_a, run.fingerprint_b,
                     run.prompt_set, json.dumps(run.settings)])
            return False

    def set_run_status(self, run_id: str, status: str) -> None:
        with self._lock:
            self._q("UPDATE runs SET status = ?, updated_at = ? WHERE run_id = ?",
                    [status, now(), run_id])

    def get_run(self, run_id: str) -> Optional[dict]:
        df = self._df("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if df.empty:
            return None
        row = df.iloc[0].to_dict()
        for key in ("spec_a", "spec_b", "settings", "cluster_settings"):
            row[key] = json.loads(row[key]) if row[key] else None
        return row

    def list_runs(self) -> pd.DataFrame:
        return self._df("""
            SELECT r.run_id, r.created_at, r.status, r.model_a, r.model_b, r.prompt_set,
                   (SELECT count(*) FROM generations g WHERE g.run_id = r.run_id) AS n_texts,
                   (SELECT count(*) FROM clusters c WHERE c.run_id = r.run_id) AS n_clusters
            FROM runs r ORDER BY r.created_at DESC""")

    # ------------------------------------------------------------------- prompts
    def save_prompts(self, run_id: str, prompts: pd.DataFrame) -> None:
        """prompts: columns prompt_id, prompt, prompt_group, split."""
        self._insert_df("prompts", prompts.assign(run_id=run_id))

    def prompts(self, run_id: str) -> pd.DataFrame:
        """prompt_id, prompt, prompt_group (the prompt itself for runs stored before groups), split."""
        return self._df("SELECT prompt_id, prompt, coalesce(prompt_group, prompt) AS prompt_group, "
                        "split FROM prompts WHERE run_id = ? ORDER BY prompt_id", [run_id])

    def save_heldout(self, run_id: str, budget: int, pairs: pd.DataFrame) -> None:
        """pairs: prompt_id, sample_idx in order: the texts both sides are judged on."""
        self._insert_df("heldout", pairs[["prompt_id", "sample_idx"]].assign(
            run_id=run_id, budget=int(budget), position=range(len(pairs))))

    def heldout(self, run_id: str, budget: int) -> pd.DataFrame:
        return self._df("SELECT prompt_id, sample_idx FROM heldout WHERE run_id = ? AND "
                        "budget = ? ORDER BY position", [run_id, int(budget)])

    # --------------------------------------------------------------- generations
    def save_generations(self, run_id: str, rows: pd.DataFrame) -> None:
        """rows: side, prompt_id, sample_idx, text, n_tokens, finish_reason."""
        self._insert_df("generations", rows.assign(run_id=run_id, created_at=now()))

    def generation_keys(self, run_id: str, side: str) -> set[tuple[int, int]]:
        with self._lock:
            rows = self._q("SELECT prompt_id, sample_idx FROM generations WHERE run_id = ? "
                           "AND side = ?", [run_id, side]).fetchall()
        return {(int(p), int(s)) for p, s in rows}

    def count_generations(self, run_id: str) -> int:
        with self._lock:
            return int(self._one("SELECT count(*) FROM generations WHERE run_id = ?", [run_id])[0])

    def generations(self, run_id: str, split: Optional[str] = None) -> pd.DataFrame:
        sql = """SELECT g.side, g.prompt_id, g.sample_idx, g.text, g.n_tokens, g.finish_reason,
                        p.prompt, p.split
                 FROM generations g JOIN prompts p USING (run_id, prompt_id)
                 WHERE g.run_id = ?"""
        params: list[Any] = [run_id]
        if split is not None:
            sql += " AND p.split = ?"
            params.append(split)
        return self._df(sql + " ORDER BY g.side, g.prompt_id, g.sample_idx", params)

    # ---------------------------------------------------------------- embeddings
    def cached_embeddings(self, embedder: str, text_hashes: list[str]) -> dict[str, np.ndarray]:
        if not text_hashes:
            return {}
        wanted = pd.DataFrame({"text_hash": list(set(text_hashes))})
        with self._registered(wanted) as name:
            rows = self._q(f"SELECT e.text_hash, e.vector FROM embeddings e JOIN {name} w "
                           "USING (text_hash) WHERE e.embedder = ?", [embedder]).fetchall()
        return {h: np.asarray(v, dtype=np.float32) for h, v in rows}

    def save_embeddings(self, embedder: str, hashes: list[str], vectors: np.ndarray) -> None:
        df = pd.DataFrame({"embedder": embedder, "text_hash": hashes,
                           "vector": [np.asarray(v, dtype=np.float32) for v in vectors]})
        self._insert_df("embeddings", df)

    # ------------------------------------------------------------ points, clusters
    def replace_clustering(self, run_id: str, points: pd.DataFrame, clusters: pd.DataFrame,
                           cluster_settings: dict) -> None:
        """Swap a run's map and clusters in one transaction: readers never see half of one."""
        with self._transaction():
            self._q("DELETE FROM points WHERE run_id = ?", [run_id])
            self._q("DELETE FROM clusters WHERE run_id = ?", [run_id])
            self._insert_df("points", points.assign(run_id=run_id))
            self._insert_df("clusters", clusters.assign(run_id=run_id))
            self._q("UPDATE runs SET cluster_settings = ?, updated_at = ? WHERE run_id = ?",
                    [json.dumps(cluster_settings), now(), run_id])

    def points(self, run_id: str) -> pd.DataFrame:
        return self._df("""
            SELECT pt.side, pt.prompt_id, pt.sample_idx, pt.cluster_id, pt.x, pt.y, g.text,
                   p.split
            FROM points pt
            JOIN generations g USING (run_id, side, prompt_id, sample_idx)
            JOIN prompts p USING (run_id, prompt_id)
            WHERE pt.run_id = ? ORDER BY pt.side, pt.prompt_id, pt.sample_idx""", [run_id])

    def clusters(self, run_id: str) -> pd.DataFrame:
        return self._df("SELECT * EXCLUDE (run_id) FROM clusters WHERE run_id = ? "
                        "ORDER BY cluster_id", [run_id])

    # ------------------------------------------------------------------- results
    def save_result(self, run_id: str, result: dict) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO results VALUES (?, ?, ?)",
                    [run_id, json.dumps(result), now()])

    def result(self, run_id: str) -> Optional[dict]:
        with self._lock:
            row = self._one("SELECT result FROM results WHERE run_id = ?", [run_id])
        return json.loads(row[0]) if row else None
