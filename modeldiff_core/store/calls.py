"""Calls to an assistant's language model: the response cache, and each call's tokens and cost."""
from __future__ import annotations

import uuid
from typing import Optional

from .connection import Connection, now


class CallStore(Connection):
    def cached_response(self, cache_key: str) -> Optional[str]:
        with self._lock:
            row = self._one("SELECT response FROM assistant_cache WHERE cache_key = ?", [cache_key])
        return row[0] if row else None

    def save_response(self, cache_key: str, provider: str, model: str, response: str) -> None:
        with self._lock:
            self._q("INSERT OR REPLACE INTO assistant_cache VALUES (?, ?, ?, ?, ?)",
                    [cache_key, provider, model, response, now()])

    def record_call(self, run_id: Optional[str], provider: str, model: str, purpose: str,
                    input_tokens: int, output_tokens: int, cost_usd: float, cached: bool) -> None:
        with self._lock:
            self._q("INSERT INTO assistant_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [uuid.uuid4().hex, run_id, provider, model, purpose, input_tokens,
                     output_tokens, cost_usd, cached, now()])

    def usage(self, run_id: Optional[str] = None) -> dict:
        """Calls, cache hits, tokens and estimated cost, for one run (or all runs)."""
        where, params = ("WHERE run_id = ?", [run_id]) if run_id else ("", [])
        with self._lock:
            row = self._one(f"""SELECT count(*), count(*) FILTER (WHERE cached),
                coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
                coalesce(sum(cost_usd), 0) FROM assistant_calls {where}""", params)
        return {"calls": int(row[0]), "cached": int(row[1]), "input_tokens": int(row[2]),
                "output_tokens": int(row[3]), "cost_usd": float(row[4])}
