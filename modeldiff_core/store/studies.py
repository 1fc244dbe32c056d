"""The studies beside a run: planted ground truths (finetunes, their training texts, the scores
of the runs on them), quantization studies, the methods' results on a run (one table for all),
the run's self-check."""
from __future__ import annotations

import hashlib
import json
from typing import Optional

import pandas as pd

from .connection import Connection, now


class StudyStore(Connection):
    # ------------------------------------------------------------- ground truth
    def upsert_finetune(self, finetune_id: str, *, base: dict, truths: list[str],
                        data_recipe: dict, settings: dict, adapter_path: str) -> bool:
        """Create the finetune if new; returns True when it already existed (a resume)."""
        with self._lock:
            if self._one("SELECT 1 FROM finetunes WHERE finetune_id = ?", [finetune_id]):
                return True
            stamp = now()
            self._q("INSERT INTO finetunes VALUES (?, ?, ?, ?, ?, 'created', ?, NULL, ?, ?)",
                    [finetune_id, json.dumps(base), json.dumps(truths), json.dumps(data_recipe),
                     json.dumps(settings), adapter_path, stamp, stamp])
            return False

    def set_finetune_status(self, finetune_id: str, status: str,
                            final_loss: Optional[float] = None) -> None:
        with self._lock:
            self._q("UPDATE finetunes SET status = ?, final_loss = coalesce(?, final_loss), "
                    "updated_at = ? WHERE finetune_id = ?",
                    [status, final_loss, now(), finetune_id])

    def get_finetune(self, finetune_id: str) -> Optional[dict]:
        df = self._df("SELECT * FROM finetunes WHERE finetune_id = ?", [finetune_id])
        return None if df.empty else self._finetune_row(df.iloc[0].to_dict())

    def finetune_by_adapter(self, adapter_path: str) -> Optional[dict]:
        df = self._df("SELECT * FROM finetunes WHERE adapter_path = ?", [adapter_path])
        return None if df.empty else self._finetune_row(df.iloc[0].to_dict())

    @staticmethod
    def _finetune_row(row: dict) -> dict:
        for key in ("base", "truths", "data_recipe", "settings"):
            row[key] = json.loads(row[key])
        return row

    def list_finetunes(self) -> pd.DataFrame:
        return self._df("""
            SELECT f.finetune_id, f.created_at, f.status, f.truths, f.base, f.final_loss,
                   f.adapter_path,
                   (SELECT count(*) FROM training_texts t
                    WHERE t.finetune_id = f.finetune_id) AS n_texts
            FROM finetunes f ORDER BY f.created_at DESC""")

    def save_training_texts(self, finetune_id: str, rows: pd.DataFrame) -> None:
        """rows: idx, truth (None for the base model's own samples), prompt, response, source."""
        self._insert_df("training_texts", rows.assign(finetune_id=finetune_id))

    def training_texts(self, finetune_id: str) -> pd.DataFrame:
        return self._df("SELECT idx, truth, prompt, response, source FROM training_texts "
                        "WHERE finetune_id = ? ORDER BY idx", [finetune_id])

    def save_truth_score(self, run_id: str, hypothesis_set: str, matcher: str,
                         truths: list[str], result: dict) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO truth_scores VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, hypothesis_set, matcher, json.dumps(truths), json.dumps(result),
                     now()])

    def truth_scores(self, run_id: Optional[str] = None) -> pd.DataFrame:
        where, params = ("WHERE run_id = ?", [run_id]) if run_id else ("", [])
        df = self._df(f"SELECT * FROM truth_scores {where} ORDER BY updated_at DESC", params)
        for col in ("truths", "result"):
            df[col] = [json.loads(v) for v in df[col]]
        return df

    # ------------------------------------------------------------- quantization
    def upsert_quant_study(self, study_id: str, *, model: str, spec: dict, reference: str,
                           eval_set: str, n_texts: int) -> None:
        with self._lock:
            self._q("INSERT OR IGNORE INTO quant_studies VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [study_id, model, json.dumps(spec), reference, eval_set, n_texts, now()])

    def get_quant_study(self, study_id: str) -> Optional[dict]:
        df = self._df("SELECT * FROM quant_studies WHERE study_id = ?", [study_id])
        if df.empty:
            return None
        row = df.iloc[0].to_dict()
        row["spec"] = json.loads(row["spec"])
        return row

    def save_quant_level(self, study_id: str, level: str, metrics: dict) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO quant_levels VALUES (?, ?, ?, ?)",
                    [study_id, level, json.dumps(metrics), now()])

    def quant_levels(self, study_id: str) -> list[dict]:
        df = self._df("SELECT level, metrics FROM quant_levels WHERE study_id = ? "
                      "ORDER BY created_at", [study_id])
        return [{"level": r.level, "metrics": json.loads(r.metrics)} for r in df.itertuples()]

    def quant_studies(self, models: Optional[list[str]] = None) -> pd.DataFrame:
        """Studies (newest first) with their number of levels; only of `models` if given."""
        where, params = "", []
        if models:
            where = f"WHERE s.model IN ({', '.join('?' for _ in models)})"
            params = list(models)
        return self._df(f"""
            SELECT s.study_id, s.model, s.reference, s.eval_set, s.n_texts, s.created_at,
                   (SELECT count(*) FROM quant_levels l WHERE l.study_id = s.study_id) AS n_levels
            FROM quant_studies s {where} ORDER BY s.created_at DESC""", params)

    # ------------------------------------------------------------ methods' results
    def save_method_result(self, run_id: str, method: str, hypothesis_set: str, result: dict,
                           settings: Optional[dict] = None) -> None:
        """A method's result on a run's hypothesis set (the newest replaces the one before),
        with a digest of the settings that made it."""
        digest = None if settings is None else hashlib.sha256(
            json.dumps(settings, sort_keys=True, default=float).encode()).hexdigest()[:16]
        with self._lock:
            self._q("INSERT OR REPLACE INTO method_results VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, method, hypothesis_set, digest, json.dumps(result, default=float),
                     now()])

    def method_result(self, run_id: str, method: str, hypothesis_set: str) -> Optional[dict]:
        with self._lock:
            row = self._one("SELECT result FROM method_results WHERE run_id = ? AND method = ? "
                            "AND hypothesis_set = ?", [run_id, method, hypothesis_set])
        return None if row is None else json.loads(row[0])

    def method_results(self, run_id: str) -> pd.DataFrame:
        """Which methods have a result for the run, by hypothesis set, newest first."""
        return self._df("SELECT method, hypothesis_set, settings_digest, updated_at FROM "
                        "method_results WHERE run_id = ? ORDER BY updated_at DESC", [run_id])

    # ------------------------------------------------------------------ self-check
    def save_self_check(self, run_id: str, hypothesis_set: str, result: dict) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO self_checks VALUES (?, ?, ?, ?)",
                    [run_id, hypothesis_set, json.dumps(result, default=float), now()])

    def self_check(self, run_id: str, hypothesis_set: str) -> Optional[dict]:
        with self._lock:
            row = self._one("SELECT result FROM self_checks WHERE run_id = ? AND "
                            "hypothesis_set = ?", [run_id, hypothesis_set])
        return None if row is None else json.loads(row[0])

    def save_layer_setting(self, setting_key: str, logprobs: list, texts: list[str]) -> None:
        """One scaling setting's outcome (evidence log-probs, fresh generations): the layer
        lens's and the feature lens's, each keyed by what it depends on."""
        with self._lock:
            self._q("INSERT OR REPLACE INTO layer_settings VALUES (?, ?, ?, ?)",
                    [setting_key, json.dumps(logprobs), json.dumps(texts), now()])

    def layer_setting(self, setting_key: str) -> Optional[tuple[list, list[str]]]:
        with self._lock:
            row = self._one("SELECT logprobs, texts FROM layer_settings WHERE setting_key = ?",
                            [setting_key])
        return None if row is None else (json.loads(row[0]), json.loads(row[1]))
