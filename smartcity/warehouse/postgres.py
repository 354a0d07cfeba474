"""PostgreSQL warehouse (the embedded default; any PostgreSQL URL works): bulk COPY into a staging table,
then the partition is replaced with DELETE + INSERT in one transaction — a reader sees the old rows or
the new ones, never a mix, and loading the same partition twice leaves the table unchanged."""

from __future__ import annotations

import csv
import io

import psycopg2
import pyarrow as pa

from smartcity.errors import SmartcityError
from smartcity.warehouse.tables import MartTable, identifier


class WarehouseUnavailable(SmartcityError):
    pass


class PostgresWarehouse:
    def __init__(self, dsn: str):
        self.dsn = dsn

    def connect(self):
        try:
            return psycopg2.connect(self.dsn, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            host = self.dsn.split("@")[-1]  # never print credentials
            raise WarehouseUnavailable(f"cannot connect to the warehouse at {host}: {str(exc).strip()}") from None

    def ensure_table(self, table: MartTable) -> None:
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                for statement in [*table.create_sql(), *self.index_sql(table)]:
                    cur.execute(statement)
        finally:
            conn.close()

    def index_sql(self, table: MartTable) -> list[str]:
        """An index on the partition columns: replacing a partition finds its rows instead of scanning the whole
        table, so a load costs the new hour's rows, not the table's history."""
        columns = ", ".join(identifier(c) for c in table.partition_columns)
        return [f"CREATE INDEX IF NOT EXISTS {identifier(table.name + '_partition')} ON {table.qualified} ({columns})"]

    def replace_partition(self, table: MartTable, partition: dict, rows: pa.Table) -> int:
        """Load `rows` as the whole content of one partition; returns rows loaded."""
        staging = identifier(f"staging_{table.name}")
        columns = [c.name for c in table.columns]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows.select(columns).to_pylist():
            writer.writerow(["\\N" if row[c] is None else row[c] for c in columns])
        buffer.seek(0)
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:  # one transaction: commit at the end, rollback on error
                cur.execute(f"CREATE TEMP TABLE {staging} (LIKE {table.qualified}) ON COMMIT DROP")
                cur.copy_expert(f"COPY {staging} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                                buffer)
                for statement in table.replace_partition_sql(staging):
                    cur.execute(statement, partition)
        finally:
            conn.close()
        return rows.num_rows
