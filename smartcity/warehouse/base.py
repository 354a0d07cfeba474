"""The warehouse interface: mart tables kept up to date one hourly partition at a time.

PostgreSQL (the embedded default, or any URL) and Amazon Redshift implement it; both speak the PostgreSQL
protocol through psycopg2 (the driver dagster-aws's Redshift resource uses) and run the same SQL
(`smartcity.warehouse.sql`). They differ only in how a partition's rows reach the staging table: COPY FROM
STDIN for PostgreSQL, COPY FROM the partition's Parquet file in S3 for Redshift. Either way the partition is
replaced with DELETE + INSERT in one transaction: a reader sees the old rows or the new ones, never a mix,
and loading the same partition twice leaves the table unchanged. Rows built in Python (the live layer's)
go in with `insert_rows`: COPY FROM STDIN on PostgreSQL, multi-row INSERTs on Redshift.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
import pyarrow as pa
from psycopg2.extensions import parse_dsn
from psycopg2.extras import execute_values

from smartcity.errors import SmartcityError
from smartcity.lake.layout import Hour
from smartcity.marts.spec import Mart
from smartcity.warehouse import sql

ROWS_PER_INSERT = 5000  # rows per multi-row INSERT (a few hundred kB: far below Redshift's 16 MB limit)


class WarehouseUnavailable(SmartcityError):
    pass


@dataclass(frozen=True)
class PartitionData:
    """One mart partition: its rows, and the lake object holding the same rows (Redshift COPYs from there)."""

    hour: Hour
    rows: pa.Table
    lake_uri: str


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


class Warehouse(ABC):
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
                                       f"{_scrub(' '.join(str(exc).split()), self.dsn)}") from None

    @contextmanager
    def transaction(self, what: str, readonly: bool = False):
        """A cursor in one transaction (commit at the end, rollback on error; `readonly`: the server refuses
        any write); a server that goes away meanwhile becomes a WarehouseUnavailable naming `what` and saying
        that nothing of it was committed."""
        conn = self.connect()
        try:
            if readonly:
                conn.set_session(readonly=True)
            with conn, conn.cursor() as cur:
                yield cur
        except psycopg2.errors.LockNotAvailable as exc:
            raise WarehouseUnavailable(
                f"{self.name}: a lock needed while {what} was not granted in time ({' '.join(str(exc).split())}): another "
                "session holds it. It was one transaction, so nothing of it was committed; run it again once that "
                "session is done (the stream retries by itself)") from None
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise WarehouseUnavailable(
                f"{self.name} at {describe(self.dsn)} went away while {what}: "
                f"{_scrub(' '.join(str(exc).split()), self.dsn)}. "
                "It was one transaction, so nothing of it was committed; run it again once the warehouse "
                "is back") from None
        finally:
            conn.close()

    def lock_for_writers(self, cur, table: str) -> None:
        """Let one transaction at a time write `table` until it ends. Redshift's LOCK (the only kind it has)
        also makes readers of the table wait."""
        cur.execute(f"LOCK TABLE {table}")

    def ensure_table(self, mart: Mart) -> None:
        """Create the table, add the columns a newer spec has, its index, comments and BI views, in one
        transaction: readers never see a table without its views."""
        with self.transaction(f"creating {mart.qualified}") as cur:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                        "AND table_name = %s", (mart.qualified.split(".")[0], mart.name))
            existing = {row[0] for row in cur.fetchall()}
            for statement in self.table_sql(mart, existing):
                cur.execute(statement)

    def table_sql(self, mart: Mart, existing: set[str]) -> list[str]:
        """The statements that create or update `mart`'s table, given the columns it has (`existing`)."""
        return [*sql.create_sql(mart, existing), *self.index_sql(mart)]

    def index_sql(self, mart: Mart) -> list[str]:
        return []

    def replace_partition(self, mart: Mart, data: PartitionData) -> int:
        """Load `data` as the whole content of its partition, in one transaction; returns rows loaded."""
        staging = sql.identifier(f"staging_{mart.name}")
        where = ", ".join(f"{k}={v}" for k, v in data.hour.values.items())
        with self.transaction(f"loading {mart.qualified} ({where})") as cur:
            cur.execute(sql.staging_sql(mart, staging))
            self.stage(cur, mart, staging, data)
            for statement in sql.replace_partition_sql(mart, staging):
                cur.execute(statement, data.hour.values)
            cur.execute(f"DROP TABLE {staging}")
        return data.rows.num_rows

    @abstractmethod
    def stage(self, cur, mart: Mart, staging: str, data: PartitionData) -> None:
        """Put the partition's rows into the (empty, temporary) staging table."""

    def insert_rows(self, cur, table: str, rows: list[tuple]) -> None:
        """Insert `rows` (Python values in the table's column order) into `table`: multi-row INSERTs of up to
        ROWS_PER_INSERT rows (a few hundred kB each: far below Redshift's 16 MB statement limit)."""
        execute_values(cur, f"INSERT INTO {table} VALUES %s", rows, page_size=ROWS_PER_INSERT)
