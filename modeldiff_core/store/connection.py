"""The connection under every table: opening the file, migrating it, and the few helpers each
query goes through.

Bulk writes go through a registered DataFrame (`INSERT OR IGNORE ... SELECT`), never row by
row; every query is parameterised. One store may be shared by the threads of one process
(the dashboard's jobs): each call takes the store's lock, because a DuckDB connection is not
safe to use from two threads at once.
"""
from __future__ import annotations

import re
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

import duckdb
import pandas as pd

from ..config import ModelDiffError
from .schema import MIGRATIONS, SCHEMA_VERSION


class StoreError(ModelDiffError):
    """The database file failed under us (I/O, corruption), not the request."""


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _lock_reason(path: str, err: Exception) -> str:
    pid = re.search(r"PID (\d+)", str(err))
    held = f" (held by PID {pid.group(1)})" if pid else ""
    return (f"database {path} is in use by another process{held}; DuckDB allows one writer — "
            f"stop the dashboard or pass another --db")


class Connection:
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

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self):
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

    @contextmanager
    def _registered(self, df: pd.DataFrame) -> Iterator[str]:
        """A DataFrame as a table the next queries can read, under a fresh name."""
        name = f"_df_{uuid.uuid4().hex}"
        with self._lock:
            self._con.register(name, df)
            try:
                yield name
            finally:
                self._con.unregister(name)

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
        with self._registered(df) as name:
            self._q(f"{verb} INTO {table} ({cols}) SELECT {cols} FROM {name}")

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
