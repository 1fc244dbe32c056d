"""The one DuckDB file that holds everything; this package is the only code that speaks SQL.

`Store` is the connection (connection.py, schema in schema.py) with one set of tables per
domain mixed in: runs and their texts, hypothesis sets, jobs, assistant calls, studies, probe games.
"""
from __future__ import annotations

from .calls import CallStore
from .hypotheses import HypothesisStore
from .jobs import JobStore
from .probes import ProbeStore
from .runs import RunStore
from .studies import StudyStore


class Store(RunStore, HypothesisStore, JobStore, CallStore, StudyStore, ProbeStore):
    """The database: `Store(path)` opens (and migrates) it, `Store()` is in memory."""
