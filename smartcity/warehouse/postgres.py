"""PostgreSQL warehouse (the embedded default; any PostgreSQL URL works): rows reach the staging table by
COPY FROM STDIN, and mart tables get an index on their partition columns."""

from __future__ import annotations

import csv
import io

from smartcity.marts.spec import Mart
from smartcity.warehouse import sql
from smartcity.warehouse.base import PartitionData, Warehouse


LOCK_TIMEOUT = "30s"


class PostgresWarehouse(Warehouse):
    def lock_for_writers(self, cur, table: str) -> None:
        """SHARE ROW EXCLUSIVE: writers of `table` take turns, while readers (a dashboard, a BI tool, pg_dump)
        neither wait for the writer nor make it wait. A lock not granted within LOCK_TIMEOUT (another writer, or
        a session holding a stronger lock) fails the transaction instead of stalling it."""
        cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cur.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")

    def index_sql(self, mart: Mart) -> list[str]:
        """An index on the partition columns: replacing a partition finds its rows instead of scanning the whole
        table, so a load costs the new hour's rows, not the table's history."""
        columns = ", ".join(sql.identifier(c) for c in mart.partition_columns)
        return [f"CREATE INDEX IF NOT EXISTS {sql.identifier(mart.name + '_partition')} ON {mart.qualified} "
                f"({columns})"]

    def stage(self, cur, mart: Mart, staging: str, data: PartitionData) -> None:
        columns = mart.column_names
        rows = data.rows.select(columns).to_pylist()
        _copy(cur, f"{staging} ({', '.join(columns)})", ([row[c] for c in columns] for row in rows))

    def insert_rows(self, cur, table: str, rows: list[tuple]) -> None:
        _copy(cur, table, rows)


def _copy(cur, target: str, rows) -> None:
    """COPY `rows` (sequences of Python values) into `target` (a table, optionally with its column list) as CSV:
    one round trip, no statement to build."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["\\N" if v is None else v for v in row])
    buffer.seek(0)
    cur.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
