"""Catalog: Glue registration on moto, the local DuckDB catalog and `smartcity query` against the lake."""

from __future__ import annotations

from dataclasses import replace

import boto3
import dagster as dg
import pytest
from moto import mock_aws

from smartcity import tables
from smartcity.catalog.glue import GlueCatalog
from smartcity.catalog.query import QueryError, athena_query, run_query
from smartcity.catalog.tables import Column, raw_table, transformed_table
from smartcity.lake import Lake, layout
from smartcity.lake.layout import Hour
from smartcity.lake.reader import LakeReader
from smartcity.settings import load_settings
from smartcity_assets.keys import raw_catalog_key, transformed_catalog_key, transformed_key

from .helpers import HOUR_10, camera_row, commit_raw, embedded_settings, materialize, read_raw, smartcity

HOUR = Hour.parse(HOUR_10)
CAMERA = transformed_table(tables.BY_NAME["traffic_camera"])


@pytest.fixture
def glue():
    with mock_aws():
        yield GlueCatalog("smartcity", "s3://city-lake/smartcity", "us-east-1")


def test_glue_tables_and_partitions_match_the_lake_layout(glue):
    for table in tables.TABLES:
        assert glue.register_table(transformed_table(table)) == "created"
    got = glue.glue.get_table(DatabaseName="smartcity", Name="transformed_traffic_camera")["Table"]
    sd = got["StorageDescriptor"]
    assert sd["Location"] == "s3://city-lake/smartcity/transformed/traffic_camera/"
    assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    columns = {c["Name"]: c for c in sd["Columns"]}
    assert columns["vehicle_count"]["Type"] == "int" and columns["mean_speed_kmh"]["Type"] == "double"
    assert columns["event_time"]["Type"] == "timestamp" and columns["kafka_offset"]["Type"] == "bigint"
    assert "unit: km/h" in columns["mean_speed_kmh"]["Comment"]
    assert [c["Name"] for c in sd["Columns"]] == tables.BY_NAME["traffic_camera"].column_names
    assert [k["Name"] for k in got["PartitionKeys"]] == ["event_date", "event_hour"]

    assert glue.add_partition(CAMERA, HOUR) is True
    assert glue.add_partition(CAMERA, HOUR) is False  # idempotent
    assert glue.register_table(CAMERA) == "unchanged"
    (partition,) = glue.partitions("transformed_traffic_camera")
    assert partition["Values"] == ["2026-11-29", "10"]
    assert partition["StorageDescriptor"]["Location"] == \
        "s3://city-lake/smartcity/transformed/traffic_camera/event_date=2026-11-29/event_hour=10/"

    # a new optional contract column updates the table; the older partition keeps its own columns
    evolved = replace(CAMERA, columns=CAMERA.columns + (Column("firmware_version", "string", "camera firmware"),))
    assert glue.register_table(evolved) == "updated"
    table_columns = glue.glue.get_table(DatabaseName="smartcity", Name=CAMERA.name)["Table"]["StorageDescriptor"]
    assert table_columns["Columns"][-1]["Name"] == "firmware_version"
    (old,) = glue.partitions(CAMERA.name)
    assert [c["Name"] for c in old["StorageDescriptor"]["Columns"]] == [c.name for c in CAMERA.columns]
    assert glue.add_partition(evolved, HOUR.shifted(1)) is True
    assert len(glue.partitions(CAMERA.name)) == 2


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


def test_local_catalog_and_query_return_what_the_lake_holds(tmp_path, spark):
    settings = embedded_settings(tmp_path)
    lake = Lake.from_settings(settings)
    commit_raw(lake, "traffic_camera", [camera_row(i, segment_id=f"SEG-{i % 7 + 1:04d}") for i in range(40)], batch=0)
    stray = camera_row(999)  # a committed file of another hour must not show up in hour 10's view
    commit_raw(lake, "traffic_camera", [{**stray, "event_time": stray["event_time"].replace(hour=11)}], 1, hour=11)
    result = materialize(settings, HOUR_10, selection=dg.AssetSelection.assets(
        transformed_key("traffic_camera"), transformed_catalog_key("traffic_camera")))
    assert result.success
    written = lake.read_parquet([lake.path(layout.transformed_file("traffic_camera", HOUR))])
    columns, rows = run_query(settings, "SELECT event_id, event_hour, segment_id, zone_id FROM "
                                        "transformed_traffic_camera ORDER BY event_id")
    assert columns == ["event_id", "event_hour", "segment_id", "zone_id"]
    want = sorted(zip(written.column("event_id").to_pylist(), [10] * written.num_rows,
                      written.column("segment_id").to_pylist(), written.column("zone_id").to_pylist()))
    assert [tuple(r) for r in rows] == want and len(rows) == 40
    _, comments = run_query(settings, "SELECT comment FROM duckdb_columns() WHERE table_name = "
                                      "'transformed_traffic_camera' AND column_name = 'mean_speed_kmh'")
    assert "km/h" in comments[0][0]
    with pytest.raises(QueryError, match="(?i)not found|does not exist"):
        run_query(settings, "SELECT * FROM no_such_table")

    # the command line prints the engine's message, not a traceback
    env = {"SMARTCITY_HOME": str(settings.home_dir)}
    ok = smartcity("query", "SELECT count(*) AS counts FROM transformed_traffic_camera", env=env)
    assert ok.returncode == 0 and "counts" in ok.stdout and "40" in ok.stdout and "(1 rows)" in ok.stdout
    bad = smartcity("query", "SELEC nonsense", env=env)
    assert bad.returncode == 2 and "error:" in bad.stderr and "syntax" in bad.stderr.lower()
    assert "Traceback" not in bad.stderr


def test_raw_tables_read_committed_files_only_locally_and_in_glue(tmp_path, spark, glue):
    """Raw tables go through per-partition symlink manifests: a file of a batch that never committed (a
    crash between writing files and the manifest) sits in the folder but is not in the table."""
    settings = embedded_settings(tmp_path)
    lake = Lake.from_settings(settings)
    commit_raw(lake, "traffic_camera", [camera_row(i) for i in range(25)], batch=0)
    partition = layout.PartitionKey.raw("traffic_camera", HOUR)
    committed = LakeReader(lake).committed_files(partition)
    stray = lake.path(partition.directory, layout.data_file_name("f" * 16, 999_999, "0" * 32))
    lake.write_bytes(stray, lake.read_bytes(committed[0]))  # the same rows again, never committed
    result = materialize(settings, HOUR_10, selection=dg.AssetSelection.assets(raw_catalog_key("traffic_camera")))
    assert result.success
    symlinks = lake.read_bytes(lake.path(partition.symlink_file)).decode().splitlines()
    assert symlinks == [lake.uri_of(f) for f in committed]
    _, [(rows, hours)] = run_query(settings, "SELECT count(*), min(event_hour) FROM raw_traffic_camera")
    assert rows == read_raw(lake, "traffic_camera", HOUR_10).num_rows == 25 and hours == 10
    _, [(offsets,)] = run_query(settings, "SELECT count(*) FROM (SELECT DISTINCT kafka_partition, kafka_offset "
                                          "FROM raw_traffic_camera)")
    assert offsets == rows  # the stray copy would have doubled every offset

    # Glue: a symlink table that Athena reads through the manifests
    definition = raw_table("gps")
    assert glue.register_table(definition) == "created"
    assert glue.add_partition(definition, HOUR) is True
    sd = glue.glue.get_table(DatabaseName="smartcity", Name="raw_gps")["Table"]["StorageDescriptor"]
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert sd["Location"] == "s3://city-lake/smartcity/_symlinks/raw/source=gps/"
    (p,) = glue.partitions("raw_gps")
    assert p["StorageDescriptor"]["Location"] == \
        "s3://city-lake/smartcity/_symlinks/raw/source=gps/event_date=2026-11-29/event_hour=10/"
    assert {c["Name"] for c in sd["Columns"]} >= {"event_id", "kafka_offset", "accuracy_m"}
