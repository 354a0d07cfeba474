"""Catalog: the Iceberg tables in Glue on moto (what Athena reads), Athena queries, `smartcity query` over the
embedded catalog (current and earlier snapshots, a read-only sandbox), and raw tables of committed files only."""

from __future__ import annotations

import boto3
import dagster as dg
import pytest
from moto import mock_aws

from smartcity import tables
from smartcity.catalog.query import QueryError, athena_query, run_query
from smartcity.catalog.tables import raw_table, transformed_table
from smartcity.lake import Lake, layout
from smartcity.lake.iceberg import LakeTables
from smartcity.lake.layout import Hour
from smartcity.lake.reader import LakeReader
from smartcity.settings import load_settings
from smartcity_assets.keys import raw_catalog_key, transformed_catalog_key, transformed_key

from .helpers import HOUR_10, camera_row, commit_raw, materialize, moto_server, read_raw, read_transformed, smartcity

HOUR = Hour.parse(HOUR_10)
CAMERA = transformed_table(tables.BY_NAME["traffic_camera"])
CAMERA_STEPS = dg.AssetSelection.assets(transformed_key("traffic_camera"), transformed_catalog_key("traffic_camera"))


def test_glue_holds_iceberg_tables_that_athena_reads(monkeypatch):
    with moto_server() as endpoint:
        for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_GLUE"):
            monkeypatch.setenv(variable, endpoint)
        boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint).create_bucket(Bucket="city-lake")
        lake = Lake("s3://city-lake/smartcity", s3_endpoint_url=endpoint, region="us-east-1")
        catalog = LakeTables.open(lake, "glue", database="smartcity", glue_endpoint=endpoint)
        rows = read_rows_of_camera()
        commit = catalog.replace_hours(CAMERA, {HOUR: [catalog.write_hour(CAMERA, HOUR, rows)]})
        glue = boto3.client("glue", region_name="us-east-1", endpoint_url=endpoint)
        got = glue.get_table(DatabaseName="smartcity", Name="transformed_traffic_camera")["Table"]
        assert got["Parameters"]["table_type"] == "ICEBERG"  # what Athena and Redshift Spectrum look for
        location = got["Parameters"]["metadata_location"]
        assert location.startswith("s3://city-lake/smartcity/transformed/traffic_camera/metadata/")
        assert location.endswith(".metadata.json") and lake.exists(location.removeprefix("s3://"))
        columns = [c["Name"] for c in got["StorageDescriptor"]["Columns"]]
        assert columns == tables.BY_NAME["traffic_camera"].column_names
        files = catalog.hour_files(CAMERA, [HOUR])
        assert list(files.values()) == [rows.num_rows] and all(
            p.startswith("city-lake/smartcity/transformed/traffic_camera/data/event_time_hour=2026-11-29-10/")
            for p in files)
        # a second commit is one more Glue table version pointing at new metadata; the first snapshot still reads
        again = catalog.replace_hours(CAMERA, {HOUR: [catalog.write_hour(CAMERA, HOUR, rows.slice(0, 3))]})
        now = glue.get_table(DatabaseName="smartcity", Name="transformed_traffic_camera")["Table"]["Parameters"]
        assert now["metadata_location"] != location and now.get("previous_metadata_location") == location
        assert catalog.read(CAMERA, [HOUR]).num_rows == 3
        assert catalog.read(CAMERA, [HOUR], snapshot_id=commit.snapshot_id).num_rows == rows.num_rows
        assert again.snapshot_id != commit.snapshot_id


def read_rows_of_camera():
    """Ten camera rows in the transformed table's columns (the enrichment columns left empty)."""
    import pyarrow as pa

    from smartcity.lake.iceberg import iceberg_schema
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    schema = schema_to_pyarrow(iceberg_schema(CAMERA))
    base = [camera_row(i) for i in range(10)]
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in base], schema=schema)


def test_athena_query_submits_polls_and_fetches(monkeypatch):
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="city-lake")
        settings = load_settings(env="aws", lake_uri="s3://city-lake/smartcity", glue_database="smartcity")
        calls = []
        real = boto3.client

        def spy(service, **kwargs):
            client = real(service, **kwargs)
            if service == "athena":
                for name in ("start_query_execution", "get_query_execution"):
                    method = getattr(client, name)
                    setattr(client, name, lambda _m=method, _n=name, **kw: calls.append((_n, kw)) or _m(**kw))
            return client

        monkeypatch.setattr(boto3, "client", spy)
        columns, rows = athena_query(settings, "SELECT 1", timeout_s=30)
    start = calls[0]
    assert start[0] == "start_query_execution"
    assert start[1]["QueryString"] == "SELECT 1" and start[1]["WorkGroup"] == "primary"
    assert start[1]["QueryExecutionContext"] == {"Database": "smartcity"}
    assert start[1]["ResultConfiguration"]["OutputLocation"] == "s3://city-lake/smartcity/_athena/"
    assert any(name == "get_query_execution" for name, _ in calls)
    assert isinstance(columns, list) and isinstance(rows, list)


def _camera_hour(settings, rows: int, batch: int, first: int = 0) -> int:
    lake = Lake.from_settings(settings)
    commit_raw(lake, "traffic_camera", [camera_row(first + i, segment_id=f"SEG-{i % 7 + 1:04d}")
                                        for i in range(rows)], batch=batch)
    result = materialize(settings, HOUR_10, selection=CAMERA_STEPS)
    assert result.success
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == transformed_key("traffic_camera")]
    return int(event.materialization.metadata["snapshot_id"].value)


def test_query_reads_the_current_snapshot_and_as_of_an_earlier_one(lakehouse, spark):
    settings = lakehouse
    lake = Lake.from_settings(settings)
    stray = camera_row(999)  # a committed file of another hour must not show up in hour 10
    commit_raw(lake, "traffic_camera", [{**stray, "event_time": stray["event_time"].replace(hour=11)}], 1, hour=11)
    first = _camera_hour(settings, 40, batch=0)
    written = read_transformed(settings, "traffic_camera", HOUR_10)
    columns, rows = run_query(settings, "SELECT event_id, segment_id, zone_id FROM transformed_traffic_camera "
                                        "ORDER BY event_id")
    assert columns == ["event_id", "segment_id", "zone_id"]
    want = sorted(zip(written.column("event_id").to_pylist(), written.column("segment_id").to_pylist(),
                      written.column("zone_id").to_pylist()))
    assert [tuple(r) for r in rows] == want and len(rows) == 40
    second = _camera_hour(settings, 5, batch=2, first=500)  # late rows for hour 10: a new snapshot of 45
    assert second != first
    count = "SELECT count(*) FROM transformed_traffic_camera"
    assert run_query(settings, count)[1] == [(45,)]
    assert run_query(settings, count, as_of=first)[1] == [(40,)]
    moment = LakeTables.from_settings(settings).snapshot_for(CAMERA, first).timestamp_ms
    from datetime import datetime, timezone
    between = datetime.fromtimestamp(moment / 1000, tz=timezone.utc)
    assert run_query(settings, count, as_of=between)[1] == [(40,)]
    with pytest.raises(QueryError, match="no table has a snapshot 42"):
        run_query(settings, count, as_of=42)
    with pytest.raises(QueryError, match="(?i)does not exist"):
        run_query(settings, "SELECT * FROM no_such_table")

    # the command line: the answer, --as-of, and the engine's message in one line instead of a traceback
    env = {"SMARTCITY_HOME": str(settings.home_dir), "SMARTCITY_WAREHOUSE_URL": settings.warehouse_dsn}
    ok = smartcity("query", "SELECT count(*) AS counts FROM transformed_traffic_camera", env=env)
    assert ok.returncode == 0 and "counts" in ok.stdout and "45" in ok.stdout and "(1 rows)" in ok.stdout
    earlier = smartcity("query", "SELECT count(*) AS counts FROM transformed_traffic_camera", "--as-of", str(first),
                        env=env)
    assert earlier.returncode == 0 and "40" in earlier.stdout
    bad = smartcity("query", "SELEC nonsense", env=env)
    assert bad.returncode == 2 and "error:" in bad.stderr and "syntax" in bad.stderr.lower()
    assert "Traceback" not in bad.stderr
    wrong = smartcity("query", count, "--as-of", "yesterday", env=env)
    assert wrong.returncode == 2 and "neither a snapshot id nor a moment" in wrong.stderr


ESCAPES = [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/hosts')",
    "COPY (SELECT 42) TO '{out}'",
    "COPY transformed_traffic_camera TO '{out}'",
    "ATTACH '{out}' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
]


def test_query_is_a_read_only_sandbox_over_the_lake_tables(lakehouse, spark, tmp_path):
    _camera_hour(lakehouse, 3, batch=0)
    out = tmp_path / "escaped.csv"
    refused = {}
    for sql in ESCAPES:
        with pytest.raises(QueryError) as err:
            run_query(lakehouse, sql.format(out=out))
        refused[sql] = str(err.value)
    assert [sql for sql, message in refused.items() if "\n" in message or not (
        "reads the lake's tables only" in message or "cannot change DuckDB's settings" in message)] == []
    assert not out.exists()
    assert run_query(lakehouse, "SELECT count(*) FROM transformed_traffic_camera")[1] == [(3,)]
    env = {"SMARTCITY_HOME": str(lakehouse.home_dir), "SMARTCITY_WAREHOUSE_URL": lakehouse.warehouse_dsn}
    shown = smartcity("query", "SELECT * FROM read_text('/etc/passwd')", env=env)
    assert shown.returncode == 2 and "root:" not in shown.stdout and "tables only" in shown.stderr


def test_raw_tables_hold_committed_files_only(lakehouse, spark):
    """The raw catalog asset commits an hour's committed files to `raw_<source>`: a file of a batch that never
    committed (a crash between writing files and the manifest) sits in the folder but is not in the table."""
    settings = lakehouse
    lake = Lake.from_settings(settings)
    commit_raw(lake, "traffic_camera", [camera_row(i) for i in range(25)], batch=0)
    partition = layout.PartitionKey.raw("traffic_camera", HOUR)
    committed = LakeReader(lake).committed_files(partition)
    stray = lake.path(partition.directory, layout.data_file_name("f" * 16, 999_999, "0" * 32))
    lake.write_bytes(stray, lake.read_bytes(committed[0]))  # the same rows again, never committed
    result = materialize(settings, HOUR_10, selection=dg.AssetSelection.assets(raw_catalog_key("traffic_camera")))
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["micro_batches"].value == "abababababababab:0-0"
    catalog = LakeTables.from_settings(settings)
    assert list(catalog.hour_files(raw_table("traffic_camera"), [HOUR])) == committed
    summary = catalog.table(raw_table("traffic_camera")).current_snapshot().summary
    assert summary["smartcity.micro-batches"] == "abababababababab:0-0"
    _, [(rows, hours)] = run_query(settings, "SELECT count(*), min(hour(event_time)) FROM raw_traffic_camera")
    assert rows == read_raw(lake, "traffic_camera", HOUR_10).num_rows == 25 and hours == 10
    _, [(offsets,)] = run_query(settings, "SELECT count(*) FROM (SELECT DISTINCT kafka_partition, kafka_offset "
                                          "FROM raw_traffic_camera)")
    assert offsets == rows  # the stray copy would have doubled every offset
    # committed again: the same files, nothing added or removed
    again = materialize(settings, HOUR_10, selection=dg.AssetSelection.assets(raw_catalog_key("traffic_camera")))
    (event,) = again.get_asset_materialization_events()
    assert (event.materialization.metadata["files_added"].value, event.materialization.metadata["files_removed"].value) == (0, 0)
