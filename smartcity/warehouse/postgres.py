"""PostgreSQL warehouse (the embedded default; any PostgreSQL URL works): bulk COPY into a staging table,
then the partition is replaced with DELETE + INSERT in one transaction — a reader sees the old rows or
the new ones, never a mix, and loading the same partition twice leaves the table unchanged."""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager

import psycopg2
import pyarrow as pa

from smartcity.errors import SmartcityError
from smartcity.warehouse.tables import MartTable, identifier


class WarehouseUnavailable(SmartcityError):
    pass


class PostgresWarehouse:
    def __init__(self, dsn: str):
        self.dsn = dsn

    @property
    def _host(self) -> str:
        return self.dsn.split("@")[-1]  # never print credentials

    def connect(self):
        try:
            return psycopg2.connect(self.dsn, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            raise WarehouseUnavailable(f"cannot connect to the warehouse at {self._host}: {str(exc).strip()}") from None

    @contextmanager
    def _transaction(self, what: str):
        """A cursor in one transaction (commit at the end, rollback on error); a server that goes away
        meanwhile becomes a WarehouseUnavailable naming `what` and saying that nothing of it was committed."""
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                yield cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise WarehouseUnavailable(
                f"the warehouse at {self._host} went away while {what}: {' '.join(str(exc).split())}. "
                "It was one transaction, so nothing of it was committed; run it again once the warehouse "
                "is back") from None
        finally:
            conn.close()

    def ensure_table(self, table: MartTable) -> None:
        with self._transaction(f"creating {table.qualified}") as cur:
            for statement in table.create_sql():
                cur.execute(statement)

    def replace_partition(self, table: MartTable, partition: dict, rows: pa.Table) -> int:
        """Load `rows` as the whole content of one partition; returns rows loaded."""
        staging = identifier(f"staging_{table.name}")
        columns = [c.name for c in table.columns]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows.select(columns).to_pylist():
            writer.writerow(["\\N" if row[c] is None else row[c] for c in columns])
        buffer.seek(0)
        where = ", ".join(f"{k}={v}" for k, v in partition.items())
        with self._transaction(f"loading {table.qualified} ({where})") as cur:
            cur.execute(f"CREATE TEMP TABLE {staging} (LIKE {table.qualified}) ON COMMIT DROP")
            cur.copy_expert(f"COPY {staging} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
            for statement in table.replace_partition_sql(staging):
                cur.execute(statement, partition)
        return rows.num_rows
