"""Row rules evaluated with DuckDB over rows in memory (a pandas frame or an Arrow table): pandera's checks of
the transformed tables and the marts' own checks use the same predicate text that Spark runs."""

from __future__ import annotations

import duckdb
import pyarrow as pa


def verdicts(rows, predicate: str) -> pa.Array:
    """For each row, in order, whether `predicate` (SQL, true for a good row) holds; NULL counts as false."""
    con = duckdb.connect()
    try:
        con.register("rows_in_memory", rows)
        return con.sql(f"SELECT coalesce(({predicate}), false) FROM rows_in_memory").to_arrow_table().column(0)
    finally:
        con.close()


def failing(rows, predicate: str) -> int:
    """How many rows fail `predicate`."""
    return sum(1 for ok in verdicts(rows, predicate).to_pylist() if not ok)
