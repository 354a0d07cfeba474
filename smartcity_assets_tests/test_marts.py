"""Marts and the warehouse: the traffic congestion mart against an independent pandas computation, loaded
into the real (embedded) PostgreSQL idempotently; the Redshift SQL that would be sent."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import dagster as dg
import pandas as pd
import psycopg2
import pyarrow as pa
import pytest
from pydantic import SecretStr

from smartcity import reference
from smartcity.catalog.query import run_query
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


def warehouse_rows(settings, view: str = "traffic_congestion", key: str = "segment_id",
                   hourly: bool = True) -> pd.DataFrame:
    with psycopg2.connect(settings.warehouse_dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM bi.{view} ORDER BY event_date, {'event_hour, ' if hourly else ''}{key}")
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
    assert run(settings, dg.AssetSelection.groups("transformed", "catalog", "marts")).success
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

    def fetchall(self):
        return []

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
    assert sql[0].startswith("CREATE TEMP TABLE staging_traffic_congestion (event_date DATE, event_hour INTEGER, "
                             "segment_id VARCHAR(256)")
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
    sent = [s for s, _ in recorder.statements]
    assert sent[0].startswith("SELECT column_name FROM information_schema.columns")
    assert sent[2].startswith("CREATE TABLE IF NOT EXISTS marts.traffic_congestion")
    assert sent.index("DROP VIEW IF EXISTS bi.traffic_congestion") < next(
        i for i, s in enumerate(sent) if s.startswith("CREATE VIEW bi.traffic_congestion"))
    assert not any("INDEX" in s for s, _ in recorder.statements)  # Redshift has no CREATE INDEX


def test_partition_replace_finds_the_partition_by_index(live_stack):
    """Replacing a partition must not scan the whole table (its cost would grow with every hour loaded):
    the DELETE of the replace uses the index ensure_table creates on the partition columns."""
    table = dataclasses.replace(TRAFFIC_CONGESTION, name="congestion_index_probe", views=())
    warehouse = PostgresWarehouse(live_stack.warehouse_dsn)
    warehouse.ensure_table(table)
    warehouse.ensure_table(table)  # idempotent
    arrow = {"string": pa.string(), "int": pa.int32(), "bigint": pa.int64(), "double": pa.float64(),
             "date": pa.date32()}
    schema = pa.schema([(c.name, arrow[c.type]) for c in table.columns])
    for hour in range(3):
        rows = pa.Table.from_pylist([{"event_date": datetime(2026, 3, 1).date(), "event_hour": hour,
                                      "segment_id": f"SEG-{i:04d}"} for i in range(5)], schema=schema)
        for _ in range(2):  # loading an hour twice leaves it as loaded once
            warehouse.replace_partition(table, {"event_date": "2026-03-01", "event_hour": hour}, rows)
    delete = table.replace_partition_sql("staging")[0]
    try:
        with psycopg2.connect(live_stack.warehouse_dsn) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT event_hour, count(*) FROM {table.qualified} GROUP BY 1 ORDER BY 1")
            assert cur.fetchall() == [(0, 5), (1, 5), (2, 5)]
            cur.execute("SET LOCAL enable_seqscan = off")  # tiny table: make the planner use an index if one exists
            cur.execute(cur.mogrify("EXPLAIN " + delete, {"event_date": "2026-03-01", "event_hour": 1}))
            plan = "\n".join(r[0] for r in cur.fetchall())
            assert "congestion_index_probe_partition" in plan, plan
    finally:
        with psycopg2.connect(live_stack.warehouse_dsn) as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE {table.qualified} CASCADE")


HOUR_11 = "2026-11-29-11:00"


def _minutes(start: pd.Series, end: pd.Series) -> pd.Series:
    return ((end - start).dt.total_seconds() / 60).round(2)


def expected_incidents(lake: Lake) -> pd.DataFrame:
    """Incidents reported in hour 10, followed through hours 10 and 11, with the weather at the report."""
    e10, e11 = (read_transformed(lake, "emergency", h).to_pandas() for h in (HOUR, HOUR_11))
    reports = e10[e10.status == "reported"].sort_values(["event_time", "event_id"]).drop_duplicates("incident_id")
    updates = pd.concat([e10, e11])
    updates = updates[updates.incident_id.isin(reports.incident_id)]
    firsts = updates.groupby(["incident_id", "status"]).event_time.min().unstack()
    order = {s: i for i, s in enumerate(["reported", "dispatched", "on_scene", "resolved"])}
    furthest = updates.groupby("incident_id").status.agg(lambda s: max(s, key=order.get))
    out = reports.set_index("incident_id")[["incident_type", "severity", "zone_id", "latitude", "event_time"]].rename(
        columns={"event_time": "reported_at"})
    for status in ("dispatched", "on_scene", "resolved"):
        out[f"{status}_at"] = firsts[status] if status in firsts else pd.NaT
    out["status"] = furthest
    out["unit_id"] = updates.dropna(subset=["unit_id"]).groupby("incident_id").unit_id.max()
    out["minutes_to_scene"] = _minutes(out.reported_at, out.on_scene_at)
    out["minutes_to_resolve"] = _minutes(out.reported_at, out.resolved_at)
    weather = read_transformed(lake, "weather", HOUR).to_pandas().sort_values(["event_time", "event_id"])

    def condition_at(row):
        readings = weather[weather.zone_id == row.zone_id]
        before = readings[readings.event_time <= row.reported_at]
        return (before.iloc[-1] if len(before) else readings.iloc[0]).condition

    out["weather_condition"] = out.apply(condition_at, axis=1)
    return out.reset_index().sort_values(["reported_at", "incident_id"]).reset_index(drop=True)


def expected_transport(lake: Lake) -> pd.DataFrame:
    vehicles = read_transformed(lake, "vehicle", HOUR).to_pandas()
    buses = vehicles[(vehicles.vehicle_type == "bus") & vehicles.route_id.notna()]
    service = buses.groupby("route_id").agg(buses=("vehicle_id", "nunique"), reports=("event_id", "size"),
                                            mean_speed_kmh=("speed_kmh", "mean"))
    route_of = buses.groupby("vehicle_id").route_id.min()
    gps = read_transformed(lake, "gps_matched", HOUR).to_pandas()
    gps = gps[gps.segment_id.notna() & gps.vehicle_id.isin(route_of.index)].sort_values(
        ["vehicle_id", "event_time", "event_id"])
    gps["route_id"] = gps.vehicle_id.map(route_of)
    gps["previous"] = gps.groupby("vehicle_id").segment_id.shift()
    arrivals = gps.merge(reference.bus_routes().to_pandas(), on=["route_id", "segment_id"])
    arrivals = arrivals[arrivals.previous == arrivals.previous_segment_id].sort_values(
        ["route_id", "segment_id", "event_time", "vehicle_id"])
    arrivals["headway"] = arrivals.groupby(["route_id", "segment_id"]).event_time.diff().dt.total_seconds() / 60
    per_route = arrivals.groupby("route_id").headway
    service["stop_arrivals"] = arrivals.groupby("route_id").size()
    service["mean_headway_min"] = per_route.mean()
    service["headway_cv"] = per_route.std(ddof=0) / per_route.mean()
    service["service_gaps"] = per_route.apply(lambda h: int((h > 2 * h.mean()).sum()))
    return service.reset_index().sort_values("route_id").reset_index(drop=True)


def test_incident_response_and_public_transport_marts_match_pandas(broker_only, live_stack, spark):
    """40 minutes of a small city across two hours: incidents reported in hour 10 are followed into hour 11."""
    settings = broker_only.model_copy(update={"warehouse_url": SecretStr(live_stack.warehouse_dsn)})
    land(settings, spark, 60_000, datetime(2026, 11, 29, 10, 32, tzinfo=timezone.utc), vehicles=80, seed=5)
    lake = Lake.from_settings(settings)
    for hour in (HOUR, HOUR_11):
        assert dg.materialize([*RAW_SPECS, *TRANSFORMED, *CATALOG, *MARTS], partition_key=hour,
                              resources=resources_for(settings),
                              selection=dg.AssetSelection.groups("transformed", "catalog", "marts")).success
    # hour 11 changed after hour 10's marts ran: the incident mart's hour 10 is recomputed (as the sensor asks)
    assert run(settings, dg.AssetSelection.assets(["marts", "incident_response"])).success

    got = warehouse_rows(settings, "incident_response", "reported_at, incident_id")
    got = got[got.event_hour == 10].reset_index(drop=True)
    want = expected_incidents(lake)
    assert len(want) >= 3 and want.resolved_at.notna().any(), "the simulated 40 minutes should see incidents resolved"
    assert got.incident_id.tolist() == want.incident_id.tolist()
    assert got.status.tolist() == want.status.tolist()
    assert got.severity.tolist() == want.severity.tolist() and got.zone_id.tolist() == want.zone_id.tolist()
    assert got.latitude.tolist() == want.latitude.tolist()
    for column in ("dispatched_at", "on_scene_at", "resolved_at"):
        assert pd.to_datetime(got[column], utc=True).tolist() == pd.to_datetime(want[column], utc=True).tolist()
    for column in ("minutes_to_scene", "minutes_to_resolve"):
        assert got[column].astype(float).fillna(-1).tolist() == want[column].fillna(-1).tolist()
    assert got.unit_id.fillna("").tolist() == want.unit_id.fillna("").tolist()
    assert got.weather_condition.tolist() == want.weather_condition.tolist()
    resolved_next_hour = want[want.resolved_at.dt.hour == 11]
    assert len(resolved_next_hour), "some incident of hour 10 should be resolved in hour 11"

    # per zone and day: the view over the mart
    day = warehouse_rows(settings, "incident_zone_day", "zone_id", hourly=False)
    all_incidents = warehouse_rows(settings, "incident_response", "reported_at, incident_id")
    by_zone = all_incidents.groupby("zone_id")
    assert day.zone_id.tolist() == sorted(all_incidents.zone_id.unique())
    assert day.incidents.tolist() == by_zone.size().tolist()
    assert day.resolved.tolist() == by_zone.resolved_at.count().tolist()
    assert day.collisions.tolist() == by_zone.incident_type.apply(lambda t: int((t == "collision").sum())).tolist()
    mean_scene = by_zone.minutes_to_scene.apply(lambda m: m.astype(float).mean()).round(2)
    assert day.mean_minutes_to_scene.fillna(-1).tolist() == mean_scene.fillna(-1).tolist()

    # public transport, hour 10
    transport = warehouse_rows(settings, "public_transport", "route_id")
    transport = transport[transport.event_hour == 10].reset_index(drop=True)
    want_t = expected_transport(lake)
    assert transport.route_id.tolist() == want_t.route_id.tolist() == ["R1", "R2", "R3", "R4"]
    assert transport.buses.tolist() == want_t.buses.tolist() and transport.reports.tolist() == want_t.reports.tolist()
    assert transport.stop_arrivals.tolist() == want_t.stop_arrivals.astype(int).tolist()
    assert min(transport.stop_arrivals) > 0
    assert (transport.mean_headway_min.astype(float) - want_t.mean_headway_min).abs().max() <= 0.005 + 1e-9
    assert (transport.headway_cv.astype(float) - want_t.headway_cv).abs().max() <= 0.0005 + 1e-9
    assert transport.service_gaps.tolist() == want_t.service_gaps.tolist()

    # the marts' lake copies are in the catalog: the same rows through `smartcity query`
    _, [(n,)] = run_query(settings, "SELECT count(*) FROM marts_incident_response WHERE event_hour = 10")
    assert n == len(want)
    _, rows = run_query(settings, "SELECT route_id, stop_arrivals FROM marts_public_transport "
                                  "WHERE event_hour = 10 ORDER BY route_id")
    assert [list(r) for r in rows] == transport[["route_id", "stop_arrivals"]].values.tolist()


def test_congestion_episodes_view_finds_runs_of_congested_hours(live_stack):
    """The episodes view on the real PostgreSQL: consecutive heavy/severe hours of a segment form one
    episode, across midnight, compared with a pandas gaps-and-islands."""
    warehouse = PostgresWarehouse(live_stack.warehouse_dsn)
    warehouse.ensure_table(TRAFFIC_CONGESTION)
    levels = {  # (date, hour) -> {segment: level}
        ("2026-03-01", 21): {"SEG-0001": "heavy", "SEG-0002": "free"},
        ("2026-03-01", 22): {"SEG-0001": "severe", "SEG-0002": "heavy"},
        ("2026-03-01", 23): {"SEG-0001": "heavy", "SEG-0002": "moderate"},
        ("2026-03-02", 0): {"SEG-0001": "heavy", "SEG-0002": "heavy"},
        ("2026-03-02", 1): {"SEG-0001": "free", "SEG-0002": "heavy"},
        ("2026-03-02", 3): {"SEG-0001": "heavy", "SEG-0002": "free"},
    }
    ratio = {"free": 0.9, "moderate": 0.7, "heavy": 0.5, "severe": 0.3}
    names = [c.name for c in TRAFFIC_CONGESTION.columns]
    rows = []
    for (date, hour), by_segment in levels.items():
        part = [{**dict.fromkeys(names), "event_date": datetime.strptime(date, "%Y-%m-%d").date(), "event_hour": hour,
                 "segment_id": seg, "zone_id": "Z01", "congestion_level": level,
                 "speed_ratio": ratio[level] + hour / 1000} for seg, level in by_segment.items()]
        warehouse.replace_partition(TRAFFIC_CONGESTION, {"event_date": date, "event_hour": hour},
                                    pa.Table.from_pylist(part, schema=pa.schema(
                                        [(n, pa.date32() if n == "event_date" else pa.int32() if n == "event_hour"
                                          else pa.float64() if n == "speed_ratio" else pa.string()) for n in names])))
        rows += part
    frame = pd.DataFrame(rows)
    frame = frame[frame.congestion_level.isin(["heavy", "severe"])].copy()
    frame["t"] = pd.to_datetime(frame.event_date) + pd.to_timedelta(frame.event_hour, unit="h")
    frame = frame.sort_values(["segment_id", "t"])
    frame["episode"] = (frame.groupby("segment_id").t.diff() != pd.Timedelta(hours=1)).cumsum()
    want = frame.groupby("episode").agg(segment_id=("segment_id", "first"), start=("t", "min"), end=("t", "max"),
                                        hours=("t", "size"), worst=("congestion_level", "max"),
                                        low=("speed_ratio", "min")).reset_index(drop=True)
    with psycopg2.connect(live_stack.warehouse_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT segment_id, start_date, start_hour, end_date, end_hour, hours, worst_level, "
                    "min_speed_ratio FROM bi.congestion_episodes WHERE start_date >= '2026-03-01' "
                    "AND end_date <= '2026-03-02' ORDER BY segment_id, start_date, start_hour")
        got = cur.fetchall()
    assert [(s, str(sd), sh, str(ed), eh, n, w, round(r, 3)) for s, sd, sh, ed, eh, n, w, r in got] == [
        (r.segment_id, str(r.start.date()), r.start.hour, str(r.end.date()), r.end.hour, r.hours, r.worst,
         round(r.low, 3)) for r in want.itertuples()]
    assert [g[5] for g in got] == [4, 1, 1, 2]  # SEG-0001: 21:00-00:00, 03:00; SEG-0002: 22:00, 00:00-01:00


def test_a_new_mart_column_is_added_to_the_existing_warehouse_table(live_stack):
    """A mart definition gains a column (as incident_response gained latitude/longitude): ensure_table adds
    it to the existing table, keeps the rows, and the BI view shows the new column in its place."""
    from smartcity.warehouse.tables import MartColumn, MartTable

    columns = (MartColumn("event_date", "date", "day"), MartColumn("event_hour", "int", "hour"),
               MartColumn("zone_id", "string", "zone"), MartColumn("incidents", "bigint", "incidents"))
    old = MartTable("evolving_mart", "a mart that gains a column", columns)
    new = MartTable("evolving_mart", "a mart that gains a column",
                    columns[:3] + (MartColumn("latitude", "double", "where"),) + columns[3:])
    warehouse = PostgresWarehouse(live_stack.warehouse_dsn)
    warehouse.ensure_table(old)
    rows = pa.table({"event_date": [datetime(2026, 3, 1).date()], "event_hour": [4], "zone_id": ["Z01"],
                     "incidents": [2]})
    warehouse.replace_partition(old, {"event_date": "2026-03-01", "event_hour": 4}, rows)
    warehouse.ensure_table(new)
    warehouse.ensure_table(new)  # twice: nothing left to add
    with psycopg2.connect(live_stack.warehouse_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM bi.evolving_mart")
        assert [d[0] for d in cur.description] == ["event_date", "event_hour", "zone_id", "latitude", "incidents"]
        assert cur.fetchall() == [(datetime(2026, 3, 1).date(), 4, "Z01", None, 2)]
    new_rows = rows.add_column(3, "latitude", pa.array([51.5]))
    warehouse.replace_partition(new, {"event_date": "2026-03-01", "event_hour": 4}, new_rows)
    with psycopg2.connect(live_stack.warehouse_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT latitude, incidents FROM bi.evolving_mart")
        assert cur.fetchall() == [(51.5, 2)]
