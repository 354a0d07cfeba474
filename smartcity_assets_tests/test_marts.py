"""Marts end to end and the warehouse: 40 simulated minutes across two hours go through every layer into a
database of their own; each mart (every column) equals an independent pandas computation over the
transformed rows, in the warehouse, in its lake copy and through the catalog. Then: reloads are idempotent,
late data changes exactly its hour, the BI views, schema evolution, the partition index, Redshift's SQL."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from smartcity.catalog.query import run_query
from smartcity.contracts import column
from smartcity.lake import Lake, layout
from smartcity.lake.layout import Hour
from smartcity.marts import BY_NAME as MARTS
from smartcity.marts import ENVIRONMENT, TRAFFIC_CONGESTION, Mart
from smartcity_commands.stack import free_port
from smartcity.warehouse import sql
from smartcity.warehouse.base import PartitionData, WarehouseUnavailable
from smartcity.warehouse.postgres import PostgresWarehouse
from smartcity.warehouse.redshift import RedshiftWarehouse
from smartcity_assets.defs.sensors import RANGE_START
from smartcity_assets.keys import mart_key, transformed_catalog_key, transformed_key

from . import expected_marts as expected
from .helpers import (
    HOUR_10,
    HOUR_11,
    commit_raw,
    embedded_settings,
    land,
    mart_rows,
    materialize,
    query,
    read_mart,
    read_transformed,
    run_requested,
    running_broker,
    sensor_tick,
    temporary_database,
    weather_row,
)

EVERY_LAYER = dg.AssetSelection.groups("transformed", "catalog", "marts")
ROUNDED = {"mean_speed_kmh": 2, "p85_speed_kmh": 2, "speed_ratio": 3, "mean_temperature_c": 2, "mean_humidity_pct": 2,
           "precipitation_mm": 2, "mean_aqi": 2, "mean_speed_ratio": 3, "mean_passengers": 2, "mean_headway_min": 2,
           "headway_cv": 3, "max_headway_min": 2, "minutes_to_dispatch": 2, "minutes_to_scene": 2,
           "minutes_on_scene": 2, "minutes_to_resolve": 2}


@pytest.fixture(scope="module")
def city(tmp_path_factory, live_stack, spark):
    """40 minutes of an 80-vehicle city from 10:32, landed and run through every layer for hours 10 and 11 (then
    hour 10's incident mart again, as the sensor asks when hour 11 changes), in a database of its own."""
    with temporary_database(live_stack.warehouse_dsn) as dsn, \
            running_broker(embedded_settings(tmp_path_factory.mktemp("marts"), warehouse_url=dsn)) as settings:
        land(settings, spark, 60_000, datetime(2026, 11, 29, 10, 32, tzinfo=timezone.utc), vehicles=80, seed=5)
        tick = sensor_tick(settings)
        requested = [(r.partition_key, r.tags.get(RANGE_START), [k.to_user_string() for k in r.asset_selection])
                     for r in tick.run_requests]
        # each hour's run, then hour 10 of the incident mart again: it follows its incidents into hour 11
        assert [(p, start) for p, start, _ in requested] == [(HOUR_10, None), (HOUR_11, None), (None, HOUR_10)]
        assert requested[2][2] == ["marts/incident_response"]
        for request in tick.run_requests:
            assert run_requested(settings, request).success
        yield settings


def mart_hour(settings, mart: str, order: str, hour: int = 10) -> pd.DataFrame:
    return query(settings.warehouse_dsn, f"SELECT * FROM bi.{mart} WHERE event_date = '2026-11-29' AND "
                                         f"event_hour = {hour} ORDER BY {order}")


def transformed(settings, table: str, *hours: str) -> pd.DataFrame | None:
    """The transformed rows of `table` in those hours (default: hour 10); None when none has any."""
    found = [read_transformed(settings, table, h) for h in hours or (HOUR_10,)]
    found = [t.to_pandas() for t in found if t.num_rows]
    return pd.concat(found, ignore_index=True) if found else None


def check(settings, mart: str, order: str, want: pd.DataFrame, hour: str = HOUR_10) -> pd.DataFrame:
    """The warehouse's `hour` and the mart's lake copy both equal `want`, every column of the mart."""
    columns = [c for c in MARTS[mart].column_names if c not in layout.PARTITION_COLUMNS]
    got = mart_hour(settings, mart, order, Hour.parse(hour).hour)
    expected.assert_same(got, want, columns, ROUNDED)
    copy = read_mart(settings, mart, hour).to_pandas()
    expected.assert_same(copy.sort_values(order.split(", ")).reset_index(drop=True), want, columns, ROUNDED)
    assert set(got.event_hour) == {Hour.parse(hour).hour} and {str(d) for d in got.event_date} == {"2026-11-29"}
    return got


def test_traffic_congestion_matches_pandas(city):
    want = expected.traffic_congestion(transformed(city, "gps_matched"), transformed(city, "traffic_camera"))
    got = check(city, "traffic_congestion", "segment_id", want)
    assert got.congestion_level.nunique() >= 2 and got.camera_vehicles.notna().any()


def test_environment_matches_pandas(city):
    check(city, "environment", "zone_id", expected.environment(transformed(city, "weather")))


def test_weather_impact_matches_pandas(city):
    want = expected.weather_impact(transformed(city, "weather"), transformed(city, "gps_matched"),
                                   transformed(city, "emergency"))
    check(city, "weather_impact", "zone_id, condition", want)


def test_incident_response_follows_incidents_into_the_next_hour(city):
    want = expected.incident_response(transformed(city, "emergency", HOUR_10, HOUR_11), transformed(city, "weather"),
                                      pd.Timestamp(HOUR_10[:10] + " 10:00", tz="UTC"))
    assert len(want) >= 3 and (want.resolved_at.dt.hour == 11).any(), "some incident of hour 10 ends in hour 11"
    check(city, "incident_response", "reported_at, incident_id", want)


def test_public_transport_matches_pandas_with_headways_across_the_hour_boundary(city):
    for hour, hours in ((HOUR_10, (HOUR_10,)), (HOUR_11, (HOUR_10, HOUR_11))):
        want = expected.public_transport(transformed(city, "vehicle", *hours), transformed(city, "gps_matched", *hours),
                                         pd.Timestamp(hour[:10] + " " + hour[11:], tz="UTC"))
        got = check(city, "public_transport", "route_id", want, hour)
        assert got.route_id.tolist() == ["R1", "R2", "R3", "R4"] and min(got.stop_arrivals) > 0
    # the first bus at a stop after 11:00 has a headway from the last one before: more headways than
    # arrivals-minus-stops within the hour alone would give
    eleven = expected.public_transport(transformed(city, "vehicle", HOUR_11), transformed(city, "gps_matched", HOUR_11),
                                       pd.Timestamp("2026-11-29 11:00", tz="UTC"))
    assert (got.headways.values > eleven.headways.values).all()


def test_views_and_the_catalog_show_the_same_rows(city):
    incidents = query(city.warehouse_dsn, "SELECT * FROM bi.incident_response")
    assert len(incidents) >= 3
    day = query(city.warehouse_dsn, "SELECT * FROM bi.incident_zone_day ORDER BY event_date, zone_id")
    by_zone = incidents.groupby(["event_date", "zone_id"])
    want = pd.DataFrame({
        "incidents": by_zone.size(), "collisions": by_zone.incident_type.apply(lambda t: int((t == "collision").sum())),
        "severe_incidents": by_zone.severity.apply(lambda s: int((s >= 4).sum())),
        "reported_in_rain": by_zone.weather_condition.apply(lambda c: int(c.isin(["rain", "heavy_rain"]).sum())),
        "resolved": by_zone.resolved_at.count(),
        "mean_minutes_to_scene": by_zone.minutes_to_scene.apply(lambda m: m.astype(float).mean()).round(2),
        "p90_minutes_to_scene": by_zone.minutes_to_scene.apply(lambda m: m.astype(float).dropna().quantile(0.9)).round(2),
        "max_minutes_to_scene": by_zone.minutes_to_scene.max().astype(float),
        "mean_minutes_to_resolve": by_zone.minutes_to_resolve.apply(lambda m: m.astype(float).mean()).round(2),
    }).reset_index()
    expected.assert_same(day, want, [c.name for c in MARTS["incident_response"].views[0].columns if c.name != "zone_name"],
                         {"mean_minutes_to_scene": 2, "p90_minutes_to_scene": 2, "mean_minutes_to_resolve": 2})
    _, [(n,)] = run_query(city, "SELECT count(*) FROM marts_incident_response WHERE event_hour = 10")
    assert n == len(incidents[incidents.event_hour == 10])
    _, rows = run_query(city, "SELECT route_id, stop_arrivals FROM marts_public_transport WHERE event_hour = 10 "
                              "ORDER BY route_id")
    transport = mart_hour(city, "public_transport", "route_id")
    assert [list(r) for r in rows] == transport[["route_id", "stop_arrivals"]].values.tolist()
    comment = query(city.warehouse_dsn, "SELECT col_description('marts.traffic_congestion'::regclass, 6) AS c").c[0]
    assert "Speed limit" in comment and "km/h" in comment


def test_reloads_are_idempotent_and_late_data_changes_only_its_hour(tmp_path, warehouse, spark):
    settings = embedded_settings(tmp_path, warehouse_url=warehouse)
    lake = Lake.from_settings(settings)
    start = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
    readings = [weather_row(i, event_time=start + timedelta(minutes=i), air_quality_index=90 + i) for i in range(20)]
    commit_raw(lake, "weather", readings, batch=0)
    selection = dg.AssetSelection.assets(transformed_key("weather"), transformed_catalog_key("weather"),
                                         mart_key("environment"))
    assert materialize(settings, HOUR_10, selection=selection).success
    first = query(warehouse, "SELECT * FROM bi.environment")
    assert first.readings.tolist() == [20] and first.minutes_over_aqi_alert.tolist() == [9]  # AQI 101..109
    assert materialize(settings, HOUR_10, selection=selection).success
    pd.testing.assert_frame_equal(query(warehouse, "SELECT * FROM bi.environment"), first)

    query(warehouse, "INSERT INTO marts.environment (event_date, event_hour, zone_id, readings) "
                     "VALUES ('2026-11-29', 11, 'Z01', 7) RETURNING readings")  # another hour's row must survive
    late = [weather_row(100 + i, event_time=start + timedelta(minutes=30 + i), air_quality_index=150,
                        condition="rain", precipitation_mm_h=2.0) for i in range(25)]
    commit_raw(lake, "weather", late, batch=1)
    assert materialize(settings, HOUR_10, selection=selection).success
    after = query(warehouse, "SELECT * FROM bi.environment ORDER BY event_hour")
    assert after.event_hour.tolist() == [10, 11] and after.readings.tolist() == [45, 7]
    want = expected.environment(transformed(settings, "weather"))
    expected.assert_same(after[after.event_hour == 10], want, [c.name for c in ENVIRONMENT.columns[2:]], ROUNDED)
    assert want.dominant_condition.tolist() == ["rain"] and want.minutes_over_aqi_alert.tolist() == [34]


def test_warehouse_down_is_a_clear_error_without_credentials():
    dead = PostgresWarehouse(f"postgresql://loader:s3cret@127.0.0.1:{free_port()}/smartcity")
    with pytest.raises(WarehouseUnavailable, match="cannot connect to the warehouse") as err:
        dead.ensure_table(TRAFFIC_CONGESTION)
    assert "s3cret" not in str(err.value)


class Recorder:
    """A stand-in DB-API connection that records what would be sent to Redshift."""

    def __init__(self):
        self.statements, self.committed = [], False

    def __call__(self, dsn, **kwargs):
        self.kwargs = kwargs
        return self

    def cursor(self):
        return self

    def execute(self, statement, params=None):
        self.statements.append((statement, params))

    def fetchall(self):
        return []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        self.committed = exc_type is None

    def close(self):
        pass


def test_redshift_loads_copy_the_lake_file_then_replace_the_partition_in_one_transaction():
    recorder = Recorder()
    redshift = RedshiftWarehouse("postgresql://loader@cluster.example:5439/city",
                                 "arn:aws:iam::123456789012:role/smartcity-loader", connect=recorder)
    uri = "s3://city-lake/smartcity/marts/traffic_congestion/event_date=2026-11-29/event_hour=10/data.parquet"
    rows = pa.schema([c.arrow_field() for c in TRAFFIC_CONGESTION.columns]).empty_table()
    redshift.replace_partition(TRAFFIC_CONGESTION, PartitionData(Hour.parse(HOUR_10), rows, uri))
    sent = [s for s, _ in recorder.statements]
    assert sent[0].startswith("CREATE TEMP TABLE staging_traffic_congestion (event_date DATE, event_hour INTEGER, "
                              "segment_id VARCHAR(256)")
    assert sent[1] == (f"COPY staging_traffic_congestion FROM '{uri}' "
                       "IAM_ROLE 'arn:aws:iam::123456789012:role/smartcity-loader' FORMAT AS PARQUET")
    assert sent[2] == ("DELETE FROM marts.traffic_congestion WHERE event_date = %(event_date)s "
                       "AND event_hour = %(event_hour)s")
    assert sent[3].startswith("INSERT INTO marts.traffic_congestion (event_date, event_hour, segment_id")
    assert sent[4] == "DROP TABLE staging_traffic_congestion"
    assert recorder.statements[2][1] == {"event_date": "2026-11-29", "event_hour": 10}
    assert recorder.committed and recorder.kwargs["sslmode"] == "require"
    with pytest.raises(ValueError):
        redshift.copy_sql("staging_x", "s3://bucket/x'; DROP TABLE y; --")
    recorder.statements.clear()
    redshift.ensure_table(TRAFFIC_CONGESTION)
    sent = [s for s, _ in recorder.statements]
    assert sent[0].startswith("SELECT column_name FROM information_schema.columns")
    assert sent[2].startswith("CREATE TABLE IF NOT EXISTS marts.traffic_congestion")
    assert sent.index("DROP VIEW IF EXISTS bi.traffic_congestion") < next(
        i for i, s in enumerate(sent) if s.startswith("CREATE VIEW bi.traffic_congestion"))
    assert not any("INDEX" in s for s in sent)  # Redshift has no CREATE INDEX


def test_partition_replace_finds_the_partition_by_index(warehouse):
    """Replacing a partition must not scan the whole table (its cost would grow with every hour loaded): the
    DELETE of the replace uses the index ensure_table creates on the partition columns."""
    target = PostgresWarehouse(warehouse)
    target.ensure_table(TRAFFIC_CONGESTION)
    target.ensure_table(TRAFFIC_CONGESTION)  # idempotent
    for hour in range(3):
        h = Hour("2026-03-01", hour)
        rows = mart_rows(TRAFFIC_CONGESTION, [{"event_date": date(2026, 3, 1), "event_hour": hour,
                                             "segment_id": f"SEG-{i:04d}"} for i in range(5)])
        for _ in range(2):  # loading an hour twice leaves it as loaded once
            target.replace_partition(TRAFFIC_CONGESTION, PartitionData(h, rows, "file:///unused"))
    counts = query(warehouse, "SELECT event_hour, count(*) AS n FROM marts.traffic_congestion GROUP BY 1 ORDER BY 1")
    assert counts.values.tolist() == [[0, 5], [1, 5], [2, 5]]
    delete = sql.replace_partition_sql(TRAFFIC_CONGESTION, "staging")[0]
    plan = query(warehouse, "SET enable_seqscan = off; EXPLAIN " + delete, {"event_date": "2026-03-01", "event_hour": 1})
    assert "traffic_congestion_partition" in "\n".join(plan.iloc[:, 0])


def test_congestion_episodes_view_finds_runs_of_congested_hours(warehouse):
    """Consecutive heavy/severe hours of a segment form one episode, across midnight: the view on the real
    PostgreSQL against a pandas gaps-and-islands."""
    target = PostgresWarehouse(warehouse)
    target.ensure_table(TRAFFIC_CONGESTION)
    levels = {  # (date, hour) -> {segment: level}
        ("2026-03-01", 21): {"SEG-0001": "heavy", "SEG-0002": "free"},
        ("2026-03-01", 22): {"SEG-0001": "severe", "SEG-0002": "heavy"},
        ("2026-03-01", 23): {"SEG-0001": "heavy", "SEG-0002": "moderate"},
        ("2026-03-02", 0): {"SEG-0001": "heavy", "SEG-0002": "heavy"},
        ("2026-03-02", 1): {"SEG-0001": "free", "SEG-0002": "heavy"},
        ("2026-03-02", 3): {"SEG-0001": "heavy", "SEG-0002": "free"},
    }
    ratio = {"free": 0.9, "moderate": 0.7, "heavy": 0.5, "severe": 0.3}
    rows = []
    for (day, hour), by_segment in levels.items():
        part = [{"event_date": date.fromisoformat(day), "event_hour": hour, "segment_id": seg, "zone_id": "Z01",
                 "congestion_level": level, "speed_ratio": ratio[level] + hour / 1000} for seg, level in by_segment.items()]
        target.replace_partition(TRAFFIC_CONGESTION, PartitionData(Hour(day, hour), mart_rows(TRAFFIC_CONGESTION, part),
                                                                   "file:///unused"))
        rows += part
    frame = pd.DataFrame(rows)
    frame = frame[frame.congestion_level.isin(["heavy", "severe"])].copy()
    frame["t"] = pd.to_datetime(frame.event_date) + pd.to_timedelta(frame.event_hour, unit="h")
    frame = frame.sort_values(["segment_id", "t"])
    frame["episode"] = (frame.groupby("segment_id").t.diff() != pd.Timedelta(hours=1)).cumsum()
    want = frame.groupby("episode").agg(segment_id=("segment_id", "first"), start=("t", "min"), end=("t", "max"),
                                        hours=("t", "size"), worst=("congestion_level", "max"),
                                        low=("speed_ratio", "min"), mean=("speed_ratio", "mean")).reset_index(drop=True)
    got = query(warehouse, "SELECT * FROM bi.congestion_episodes ORDER BY segment_id, start_date, start_hour")
    assert [(r.segment_id, str(r.start_date), r.start_hour, str(r.end_date), r.end_hour, r.hours, r.worst_level,
             round(r.min_speed_ratio, 3)) for r in got.itertuples()] == [
        (r.segment_id, str(r.start.date()), r.start.hour, str(r.end.date()), r.end.hour, r.hours, r.worst,
         round(r.low, 3)) for r in want.itertuples()]
    assert ((got.mean_speed_ratio - want["mean"]).abs() <= 0.0005 + 1e-9).all()  # rounded to 3 places
    assert got.hours.tolist() == [4, 1, 1, 2]  # SEG-0001: 21:00-00:00, 03:00; SEG-0002: 22:00, 00:00-01:00


def test_a_new_mart_column_is_added_to_the_existing_warehouse_table(warehouse):
    """A mart gains a column: ensure_table adds it to the existing table, keeps the rows, and the BI view shows
    the new column in its place."""
    columns = (column("event_date", "date", "day"), column("event_hour", "int", "hour"),
               column("zone_id", "string", "zone"), column("incidents", "bigint", "incidents"))
    old = Mart("evolving_mart", "a mart that gains a column", columns, (), "zone_id")
    new = dataclasses.replace(old, columns=columns[:3] + (column("latitude", "double", "where"),) + columns[3:])
    target = PostgresWarehouse(warehouse)
    target.ensure_table(old)
    hour = Hour("2026-03-01", 4)
    target.replace_partition(old, PartitionData(hour, mart_rows(old, [{"event_date": date(2026, 3, 1), "event_hour": 4,
                                                                     "zone_id": "Z01", "incidents": 2}]), "file:///x"))
    target.ensure_table(new)
    target.ensure_table(new)  # twice: nothing left to add
    got = query(warehouse, "SELECT * FROM bi.evolving_mart")
    assert list(got.columns) == ["event_date", "event_hour", "zone_id", "latitude", "incidents"]
    assert got.values.tolist() == [[date(2026, 3, 1), 4, "Z01", None, 2]]
    target.replace_partition(new, PartitionData(hour, mart_rows(new, [{"event_date": date(2026, 3, 1), "event_hour": 4,
                                                                     "zone_id": "Z01", "latitude": 51.5,
                                                                     "incidents": 2}]), "file:///x"))
    assert query(warehouse, "SELECT latitude, incidents FROM bi.evolving_mart").values.tolist() == [[51.5, 2]]
