"""`smartcity query "SQL"`: ad-hoc SQL over the lake's Iceberg tables — DuckDB locally (a read-only sandbox,
current or earlier snapshots), Athena in AWS mode."""

from __future__ import annotations

import time
from datetime import datetime, timezone


from smartcity import contracts
from smartcity.catalog.tables import mart_table, raw_table, transformed_table
from smartcity.lake.iceberg import LakeTable, LakeTables
from smartcity.marts import MARTS
from smartcity.tables import TABLES

from smartcity.errors import SmartcityError
from smartcity.security.denials import reporting_denials
from smartcity.settings import Settings


class QueryError(SmartcityError):
    """The engine rejected the query; the message is the engine's own."""


AsOf = int | datetime | None  # a snapshot id, a moment, or None for the current snapshots


def parse_as_of(text: str | None) -> AsOf:
    """`--as-of`: a snapshot id (digits) or an ISO moment (UTC when it names no zone)."""
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"--as-of {text!r} is neither a snapshot id nor a moment: give a snapshot id (a "
                         "materialization's snapshot_id) or an ISO time like 2026-11-29T10:30:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def run_query(settings: Settings, sql: str, timeout_s: float = 300, as_of: AsOf = None
              ) -> tuple[list[str], list[tuple]]:
    if not sql.strip():
        raise QueryError('no SQL given: e.g. smartcity query "SELECT * FROM marts_traffic_congestion LIMIT 5"')
    if settings.env == "aws":
        if as_of is not None:
            raise QueryError("--as-of reads earlier snapshots locally; on Athena write it in the SQL: "
                             "FROM <table> FOR VERSION AS OF <snapshot id> or FOR TIMESTAMP AS OF TIMESTAMP '...'")
        return athena_query(settings, sql, timeout_s)
    return local_query(settings, sql, as_of)


def lake_tables() -> list[LakeTable]:
    """Every table a query can read: the raw zone, the transformed tables and the marts."""
    return [*(raw_table(c.name) for c in contracts.CONTRACTS), *(transformed_table(t) for t in TABLES),
            *(mart_table(m) for m in MARTS)]


def snapshot_views(tables: LakeTables, as_of: AsOf = None) -> dict[str, object]:
    """Per existing table, its rows at the chosen snapshot as a lazy Arrow dataset (files planned by pyiceberg,
    read in the snapshot's own schema: a column added later is not there). A snapshot id picks that snapshot
    of its table and the others as of the moment it was made; a moment picks each table's snapshot then (a
    table with none yet reads empty)."""
    import pyarrow.dataset as ds
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    definitions = [d for d in lake_tables() if tables.exists(d)]
    loaded = {d.name: tables.table(d) for d in definitions}
    exact: dict[str, int] = {}
    moment = as_of
    if isinstance(as_of, int):
        owner = next((n for n, t in loaded.items() if t.snapshot_by_id(as_of) is not None), None)
        if owner is None:
            raise QueryError(f"no table has a snapshot {as_of} (expired by maintenance, or mistyped); a "
                             "materialization's metadata shows the snapshot_id it made")
        exact[owner] = as_of
        moment = datetime.fromtimestamp(loaded[owner].snapshot_by_id(as_of).timestamp_ms / 1000, tz=timezone.utc)
    views = {}
    for name, table in loaded.items():
        if name in exact:
            snapshot = table.snapshot_by_id(exact[name])
        elif moment is not None:
            try:
                snapshot = table.snapshot_as_of_timestamp(int(moment.timestamp() * 1000))
            except ValueError:  # the moment lies before the table's first snapshot
                snapshot = None
        else:
            snapshot = table.current_snapshot()
        schema = table.schemas().get(snapshot.schema_id, table.schema()) if snapshot and snapshot.schema_id is not None \
            else table.schema()
        arrow = schema_to_pyarrow(schema, include_field_ids=False)
        files = [] if snapshot is None else [
            tables.lake_path(t.file.file_path) for t in table.scan(snapshot_id=snapshot.snapshot_id).plan_files()]
        views[name] = ds.dataset(files, schema=arrow, format="parquet", filesystem=tables.lake.fs) if files \
            else arrow.empty_table()
    return views


def local_query(settings: Settings, sql: str, as_of: AsOf = None) -> tuple[list[str], list[tuple]]:
    """The SQL on DuckDB in memory over the lake's Iceberg tables, in a sandbox: each table is an Arrow dataset
    this process reads for DuckDB, and DuckDB itself may touch no file (no read, write, ATTACH, INSTALL or LOAD)
    and change no setting."""
    import duckdb

    views = snapshot_views(LakeTables.from_settings(settings), as_of)
    if not views:
        raise QueryError(f"no tables in the catalog for the lake {settings.lake} yet: materialize the catalog and "
                         "marts assets first (`make demo` does)")
    con = duckdb.connect(":memory:")
    try:
        for name, data in views.items():
            con.register(name, data)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return columns, cursor.fetchall()
    except duckdb.PermissionException as exc:
        raise QueryError(f"smartcity query reads the lake's tables only ({', '.join(sorted(views))}): "
                         f"{_first_line(exc)}") from None
    except duckdb.InvalidInputException as exc:
        if "configuration has been locked" in str(exc):
            raise QueryError(f"smartcity query cannot change DuckDB's settings: {_first_line(exc)}") from None
        raise QueryError(_first_line(exc)) from None
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from None
    finally:
        con.close()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def athena_query(settings: Settings, sql: str, timeout_s: float) -> tuple[list[str], list[tuple]]:
    """Submit, poll until done, fetch all result pages."""
    import boto3

    athena = boto3.client("athena", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    with reporting_denials("run an Athena query in", f"the workgroup {settings.athena_workgroup} "
                           f"(database {settings.glue_database}, results in {settings.athena_results})"):
        query_id = athena.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": settings.glue_database},
            WorkGroup=settings.athena_workgroup,
            ResultConfiguration={"OutputLocation": settings.athena_results})["QueryExecutionId"]
        return _wait_and_fetch(athena, query_id, timeout_s)


def _wait_and_fetch(athena, query_id: str, timeout_s: float) -> tuple[list[str], list[tuple]]:
    deadline, delay = time.monotonic() + timeout_s, 0.2
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] == "SUCCEEDED":
            break
        if status["State"] in ("FAILED", "CANCELLED"):
            raise QueryError(status.get("StateChangeReason", status["State"]))
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise QueryError(f"Athena query {query_id} did not finish within {timeout_s:.0f} s (stopped)")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    columns, rows, first = [], [], True
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        if first:
            columns = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
        data = page["ResultSet"]["Rows"]
        if first and data and [d.get("VarCharValue") for d in data[0]["Data"]] == columns:
            data = data[1:]  # Athena repeats the header as the first row
        rows += [tuple(d.get("VarCharValue") for d in r["Data"]) for r in data]
        first = False
    return columns, rows
