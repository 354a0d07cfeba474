"""Marts and the warehouse: the traffic congestion mart against an independent pandas computation, loaded
into the real (embedded) PostgreSQL idempotently; the Redshift SQL that would be sent."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pandas as pd
import psycopg2
import pytest
from pydantic import SecretStr

from smartcity import reference
from smartcity.lake import Lake
from smartcity.stack import free_port
from smartcity.warehouse.postgres import PostgresWarehouse, WarehouseUnavailable
from smartcity.warehouse.redshift import RedshiftWarehouse
from smartcity_assets.catalog import CATALOG
from smartcity_assets.marts import MARTS, TRAFFIC_CONGESTION
from smartcity_assets.raw import RAW_SPECS
from smartcity_assets.resources import resources_for
from smartcity_assets.transformed import TRANSFORMED, read_transformed

from .test_assets import land

HOUR = "2026-11-29-10:00"


def run(settings, selection):
    return dg.materialize([*RAW_SPECS, *TRANSFORMED, *CATALOG, *MARTS], partition_key=HOUR,
                          resources=resources_for(settings), selection=selection)


def warehouse_rows(settings, view: str = "traffic_congestion", key: str = "segment_id") -> pd.DataFrame:
    with psycopg2.connect(settings.warehouse_dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM bi.{view} ORDER BY event_date, event_hour, {key}")
        return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])


def expected(lake: Lake) -> pd.DataFrame:
    gps = read_transformed(lake, "gps_matched", HOUR).to_pandas()
    gps = gps[gps.segment_id.notna()]
    cams = read_transformed(lake, "traffic_camera", HOUR).to_pandas()
    seg = reference.segments().to_pandas().set_index("segment_id")
    out = gps.groupby("segment_id").agg(gps_fixes=("event_id", "size"), vehicles=("vehicle_id", "nunique"),
                                        mean_speed_kmh=("speed_kmh", "mean"),
                                        p85_speed_kmh=("speed_kmh", lambda s: s.quantile(0.85)))
    out["speed_limit_kmh"] = seg.loc[out.index, "speed_limit_kmh"].values
    out["zone_id"] = seg.loc[out.index, "zone_id"].values
    out["speed_ratio"] = out.mean_speed_kmh.round(2) / out.speed_limit_kmh
    out["camera_vehicles"] = cams.groupby("segment_id").vehicle_count.sum().reindex(out.index)
    return out.reset_index().sort_values("segment_id").reset_index(drop=True)


def test_traffic_congestion_mart_matches_pandas_and_loads_idempotently(broker_only, live_stack, spark):
    settings = broker_only.model_copy(update={"warehouse_url": SecretStr(live_stack.warehouse_dsn)})
    land(settings, spark, 15_000, datetime(2026, 11, 29, 10, 5, tzinfo=timezone.utc), vehicles=800)
    assert run(settings, dg.AssetSelection.groups("transformed")).success
    assert run(settings, dg.AssetSelection.groups("marts")).success

    got = warehouse_rows(settings)
    want = expected(Lake.from_settings(settings))
    assert got.segment_id.tolist() == want.segment_id.tolist()
    assert got.gps_fixes.tolist() == want.gps_fixes.tolist() and got.vehicles.tolist() == want.vehicles.tolist()
    assert (got.mean_speed_kmh - want.mean_speed_kmh).abs().max() <= 0.005 + 1e-9
    assert (got.p85_speed_kmh - want.p85_speed_kmh).abs().max() <= 0.005 + 1e-9
    # ratio = round(mean rounded to 0.01 / limit, 3): rounding both ways stays within 0.001
    assert (got.speed_ratio - want.speed_ratio).abs().max() <= 0.001
    assert got.zone_id.tolist() == want.zone_id.tolist()
    assert got.camera_vehicles.fillna(-1).tolist() == want.camera_vehicles.fillna(-1).astype(int).tolist()
    levels = pd.cut(got.speed_ratio, [-1, 0.4, 0.6, 0.8, 99], right=False,
                    labels=["severe", "heavy", "moderate", "free"]).astype(str)
    assert got.congestion_level.tolist() == levels.tolist()
    assert set(got.event_hour) == {10} and str(got.event_date.iloc[0]) == "2026-11-29"

    # the environment mart, from the same hour's weather
    weather = read_transformed(Lake.from_settings(settings), "weather", HOUR).to_pandas()
    env = warehouse_rows(settings, "environment", "zone_id")
    by_zone = weather.groupby("zone_id")
    assert env.zone_id.tolist() == sorted(weather.zone_id.unique())
    assert env.readings.tolist() == by_zone.size().tolist()
    assert env.max_aqi.tolist() == by_zone.air_quality_index.max().tolist()
    assert env.minutes_over_aqi_alert.tolist() == by_zone.air_quality_index.apply(lambda a: int((a > 100).sum())).tolist()
    assert (env.mean_temperature_c.astype(float) - by_zone.temperature_c.mean().values).abs().max() <= 0.005 + 1e-9
    assert (env.mean_aqi.astype(float) - by_zone.air_quality_index.mean().values).abs().max() <= 0.005 + 1e-9
    dominant = by_zone.condition.agg(lambda c: sorted(c.value_counts().items(), key=lambda kv: (-kv[1], kv[0]))[0][0])
    assert env.dominant_condition.tolist() == dominant.tolist()

    # weather impact: per zone and condition, minute by minute
    lake = Lake.from_settings(settings)
    w = weather.assign(minute=weather.event_time.dt.floor("min")).groupby(["zone_id", "minute"]).condition.min()
    g = read_transformed(lake, "gps_matched", HOUR).to_pandas()
    g = g[g.segment_id.notna()].assign(minute=lambda d: d.event_time.dt.floor("min"))
    g = g.assign(ratio=g.speed_kmh / g.speed_limit_kmh).groupby(["zone_id", "minute"]).agg(
        fixes=("event_id", "size"), speed=("speed_kmh", "sum"), ratio=("ratio", "sum"))
    e = read_transformed(lake, "emergency", HOUR).to_pandas()
    e = e[e.status == "reported"].assign(minute=lambda d: d.event_time.dt.floor("min"))
    e = e.groupby(["zone_id", "minute"]).size().rename("incidents")
    per_minute = w.to_frame().join(g).join(e).reset_index()
    want_impact = per_minute.groupby(["zone_id", "condition"]).agg(
        minutes=("minute", "size"), gps_fixes=("fixes", "sum"), speed=("speed", "sum"), ratio=("ratio", "sum"),
        incidents=("incidents", "sum")).reset_index()
    impact = warehouse_rows(settings, "weather_impact", "zone_id, condition")
    assert impact[["zone_id", "condition"]].values.tolist() == want_impact[["zone_id", "condition"]].values.tolist()
    assert impact.minutes.tolist() == want_impact.minutes.tolist()
    assert impact.gps_fixes.tolist() == want_impact.gps_fixes.astype(int).tolist()
    assert impact.incidents_reported.tolist() == want_impact.incidents.astype(int).tolist()
    speed = (want_impact.speed / want_impact.gps_fixes).round(2)
    assert (impact.mean_speed_kmh.astype(float) - speed).abs().max() <= 0.011

    # twice: the warehouse is unchanged
    assert run(settings, dg.AssetSelection.groups("marts")).success
    pd.testing.assert_frame_equal(warehouse_rows(settings), got)
    pd.testing.assert_frame_equal(warehouse_rows(settings, "environment", "zone_id"), env)

    # late events for this hour: recomputed, only this partition's rows change, and they match again
    with psycopg2.connect(settings.warehouse_dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO marts.traffic_congestion (event_date, event_hour, segment_id, gps_fixes) "
                    "VALUES ('2026-11-29', 11, 'SEG-0001', 7)")  # another hour's row must survive
    land(settings, spark, 3_000, datetime(2026, 11, 29, 10, 40, tzinfo=timezone.utc), seed=8, vehicles=800)
    assert run(settings, dg.AssetSelection.groups("transformed", "marts")).success
    after = warehouse_rows(settings)
    other = after[after.event_hour == 11]
    assert other.segment_id.tolist() == ["SEG-0001"] and other.gps_fixes.tolist() == [7]
    mine = after[after.event_hour == 10].reset_index(drop=True)
    assert mine.gps_fixes.sum() > got.gps_fixes.sum()
    assert mine.gps_fixes.tolist() == expected(Lake.from_settings(settings)).gps_fixes.tolist()

    with psycopg2.connect(settings.warehouse_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT col_description('marts.traffic_congestion'::regclass, 11)")
        assert "speed_limit" in cur.fetchone()[0]


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

    def execute(self, sql, params=None):
        self.statements.append((sql, params))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        self.committed = exc_type is None

    def close(self):
        pass


def test_redshift_sql_copy_from_s3_then_transactional_partition_replace():
    recorder = Recorder()
    redshift = RedshiftWarehouse("postgresql://loader@cluster.example:5439/city",
                                 "arn:aws:iam::123456789012:role/smartcity-loader", connect=recorder)
    uri = "s3://city-lake/smartcity/marts/traffic_congestion/event_date=2026-11-29/event_hour=10/data.parquet"
    redshift.replace_partition_from_s3(TRAFFIC_CONGESTION, {"event_date": "2026-11-29", "event_hour": 10}, uri)
    sql = [s for s, _ in recorder.statements]
    assert sql[0] == "CREATE TEMP TABLE staging_traffic_congestion (LIKE marts.traffic_congestion)"
    assert sql[1] == (f"COPY staging_traffic_congestion FROM '{uri}' "
                      "IAM_ROLE 'arn:aws:iam::123456789012:role/smartcity-loader' FORMAT AS PARQUET")
    assert sql[2] == ("DELETE FROM marts.traffic_congestion WHERE event_date = %(event_date)s "
                      "AND event_hour = %(event_hour)s")
    assert sql[3].startswith("INSERT INTO marts.traffic_congestion (event_date, event_hour, segment_id")
    assert recorder.statements[2][1] == {"event_date": "2026-11-29", "event_hour": 10}
    assert recorder.committed and recorder.kwargs["sslmode"] == "require"
    with pytest.raises(ValueError):
        redshift.copy_sql("staging_x", "s3://bucket/x'; DROP TABLE y; --")
    created = RedshiftWarehouse("postgresql://x@h/db", "arn:aws:iam::123456789012:role/r", connect=recorder)
    recorder.statements.clear()
    created.ensure_table(TRAFFIC_CONGESTION)
    assert recorder.statements[1][0].startswith("CREATE TABLE IF NOT EXISTS marts.traffic_congestion")
    assert any(s.startswith("CREATE OR REPLACE VIEW bi.traffic_congestion") for s, _ in recorder.statements)
