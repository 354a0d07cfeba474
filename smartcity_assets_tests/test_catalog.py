"""Catalog: Glue registration on moto, the local DuckDB catalog and `smartcity query` against the lake."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import boto3
import dagster as dg
import pytest
from moto import mock_aws

from smartcity.catalog.glue import GlueCatalog
from smartcity.catalog.query import QueryError, athena_query, run_query
from smartcity.catalog.tables import Column
from smartcity.lake import Lake, layout
from smartcity.lake.reader import LakeReader
from smartcity_assets.catalog import CATALOG, catalog_key, raw_table_def, table_def
from smartcity_assets.raw import RAW_SPECS
from smartcity_assets.resources import resources_for
from smartcity_assets.transformed import (
    TABLES,
    TRANSFORMED,
    read_transformed,
    transformed_key,
)

from .test_assets import land

HOUR = "2026-11-29-10:00"


@pytest.fixture
def glue():
    with mock_aws():
        yield GlueCatalog("smartcity", "s3://city-lake/smartcity", "us-east-1")


def test_glue_tables_and_partitions_match_the_lake_layout(glue):
    for table in TABLES:
        assert glue.register_table(table_def(table)) == "created"
    camera = table_def(next(t for t in TABLES if t.name == "traffic_camera"))
    got = glue.glue.get_table(DatabaseName="smartcity", Name="transformed_traffic_camera")["Table"]
    sd = got["StorageDescriptor"]
    assert sd["Location"] == "s3://city-lake/smartcity/transformed/traffic_camera/"
    assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    columns = {c["Name"]: c for c in sd["Columns"]}
    assert columns["vehicle_count"]["Type"] == "int" and columns["mean_speed_kmh"]["Type"] == "double"
    assert columns["event_time"]["Type"] == "timestamp" and columns["kafka_offset"]["Type"] == "bigint"
    assert "unit: km/h" in columns["mean_speed_kmh"]["Comment"]
    assert [k["Name"] for k in got["PartitionKeys"]] == ["event_date", "event_hour"]

    assert glue.add_partition(camera, "2026-11-29", 10) is True
    assert glue.add_partition(camera, "2026-11-29", 10) is False  # idempotent
    assert glue.register_table(camera) == "unchanged"
    (partition,) = glue.partitions("transformed_traffic_camera")
    assert partition["Values"] == ["2026-11-29", "10"]
    assert partition["StorageDescriptor"]["Location"] == \
        "s3://city-lake/smartcity/transformed/traffic_camera/event_date=2026-11-29/event_hour=10/"

    # a new optional contract column updates the table; the older partition keeps its own columns
    evolved = camera.__class__(camera.name, camera.location, camera.description,
                               camera.columns + (Column("firmware_version", "string", "camera firmware"),))
    assert glue.register_table(evolved) == "updated"
    table_columns = glue.glue.get_table(DatabaseName="smartcity", Name=camera.name)["Table"]["StorageDescriptor"]
    assert table_columns["Columns"][-1]["Name"] == "firmware_version"
    (old,) = glue.partitions(camera.name)
    assert [c["Name"] for c in old["StorageDescriptor"]["Columns"]] == [c.name for c in camera.columns]
    assert glue.add_partition(evolved, "2026-11-29", 11) is True
    assert len(glue.partitions(camera.name)) == 2


def test_athena_query_submits_polls_and_fetches(monkeypatch):
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="city-lake")
        from smartcity.settings import load_settings

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
    assert start[1]["QueryExecutionContext"] == {"Database": "smartcity"}
    assert start[1]["ResultConfiguration"]["OutputLocation"] == "s3://city-lake/smartcity/_athena/"
    assert any(name == "get_query_execution" for name, _ in calls)
    assert isinstance(columns, list) and isinstance(rows, list)


def test_local_catalog_and_query_return_what_the_lake_holds(broker_only, spark):
    land(broker_only, spark, 6_000, datetime(2026, 11, 29, 10, 10, tzinfo=timezone.utc))
    result = dg.materialize([*RAW_SPECS, *TRANSFORMED, *CATALOG], partition_key=HOUR,
                            resources=resources_for(broker_only),
                            selection=dg.AssetSelection.groups("transformed", "catalog"))
    assert result.success
    assert {e.asset_key for e in result.get_asset_materialization_events()} >= {catalog_key(f"transformed_{t.name}") for t in TABLES}
    lake = Lake.from_settings(broker_only)
    for table in TABLES:
        direct = read_transformed(lake, table.name, HOUR)
        columns, rows = run_query(broker_only, f"SELECT event_id, event_hour FROM transformed_{table.name} "
                                               f"ORDER BY event_id")
        assert columns == ["event_id", "event_hour"]
        assert [r[0] for r in rows] == sorted(direct.column("event_id").to_pylist())
        assert {r[1] for r in rows} <= {10}
    _, [(count, zones)] = run_query(broker_only, "SELECT count(*), count(DISTINCT zone_id) FROM transformed_gps")
    assert count == read_transformed(lake, "gps", HOUR).num_rows and zones > 1
    _, comments = run_query(broker_only, "SELECT comment FROM duckdb_columns() WHERE table_name = "
                                         "'transformed_traffic_camera' AND column_name = 'mean_speed_kmh'")
    assert "km/h" in comments[0][0]
    with pytest.raises(QueryError, match="(?i)not found|does not exist"):
        run_query(broker_only, "SELECT * FROM no_such_table")

    # the command line prints the engine's message, not a traceback
    env = {"SMARTCITY_HOME": str(broker_only.home_dir)}
    ok = subprocess.run([sys.executable, "-m", "smartcity.cli", "query",
                         "SELECT count(*) AS fixes FROM transformed_gps"], capture_output=True, text=True,
                        env={**__import__("os").environ, **env}, timeout=120)
    assert ok.returncode == 0 and "fixes" in ok.stdout and "(1 rows)" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "smartcity.cli", "query", "SELEC nonsense"], capture_output=True,
                         text=True, env={**__import__("os").environ, **env}, timeout=120)
    assert bad.returncode == 2 and "error:" in bad.stderr and "syntax" in bad.stderr.lower()
    assert "Traceback" not in bad.stderr
    assert transformed_key("gps") in {e.asset_key for e in result.get_asset_materialization_events()}


def test_raw_tables_read_committed_files_only_locally_and_in_glue(broker_only, spark, glue):
    """Raw tables go through per-partition symlink manifests: a file of a batch that never committed (a
    crash between writing files and the manifest) sits in the folder but is not in the table."""
    land(broker_only, spark, 4_000, datetime(2026, 11, 29, 10, 10, tzinfo=timezone.utc))
    lake = Lake.from_settings(broker_only)
    partition = layout.PartitionKey("raw", "gps", "2026-11-29", 10)
    committed = LakeReader(lake).committed_files(partition)
    stray = lake.path(partition.directory, layout.data_file_name("f" * 16, 999_999, "0" * 32))
    lake.write_bytes(stray, lake.read_bytes(committed[0]))  # same rows again, never committed
    result = dg.materialize([*RAW_SPECS, *TRANSFORMED, *CATALOG], partition_key=HOUR,
                            resources=resources_for(broker_only),
                            selection=dg.AssetSelection.assets(catalog_key("raw_gps"), catalog_key("raw_weather")))
    assert result.success
    symlinks = lake.read_bytes(lake.path(partition.symlink_file)).decode().splitlines()
    assert symlinks == [lake.uri_of(f) for f in committed]
    _, [(rows, hours)] = run_query(broker_only, "SELECT count(*), min(event_hour) FROM raw_gps")
    assert rows == LakeReader(lake).read_partition(partition).num_rows and hours == 10
    _, [(offsets,)] = run_query(broker_only, "SELECT count(*) FROM (SELECT DISTINCT kafka_partition, kafka_offset "
                                              "FROM raw_gps)")
    assert offsets == rows  # the stray copy would have doubled every offset

    # Glue: a symlink table that Athena reads through the manifests
    definition = raw_table_def("gps")
    assert glue.register_table(definition) == "created"
    assert glue.add_partition(definition, "2026-11-29", 10) is True
    sd = glue.glue.get_table(DatabaseName="smartcity", Name="raw_gps")["Table"]["StorageDescriptor"]
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert sd["Location"] == "s3://city-lake/smartcity/_symlinks/raw/source=gps/"
    (p,) = glue.partitions("raw_gps")
    assert p["StorageDescriptor"]["Location"] == \
        "s3://city-lake/smartcity/_symlinks/raw/source=gps/event_date=2026-11-29/event_hour=10/"
    assert {c["Name"] for c in sd["Columns"]} >= {"event_id", "kafka_offset", "accuracy_m"}
