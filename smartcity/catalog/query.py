"""`smartcity query "SQL"`: ad-hoc SQL over the catalog — DuckDB locally, Athena in AWS mode."""

from __future__ import annotations

import time

from smartcity.errors import SmartcityError
from smartcity.security.denials import reporting_denials
from smartcity.settings import Settings


class QueryError(SmartcityError):
    """The engine rejected the query; the message is the engine's own."""


def run_query(settings: Settings, sql: str, timeout_s: float = 300) -> tuple[list[str], list[tuple]]:
    if settings.env == "aws":
        return athena_query(settings, sql, timeout_s)
    return local_query(settings, sql)


def local_query(settings: Settings, sql: str) -> tuple[list[str], list[tuple]]:
    import duckdb

    from smartcity.catalog.local import LocalCatalog
    from smartcity.lake import Lake

    catalog = LocalCatalog(settings.catalog_path, Lake.from_settings(settings).root)
    if not catalog.path.exists():
        raise QueryError(f"no local catalog yet at {catalog.path}: materialize the catalog assets first "
                         f"(`make demo` does)")
    con = catalog.connect(read_only=True)
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return columns, cursor.fetchall()
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None
    finally:
        con.close()


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
