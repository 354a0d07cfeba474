"""PostgreSQL warehouse (the embedded default; any PostgreSQL URL works): bulk COPY into a staging table,
then the partition is replaced with DELETE + INSERT in one transaction — a reader sees the old rows or
the new ones, never a mix, and loading the same partition twice leaves the table unchanged."""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager

import psycopg2
import pyarrow as pa
from psycopg2.extensions import parse_dsn

from smartcity.errors import SmartcityError
from smartcity.warehouse.tables import MartTable, identifier


class WarehouseUnavailable(SmartcityError):
    pass


def describe(dsn: str) -> str:
    """host:port/database of a connection URL or key=value string: never its user or password."""
    try:
        parts = parse_dsn(dsn)
    except psycopg2.Error:
        return "an unparseable SMARTCITY_WAREHOUSE_URL"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', '5432')}/{parts.get('dbname', '')}"


def _scrub(text: str, dsn: str) -> str:
    """A driver message with the password blanked out, should libpq ever echo it."""
    try:
        password = parse_dsn(dsn).get("password")
    except psycopg2.Error:
        return text
    return text.replace(password, "***") if password else text


class PostgresWarehouse:
    name = "the warehouse"

    def __init__(self, dsn: str, connect=psycopg2.connect):
        self.dsn, self._connect = dsn, connect

    def connect_options(self) -> dict:
        """Extra libpq options; the URL's own (sslmode, sslrootcert, ...) pass through unchanged."""
        return {}

    def connect(self):
        options = self.connect_options()
        try:
            return self._connect(self.dsn, connect_timeout=10, **options)
        except psycopg2.ProgrammingError:  # libpq's message would quote the malformed string
            raise WarehouseUnavailable("SMARTCITY_WAREHOUSE_URL is not a valid connection URL (expected "
                                       "postgresql://user:password@host:port/database[?sslmode=...])") from None
        except psycopg2.OperationalError as exc:
            raise WarehouseUnavailable(f"cannot connect to {self.name} at {describe(self.dsn)}: "
                                       f"{_scrub(str(exc).strip(), self.dsn)}") from None

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
                f"{self.name} at {describe(self.dsn)} went away while {what}: "
                f"{_scrub(' '.join(str(exc).split()), self.dsn)}. "
                "It was one transaction, so nothing of it was committed; run it again once the warehouse "
                "is back") from None
        finally:
            conn.close()

    def ensure_table(self, table: MartTable) -> None:
        """Create the table, add the columns a newer definition has, its index, comments and BI views, in one
        transaction: readers never see a table without its views."""
        with self._transaction(f"creating {table.qualified}") as cur:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                        "AND table_name = %s", (table.schema, table.name))
            existing = {row[0] for row in cur.fetchall()}
            for statement in [*table.create_sql(existing), *self.index_sql(table)]:
                cur.execute(statement)

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
        where = ", ".join(f"{k}={v}" for k, v in partition.items())
        with self._transaction(f"loading {table.qualified} ({where})") as cur:
            cur.execute(f"CREATE TEMP TABLE {staging} (LIKE {table.qualified}) ON COMMIT DROP")
            cur.copy_expert(f"COPY {staging} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
            for statement in table.replace_partition_sql(staging):
                cur.execute(statement, partition)
        return rows.num_rows
