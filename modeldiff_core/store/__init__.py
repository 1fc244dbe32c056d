"""The one DuckDB file that holds everything, and the only module that speaks SQL.

Bulk writes go through a registered DataFrame (`INSERT OR IGNORE ... SELECT`), never row by
row; every query is parameterised. One `Store` may be shared by the threads of one process
(the dashboard's jobs): each call takes the store's lock, because a DuckDB connection is not
safe to use from two threads at once.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

import duckdb
import numpy as np
import pandas as pd

from ..config import ModelDiffError

SCHEMA_VERSION = 10

# Each entry migrates the schema from version i to i+1; never edit a released entry.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, updated_at TIMESTAMP,
            status VARCHAR, model_a VARCHAR, model_b VARCHAR, spec_a VARCHAR, spec_b VARCHAR,
            fingerprint_a VARCHAR, fingerprint_b VARCHAR, prompt_set VARCHAR,
            settings VARCHAR, cluster_settings VARCHAR)""",
        """CREATE TABLE prompts (
            run_id VARCHAR, prompt_id INTEGER, prompt VARCHAR, split VARCHAR,
            PRIMARY KEY (run_id, prompt_id))""",
        """CREATE TABLE generations (
            run_id VARCHAR, side VARCHAR, prompt_id INTEGER, sample_idx INTEGER, text VARCHAR,
            n_tokens INTEGER, finish_reason VARCHAR, created_at TIMESTAMP,
            PRIMARY KEY (run_id, side, prompt_id, sample_idx))""",
        """CREATE TABLE embeddings (
            embedder VARCHAR, text_hash VARCHAR, vector FLOAT[],
            PRIMARY KEY (embedder, text_hash))""",
        """CREATE TABLE points (
            run_id VARCHAR, side VARCHAR, prompt_id INTEGER, sample_idx INTEGER,
            cluster_id INTEGER, x DOUBLE, y DOUBLE,
            PRIMARY KEY (run_id, side, prompt_id, sample_idx))""",
        """CREATE TABLE clusters (
            run_id VARCHAR, cluster_id INTEGER, size_a INTEGER, size_b INTEGER, share_b DOUBLE,
            log_odds DOUBLE, ci_low DOUBLE, ci_high DOUBLE, p_value DOUBLE, q_value DOUBLE,
            top_terms VARCHAR, PRIMARY KEY (run_id, cluster_id))""",
        """CREATE TABLE jobs (
            job_id VARCHAR PRIMARY KEY, kind VARCHAR, run_id VARCHAR, status VARCHAR,
            stage VARCHAR, done INTEGER, total INTEGER, rate DOUBLE, message VARCHAR,
            params VARCHAR, error VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP)""",
        """CREATE TABLE results (
            run_id VARCHAR PRIMARY KEY, result VARCHAR, updated_at TIMESTAMP)""",
    ],
    [
        """CREATE TABLE hypotheses (
            run_id VARCHAR, assistant VARCHAR, hypothesis_id VARCHAR, position INTEGER,
            text VARCHAR, direction VARCHAR, source VARCHAR, predicate VARCHAR, evidence VARCHAR,
            created_at TIMESTAMP, PRIMARY KEY (run_id, assistant, hypothesis_id))""",
        """CREATE TABLE validations (
            run_id VARCHAR, assistant VARCHAR, hypothesis_id VARCHAR, test VARCHAR,
            result VARCHAR, p_value DOUBLE, n INTEGER, q_value DOUBLE, validated BOOLEAN,
            alpha DOUBLE, created_at TIMESTAMP,
            PRIMARY KEY (run_id, assistant, hypothesis_id, test))""",
    ],
    [
        """CREATE TABLE assistant_cache (
            cache_key VARCHAR PRIMARY KEY, provider VARCHAR, model VARCHAR, response VARCHAR,
            created_at TIMESTAMP)""",
        """CREATE TABLE assistant_calls (
            call_id VARCHAR PRIMARY KEY, run_id VARCHAR, provider VARCHAR, model VARCHAR,
            purpose VARCHAR, input_tokens INTEGER, output_tokens INTEGER, cost_usd DOUBLE,
            cached BOOLEAN, created_at TIMESTAMP)""",
    ],
    [
        """CREATE TABLE run_failures (
            run_id VARCHAR, assistant VARCHAR, failures VARCHAR, updated_at TIMESTAMP,
            PRIMARY KEY (run_id, assistant))""",
    ],
    [
        """CREATE TABLE annotations (
            run_id VARCHAR, assistant VARCHAR, hypothesis_id VARCHAR, verdict VARCHAR,
            note VARCHAR, updated_at TIMESTAMP, PRIMARY KEY (run_id, assistant, hypothesis_id))""",
    ],
    [
        """CREATE TABLE finetunes (
            finetune_id VARCHAR PRIMARY KEY, base VARCHAR, truths VARCHAR, data_recipe VARCHAR,
            settings VARCHAR, status VARCHAR, adapter_path VARCHAR, final_loss DOUBLE,
            created_at TIMESTAMP, updated_at TIMESTAMP)""",
        """CREATE TABLE training_texts (
            finetune_id VARCHAR, idx INTEGER, truth VARCHAR, prompt VARCHAR, response VARCHAR,
            source VARCHAR, PRIMARY KEY (finetune_id, idx))""",
        """CREATE TABLE truth_scores (
            run_id VARCHAR, assistant VARCHAR, matcher VARCHAR, truths VARCHAR, result VARCHAR,
            updated_at TIMESTAMP, PRIMARY KEY (run_id, assistant, matcher))""",
    ],
    [
        """CREATE TABLE quant_studies (
            study_id VARCHAR PRIMARY KEY, model VARCHAR, spec VARCHAR, reference VARCHAR,
            eval_set VARCHAR, n_texts INTEGER, created_at TIMESTAMP)""",
        """CREATE TABLE quant_levels (
            study_id VARCHAR, level VARCHAR, metrics VARCHAR, created_at TIMESTAMP,
            PRIMARY KEY (study_id, level))""",
        """CREATE TABLE layer_lens (
            run_id VARCHAR, assistant VARCHAR, result VARCHAR, updated_at TIMESTAMP,
            PRIMARY KEY (run_id, assistant))""",
    ],
    [
        """CREATE TABLE layer_settings (
            setting_key VARCHAR PRIMARY KEY, logprobs VARCHAR, texts VARCHAR,
            created_at TIMESTAMP)""",
    ],
    [
        # Prompt-level inference: prompt groups for the split, a prompt-level cluster test
        # beside Fisher's, the discovery-only cluster table that proposal reads, and the
        # held-out sample of texts paired by prompt (chosen once per run and budget).
        "ALTER TABLE prompts ADD COLUMN prompt_group VARCHAR",
        "ALTER TABLE clusters ADD COLUMN fisher_p DOUBLE",
        "ALTER TABLE clusters ADD COLUMN n_prompts INTEGER",
        "ALTER TABLE clusters ADD COLUMN disc_size_a INTEGER",
        "ALTER TABLE clusters ADD COLUMN disc_size_b INTEGER",
        "ALTER TABLE clusters ADD COLUMN disc_log_odds DOUBLE",
        "ALTER TABLE clusters ADD COLUMN disc_p_value DOUBLE",
        "ALTER TABLE clusters ADD COLUMN disc_q_value DOUBLE",
        """CREATE TABLE heldout (
            run_id VARCHAR, budget INTEGER, prompt_id INTEGER, sample_idx INTEGER,
            position INTEGER, PRIMARY KEY (run_id, budget, prompt_id, sample_idx))""",
    ],
    [
        # What a hypothesis set was proposed and validated with (cluster settings and the
        # rest), so that changing them makes a new set instead of mixing with the old one.
        """CREATE TABLE hypothesis_settings (
            run_id VARCHAR, assistant VARCHAR, settings VARCHAR, updated_at TIMESTAMP,
            PRIMARY KEY (run_id, assistant))""",
    ],
]
# Every table keyed by a hypothesis set (run, assistant): a set moves with all of them.
HYPOTHESIS_SET_TABLES = ("hypotheses", "validations", "run_failures", "annotations",
                         "truth_scores", "layer_lens", "hypothesis_settings")


class StoreError(ModelDiffError):
    """The database file failed under us (I/O, corruption), not the request."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _lock_reason(path: str, err: Exception) -> str:
    pid = re.search(r"PID (\d+)", str(err))
    held = f" (held by PID {pid.group(1)})" if pid else ""
    return (f"database {path} is in use by another process{held}; DuckDB allows one writer — "
            f"stop the dashboard or pass another --db")


class Store:
    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ModelDiffError(f"cannot create the folder of database {self.path}: "
                                     f"{err.strerror or err}") from None
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.IOException as err:
            if "lock" in str(err).lower():
                raise ModelDiffError(_lock_reason(self.path, err)) from None
            raise ModelDiffError(f"cannot open database {self.path}: {err}") from None
        except duckdb.Error as err:
            raise ModelDiffError(f"cannot open database {self.path}: {err}") from None
        self._lock = threading.RLock()
        self._migrate()

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _q(self, sql: str, params: Optional[list | tuple] = None) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(sql, params or [])
        except (duckdb.IOException, duckdb.InternalException, duckdb.FatalException,
                duckdb.SerializationException) as err:
            # A damaged or vanished file: DuckDB rolls back the statement (and its
            # transaction), so what was stored before stays as it was.
            first = str(err).strip().splitlines()[0][:300]
            raise StoreError(f"database {self.path} cannot be read or written ({first}); "
                             "nothing stored in it was changed") from None

    def _one(self, sql: str, params: Optional[list | tuple] = None) -> Optional[tuple]:
        """First row or None. fetchall, not fetchone: DuckDB keeps a half-read result open, and
        an open result makes the next register() (every bulk write) fail."""
        rows = self._q(sql, params).fetchall()
        return rows[0] if rows else None

    def _df(self, sql: str, params: Optional[list | tuple] = None) -> pd.DataFrame:
        with self._lock:
            return self._q(sql, params).df()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._q("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                self._q("ROLLBACK")
                raise
            self._q("COMMIT")

    def _insert_df(self, table: str, df: pd.DataFrame, replace: bool = False) -> None:
        """Bulk insert; existing keys are kept (`OR IGNORE`) or overwritten (`OR REPLACE`)."""
        if df.empty:
            return
        known = self._table_columns(table)
        unknown = [c for c in df.columns if c not in known]
        if unknown:  # DuckDB would silently insert NULLs for a misnamed column
            raise ValueError(f"table {table} has no column(s) {unknown}")
        cols = ", ".join(df.columns)
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        name = f"_df_{uuid.uuid4().hex}"
        with self._lock:
            self._con.register(name, df)
            try:
                self._q(f"{verb} INTO {table} ({cols}) SELECT {cols} FROM {name}")
            finally:
                self._con.unregister(name)

    def _table_columns(self, table: str) -> set[str]:
        with self._lock:
            rows = self._q("SELECT column_name FROM information_schema.columns "
                           "WHERE table_name = ?", [table]).fetchall()
        return {r[0] for r in rows}

    def _migrate(self) -> None:
        with self._lock:
            self._q("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            row = self._one("SELECT value FROM meta WHERE key = 'schema_version'")
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise ModelDiffError(f"database {self.path} has schema version {version}, newer "
                                     f"than this modeldiff ({SCHEMA_VERSION}); upgrade modeldiff")
            for v in range(version, SCHEMA_VERSION):
                with self._transaction():
                    for stmt in MIGRATIONS[v]:
                        self._q(stmt)
                    self._q("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(v + 1)])

    def schema_version(self) -> int:
        with self._lock:
            return int(self._one("SELECT value FROM meta WHERE key='schema_version'")[0])

    # ---------------------------------------------------------------------- runs
    def upsert_run(self, run_id: str, *, model_a: str, model_b: str, spec_a: dict, spec_b: dict,
                   fingerprint_a: str, fingerprint_b: str, prompt_set: str,
                   settings: dict) -> bool:
        """Create the run if new; returns True when it already existed (a resume)."""
        with self._lock:
            exists = self._one("SELECT 1 FROM runs WHERE run_id = ?", [run_id])
            if exists:
                return True
            now = _now()
            self._q("INSERT INTO runs VALUES (?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    [run_id, now, now, model_a, model_b, json.dumps(spec_a), json.dumps(spec_b),
                     fingerprint_a, fingerprint_b, prompt_set, json.dumps(settings)])
            return False

    def set_run_status(self, run_id: str, status: str) -> None:
        with self._lock:
            self._q("UPDATE runs SET status = ?, updated_at = ? WHERE run_id = ?",
                    [status, _now(), run_id])

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
        self._insert_df("generations", rows.assign(run_id=run_id, created_at=_now()))

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
        name = f"_df_{uuid.uuid4().hex}"
        with self._lock:
            self._con.register(name, wanted)
            try:
                rows = self._q(f"SELECT e.text_hash, e.vector FROM embeddings e JOIN {name} w "
                               "USING (text_hash) WHERE e.embedder = ?", [embedder]).fetchall()
            finally:
                self._con.unregister(name)
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
                    [json.dumps(cluster_settings), _now(), run_id])

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
                    [run_id, json.dumps(result), _now()])

    def result(self, run_id: str) -> Optional[dict]:
        with self._lock:
            row = self._one("SELECT result FROM results WHERE run_id = ?", [run_id])
        return json.loads(row[0]) if row else None

    # ---------------------------------------------------------------------- jobs
    def create_job(self, job_id: str, kind: str, run_id: Optional[str], params: dict) -> None:
        now = _now()
        with self._lock:
            self._q("INSERT INTO jobs VALUES (?, ?, ?, 'queued', NULL, 0, 0, 0, '', ?, NULL, ?, ?)",
                    [job_id, kind, run_id, json.dumps(params), now, now])

    def update_job(self, job_id: str, **fields: Any) -> None:
        allowed = {"status", "stage", "done", "total", "rate", "message", "error", "run_id"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown job fields: {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._lock:
            self._q(f"UPDATE jobs SET {sets}, updated_at = ? WHERE job_id = ?",
                    [*fields.values(), _now(), job_id])

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

    def mark_interrupted_jobs(self) -> int:
        """At start-up: jobs left running or queued by a dead process become 'interrupted'."""
        now = _now()
        with self._lock:
            n = self._one("SELECT count(*) FROM jobs WHERE status IN ('running', 'queued')")[0]
            # The reason says when the server came back and what the job was last doing.
            self._q("UPDATE jobs SET status = 'interrupted', updated_at = ?, error = "
                    "'the server stopped while the job was ' || CASE WHEN status = 'queued' "
                    "THEN 'queued' ELSE 'at ' || coalesce(stage, 'its start') || ' (' || "
                    "done || '/' || total || ')' END || ', last heard of at ' || "
                    "strftime(updated_at, '%Y-%m-%d %H:%M:%S') || ' UTC; restarted at ' || "
                    "strftime(?::TIMESTAMP, '%Y-%m-%d %H:%M:%S') || ' UTC' "
                    "WHERE status IN ('running', 'queued')", [now, now])
        return int(n)

    # ---------------------------------------------------------------- hypotheses
    def save_hypotheses(self, run_id: str, assistant: str, hypotheses: list) -> None:
        """Store proposed hypotheses as h1, h2, ... in proposal order (kept if already there)."""
        df = pd.DataFrame({
            "run_id": run_id, "assistant": assistant,
            "hypothesis_id": [f"h{i + 1}" for i in range(len(hypotheses))],
            "position": list(range(len(hypotheses))),
            "text": [h.text for h in hypotheses], "direction": [h.direction for h in hypotheses],
            "source": [h.source for h in hypotheses],
            "predicate": [json.dumps(h.predicate) for h in hypotheses],
            "evidence": [json.dumps(h.evidence) for h in hypotheses], "created_at": _now()})
        self._insert_df("hypotheses", df)

    def hypotheses(self, run_id: str, assistant: str) -> pd.DataFrame:
        df = self._df("SELECT hypothesis_id, text, direction, source, predicate, evidence "
                      "FROM hypotheses WHERE run_id = ? AND assistant = ? ORDER BY position",
                      [run_id, assistant])
        for col in ("predicate", "evidence"):
            df[col] = [json.loads(v) for v in df[col]]
        return df

    def save_validation(self, run_id: str, assistant: str, hypothesis_id: str, test: str,
                        result: dict) -> None:
        p = result.get("p_value")
        with self._lock:
            self._q("INSERT OR REPLACE INTO validations VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, "
                    "NULL, ?)", [run_id, assistant, hypothesis_id, test,
                                 json.dumps(result, default=float),
                                 None if p is None or p != p else float(p),
                                 int(result.get("n", 0)), _now()])

    def validations(self, run_id: str, assistant: str) -> pd.DataFrame:
        df = self._df("SELECT hypothesis_id, test, result, p_value, n, q_value, validated, alpha "
                      "FROM validations WHERE run_id = ? AND assistant = ? "
                      "ORDER BY hypothesis_id, test", [run_id, assistant])
        df["result"] = [json.loads(v) for v in df["result"]]
        return df

    def set_q_values(self, run_id: str, assistant: str, rows: pd.DataFrame, alpha: float) -> None:
        """rows: hypothesis_id, test, q_value, validated — written in one transaction."""
        with self._transaction():
            for r in rows.itertuples():
                q = None if r.q_value != r.q_value else float(r.q_value)
                self._q("UPDATE validations SET q_value = ?, validated = ?, alpha = ? "
                        "WHERE run_id = ? AND assistant = ? AND hypothesis_id = ? AND test = ?",
                        [q, bool(r.validated), alpha, run_id, assistant, r.hypothesis_id, r.test])

    def set_run_failures(self, run_id: str, assistant: str, failures: list[str]) -> None:
        """The steps of the last validation pass that failed (empty list: none)."""
        with self._lock:
            self._q("INSERT OR REPLACE INTO run_failures VALUES (?, ?, ?, ?)",
                    [run_id, assistant, json.dumps(failures), _now()])

    def run_failures(self, run_id: str, assistant: str) -> list[str]:
        with self._lock:
            row = self._one("SELECT failures FROM run_failures WHERE run_id = ? AND assistant = ?",
                            [run_id, assistant])
        return json.loads(row[0]) if row else []

    # -------------------------------------------------------- assistant calls
    def cached_response(self, cache_key: str) -> Optional[str]:
        with self._lock:
            row = self._one("SELECT response FROM assistant_cache WHERE cache_key = ?", [cache_key])
        return row[0] if row else None

    def save_response(self, cache_key: str, provider: str, model: str, response: str) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO assistant_cache VALUES (?, ?, ?, ?, ?)",
                    [cache_key, provider, model, response, _now()])

    def record_call(self, run_id: Optional[str], provider: str, model: str, purpose: str,
                    input_tokens: int, output_tokens: int, cost_usd: float, cached: bool) -> None:
        with self._lock:
            self._q("INSERT INTO assistant_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [uuid.uuid4().hex, run_id, provider, model, purpose, input_tokens,
                     output_tokens, cost_usd, cached, _now()])

    def usage(self, run_id: Optional[str] = None) -> dict:
        """Calls, cache hits, tokens and estimated cost, for one run (or all runs)."""
        where, params = ("WHERE run_id = ?", [run_id]) if run_id else ("", [])
        with self._lock:
            row = self._one(f"""SELECT count(*), count(*) FILTER (WHERE cached),
                coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
                coalesce(sum(cost_usd), 0) FROM assistant_calls {where}""", params)
        return {"calls": int(row[0]), "cached": int(row[1]), "input_tokens": int(row[2]),
                "output_tokens": int(row[3]), "cost_usd": float(row[4])}

    # ---------------------------------------------------------------- annotations
    VERDICTS = ("accepted", "rejected", "unsure")

    def annotate(self, run_id: str, assistant: str, hypothesis_id: str, verdict: str,
                 note: str = "") -> None:
        """The researcher's verdict on a hypothesis, with a note."""
        if verdict not in self.VERDICTS:
            raise ValueError(f"verdict must be one of {self.VERDICTS}")
        with self._lock:
            self._q("INSERT OR REPLACE INTO annotations VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, assistant, hypothesis_id, verdict, note, _now()])

    def annotations(self, run_id: str, assistant: str) -> dict[str, dict]:
        df = self._df("SELECT hypothesis_id, verdict, note FROM annotations "
                      "WHERE run_id = ? AND assistant = ?", [run_id, assistant])
        return {r.hypothesis_id: {"verdict": r.verdict, "note": r.note} for r in df.itertuples()}

    def proposal_settings(self, run_id: str, assistant: str) -> Optional[dict]:
        with self._lock:
            row = self._one("SELECT settings FROM hypothesis_settings "
                            "WHERE run_id = ? AND assistant = ?", [run_id, assistant])
        return json.loads(row[0]) if row else None

    def save_proposal_settings(self, run_id: str, assistant: str, settings: dict) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO hypothesis_settings VALUES (?, ?, ?, ?)",
                    [run_id, assistant, json.dumps(settings, sort_keys=True), _now()])

    def set_aside_hypotheses(self, run_id: str, assistant: str, label: str) -> None:
        """Move a hypothesis set, with its tests, verdicts and scores, under another name."""
        with self._transaction():
            for table in HYPOTHESIS_SET_TABLES:
                # Copy then delete (not UPDATE): the set's name is part of every key.
                self._q(f"INSERT INTO {table} SELECT * REPLACE (? AS assistant) FROM {table} "
                        "WHERE run_id = ? AND assistant = ?", [label, run_id, assistant])
                self._q(f"DELETE FROM {table} WHERE run_id = ? AND assistant = ?",
                        [run_id, assistant])

    def hypothesis_sets(self, run_id: str) -> list[str]:
        """The assistants that have hypotheses for a run."""
        with self._lock:
            rows = self._q("SELECT DISTINCT assistant FROM hypotheses WHERE run_id = ? "
                           "ORDER BY assistant", [run_id]).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------- ground truth
    def upsert_finetune(self, finetune_id: str, *, base: dict, truths: list[str],
                        data_recipe: dict, settings: dict, adapter_path: str) -> bool:
        """Create the finetune if new; returns True when it already existed (a resume)."""
        with self._lock:
            if self._one("SELECT 1 FROM finetunes WHERE finetune_id = ?", [finetune_id]):
                return True
            now = _now()
            self._q("INSERT INTO finetunes VALUES (?, ?, ?, ?, ?, 'created', ?, NULL, ?, ?)",
                    [finetune_id, json.dumps(base), json.dumps(truths), json.dumps(data_recipe),
                     json.dumps(settings), adapter_path, now, now])
            return False

    def set_finetune_status(self, finetune_id: str, status: str,
                            final_loss: Optional[float] = None) -> None:
        with self._lock:
            self._q("UPDATE finetunes SET status = ?, final_loss = coalesce(?, final_loss), "
                    "updated_at = ? WHERE finetune_id = ?",
                    [status, final_loss, _now(), finetune_id])

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

    def save_truth_score(self, run_id: str, assistant: str, matcher: str, truths: list[str],
                         result: dict) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO truth_scores VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, assistant, matcher, json.dumps(truths), json.dumps(result), _now()])

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
                    [study_id, model, json.dumps(spec), reference, eval_set, n_texts, _now()])

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
                    [study_id, level, json.dumps(metrics), _now()])

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

    # ---------------------------------------------------------------- layer lens
    def save_layer_lens(self, run_id: str, assistant: str, result: dict) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO layer_lens VALUES (?, ?, ?, ?)",
                    [run_id, assistant, json.dumps(result, default=float), _now()])

    def layer_lens(self, run_id: str, assistant: str) -> Optional[dict]:
        with self._lock:
            row = self._one("SELECT result FROM layer_lens WHERE run_id = ? AND assistant = ?",
                            [run_id, assistant])
        return None if row is None else json.loads(row[0])

    def save_layer_setting(self, setting_key: str, logprobs: list, texts: list[str]) -> None:
        """One delta-scaling setting's outcome (evidence log-probs, fresh generations)."""
        with self._lock:
            self._q("INSERT OR REPLACE INTO layer_settings VALUES (?, ?, ?, ?)",
                    [setting_key, json.dumps(logprobs), json.dumps(texts), _now()])

    def layer_setting(self, setting_key: str) -> Optional[tuple[list, list[str]]]:
        with self._lock:
            row = self._one("SELECT logprobs, texts FROM layer_settings WHERE setting_key = ?",
                            [setting_key])
        return None if row is None else (json.loads(row[0]), json.loads(row[1]))
