"""The live layer, end to end on real components: events written by hand to Kafka (duplicates, incident updates
out of order, late events, malformed messages) are streamed by Spark in several micro-batches, and the live
tables in PostgreSQL equal a pandas computation over the events written here, from the documented rules. A
batch replayed after a crash between the warehouse write and the checkpoint commit counts nothing twice; a
warehouse cut during a batch loses nothing, and the live tables catch up once it is back."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg2
import pyarrow as pa
import pytest
from pydantic import SecretStr

from smartcity import reference
from smartcity.errors import SmartcityError
from smartcity.lake import Lake, manifests
from smartcity.live.events import COLUMNS
from smartcity.warehouse.live import LiveLayer
from smartcity.warehouse.postgres import PostgresWarehouse
from smartcity_commands.stack import free_port

from .expected_marts import ORDER, _level, assert_same
from .helpers import TcpProxy, drain, kill_group, query, read_lake, send_events, stream_process, wait_until

SEGMENTS = {s["segment_id"]: s for s in reference.segments().to_pylist()}
ZONES = {z["zone_id"]: z for z in reference.zones().to_pylist()}
ROUTE = [r for r in reference.bus_routes().to_pylist() if r["route_id"] == "R1"]
CLOCK = datetime(2026, 11, 29, 10, 30, tzinfo=timezone.utc)  # the newest event written here
PLACED: dict[str, str | None] = {}  # GPS event id -> the segment the fix was put on (None: off-road)
TABLES = ("segment_traffic", "incidents", "zone_conditions", "bus_routes")


def t(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc) + timedelta(minutes=minute, seconds=second)


def _id(*parts) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


def _midpoint(segment_id: str) -> tuple[float, float, float]:
    s = SEGMENTS[segment_id]
    return (s["start_lat"] + s["end_lat"]) / 2, (s["start_lon"] + s["end_lon"]) / 2, s["heading_deg"]


def gps(vehicle: str, at: datetime, segment: str | None, speed: float) -> dict:
    lat, lon, heading = _midpoint(segment) if segment else (52.30, 4.80, 90.0)  # None: far from every road
    PLACED[_id("gps", vehicle, at)] = segment
    return {"event_id": _id("gps", vehicle, at), "vehicle_id": vehicle, "event_time": at, "latitude": lat,
            "longitude": lon, "speed_kmh": speed, "heading_deg": heading, "accuracy_m": 3.0, "satellites": 9}


def camera(camera_id: str, at: datetime, segment: str, count: int) -> dict:
    lat, lon, _ = _midpoint(segment)
    return {"event_id": _id("cam", camera_id, at), "camera_id": camera_id, "event_time": at, "segment_id": segment,
            "latitude": lat, "longitude": lon, "window_seconds": 60, "vehicle_count": count, "car_count": count,
            "bus_count": 0, "truck_count": 0, "emergency_count": 0, "mean_speed_kmh": 30.0}


def vehicle(vehicle_id: str, at: datetime, route: str | None, speed: float) -> dict:
    lat, lon, heading = _midpoint(ROUTE[3]["segment_id"])
    return {"event_id": _id("veh", vehicle_id, at), "vehicle_id": vehicle_id, "event_time": at,
            "vehicle_type": "bus" if route else "car", "fuel_type": "diesel", "latitude": lat, "longitude": lon,
            "speed_kmh": speed, "heading_deg": heading, "energy_level_pct": 70.0, "odometer_km": 1000.0,
            "engine_temp_c": 85.0, "route_id": route, "passenger_count": 12 if route else None}


def weather(zone: str, at: datetime, aqi: int) -> dict:
    return {"event_id": _id("weather", zone, at), "station_id": f"WS-{zone}", "event_time": at, "zone_id": zone,
            "latitude": ZONES[zone]["zone_latitude"], "longitude": ZONES[zone]["zone_longitude"],
            "temperature_c": 4.0 + at.minute / 10, "humidity_pct": 80.0, "precipitation_mm_h": 0.5,
            "wind_speed_ms": 3.0, "wind_direction_deg": 200.0, "pressure_hpa": 1012.0, "air_quality_index": aqi,
            "pm25_ugm3": aqi / 4, "condition": "rain"}


def incident(incident_id: str, status: str, at: datetime, unit: str | None = None, severity: int = 3) -> dict:
    segment = "SEG-0207"
    lat, lon, _ = _midpoint(segment)
    return {"event_id": _id(incident_id, status, at), "incident_id": incident_id, "event_time": at,
            "incident_type": "collision", "severity": severity, "status": status, "latitude": lat, "longitude": lon,
            "zone_id": SEGMENTS[segment]["zone_id"], "segment_id": segment,
            "unit_id": unit if status != "reported" else None, "vehicles_involved": 2}


def events() -> dict[str, list[dict]]:
    """In the order they are sent, per source (late ones last; duplicates sent twice)."""
    fixes = []
    for n, (segment, speed) in enumerate((("SEG-0207", 42.0), ("SEG-0207", 18.0), ("SEG-0209", 12.0),
                                          ("SEG-0001", 55.0), (None, 30.0))):
        for minute in (14, 17, 21, 25, 27, 29):
            fixes.append(gps(f"VEH-{n:05d}", t(minute, 10 * n), segment, speed + minute % 4))
    fixes.append(gps("VEH-00009", CLOCK, "SEG-0209", 20.0))  # the newest event: the live clock
    fixes.append(fixes[8])  # a duplicate (a producer retry)
    fixes.append(gps("VEH-00000", t(-10), "SEG-0207", 5.0))  # 40 minutes late: lake only
    cams = [camera("CAM-0001", t(m), "SEG-0207", 7 + m) for m in (15, 20, 26, 28)]
    cams.append(cams[-1])
    buses = [vehicle(b, t(m, s), "R1", 14.0 + m % 5) for b, s in (("BUS-1", 0), ("BUS-2", 30))
             for m in range(12, 30, 3)]
    buses.append(vehicle("VEH-00042", t(28), None, 60.0))  # a car: not a bus route
    readings = [weather("Z01", t(25), 120), weather("Z01", t(29), 90), weather("Z02", t(28), 150),
                weather("Z02", t(10), 40)]  # a late, older reading of Z02: does not replace the newer one
    updates = [
        incident("INC-1", "dispatched", t(22), "EMG-1"),  # before its report, in Kafka order
        incident("INC-1", "reported", t(20)),
        incident("INC-1", "on_scene", t(27), "EMG-1"),
        incident("INC-2", "reported", t(-60)), incident("INC-2", "resolved", t(-40), "EMG-2"),  # resolved > 1 h ago
        incident("INC-3", "reported", t(0), severity=5), incident("INC-3", "resolved", t(10), "EMG-3", severity=5),
        incident("INC-3", "dispatched", t(3), "EMG-3", severity=5),  # after its resolution: no step back
        incident("INC-4", "reported", t(29), severity=1), incident("INC-4", "reported", t(29), severity=1),
    ]
    return {"gps": fixes, "traffic_camera": cams, "vehicle": buses, "weather": readings, "emergency": updates}


JUNK = {"smartcity.gps": [b"{not json", b'{"event_id": "x"}'], "smartcity.emergency": [b"\xff\xfe"]}


# -- the expectation, from the events alone, by the rules the live tables document -------------------------------

def frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows).drop_duplicates("event_id")
    df["event_time"] = pd.to_datetime(df.event_time, utc=True)
    return df


def in_window(df: pd.DataFrame, minutes: int) -> pd.DataFrame:
    start = pd.Timestamp(CLOCK).floor("min") - pd.Timedelta(minutes=minutes - 1)
    return df[df.event_time.dt.floor("min") >= start]


def expected_segments(sent: dict[str, list[dict]]) -> pd.DataFrame:
    fixes = frame(sent["gps"]).assign(segment_id=lambda d: d.event_id.map(PLACED)).dropna(subset=["segment_id"])
    cams = frame(sent["traffic_camera"])
    seen = set(in_window(fixes, 15).segment_id) | set(in_window(cams, 15).segment_id)
    out = pd.DataFrame({"segment_id": sorted(seen)})
    out["speed_limit_kmh"] = out.segment_id.map(lambda s: SEGMENTS[s]["speed_limit_kmh"])
    out["zone_id"] = out.segment_id.map(lambda s: SEGMENTS[s]["zone_id"])
    for m in (5, 15):
        g = in_window(fixes, m).groupby("segment_id").speed_kmh
        out[f"gps_fixes_{m}m"] = out.segment_id.map(g.size()).fillna(0).astype(int)
        out[f"mean_speed_{m}m_kmh"] = out.segment_id.map(g.mean()).round(2)
        out[f"speed_ratio_{m}m"] = (out[f"mean_speed_{m}m_kmh"] / out.speed_limit_kmh).round(3)
        out[f"congestion_{m}m"] = out[f"speed_ratio_{m}m"].map(lambda r: None if pd.isna(r) else _level(r))
        out[f"camera_vehicles_{m}m"] = out.segment_id.map(in_window(cams, m).groupby("segment_id").vehicle_count.sum())
    return out


def expected_incidents(sent: dict[str, list[dict]]) -> pd.DataFrame:
    updates = frame(sent["emergency"])
    updates = updates[updates.event_time >= pd.Timestamp(CLOCK) - pd.Timedelta(hours=1)]
    rows = []
    for incident_id, u in updates.groupby("incident_id"):
        rank = u.status.map(ORDER.index)
        row = {"incident_id": incident_id, "status": ORDER[rank.max()], "unit_id": u.unit_id.dropna().iloc[-1]
               if u.unit_id.notna().any() else None, "severity": u.severity.iloc[0]}
        for status in ORDER:
            row[f"{status}_at"] = u[u.status == status].event_time.min()
        rows.append(row)
    out = pd.DataFrame(rows)
    out = out[~((out.status == "resolved") & (out.resolved_at < pd.Timestamp(CLOCK) - pd.Timedelta(hours=1)))]
    out["minutes_since_reported"] = (pd.Timestamp(CLOCK) - out.reported_at).dt.total_seconds() / 60
    return out.sort_values("incident_id").reset_index(drop=True)


def expected_zones(sent: dict[str, list[dict]]) -> pd.DataFrame:
    readings = in_window(frame(sent["weather"]), 15).sort_values("event_time")
    latest = readings.groupby("zone_id").tail(1).rename(columns={"event_time": "reading_at"})
    return latest.assign(aqi_alert=latest.air_quality_index > 100).sort_values("zone_id").reset_index(drop=True)


def expected_buses(sent: dict[str, list[dict]]) -> pd.DataFrame:
    buses = in_window(frame(sent["vehicle"]), 15).dropna(subset=["route_id"])
    out = buses.groupby("route_id").agg(buses=("vehicle_id", "nunique"), reports=("event_id", "size"),
                                        mean_speed_kmh=("speed_kmh", "mean")).reset_index()
    length_km = sum(SEGMENTS[r["segment_id"]]["length_m"] for r in ROUTE) / 1000
    out["headway_min"] = length_km / out.mean_speed_kmh * 60 / out.buses
    return out


def live(dsn: str, table: str, order: str) -> pd.DataFrame:
    return query(dsn, f"SELECT * FROM live.{table} ORDER BY {order}")


def assert_live_tables_match(dsn: str, sent: dict[str, list[dict]]) -> None:
    segments = expected_segments(sent)
    assert_same(live(dsn, "segment_traffic", "segment_id"), segments, list(segments.columns),
                {"mean_speed_5m_kmh": 2, "mean_speed_15m_kmh": 2})
    got = live(dsn, "incidents", "incident_id")
    assert_same(got, expected_incidents(sent), ["incident_id", "status", "unit_id", "severity", "reported_at",
                                                "dispatched_at", "on_scene_at", "resolved_at",
                                                "minutes_since_reported"], {"minutes_since_reported": 6})
    assert_same(live(dsn, "zone_conditions", "zone_id"), expected_zones(sent),
                ["zone_id", "reading_at", "air_quality_index", "temperature_c", "aqi_alert"])
    assert_same(live(dsn, "bus_routes", "route_id"), expected_buses(sent),
                ["route_id", "buses", "reports", "mean_speed_kmh", "headway_min"], {"mean_speed_kmh": 6,
                                                                                   "headway_min": 6})


def test_the_stream_keeps_the_live_tables_exactly_once(pipeline, spark, warehouse):
    settings = pipeline.model_copy(update={"max_offsets_per_trigger": 15})  # several micro-batches
    sent = events()
    send_events(settings, sent, JUNK)
    drain(settings, spark)
    committed, _ = manifests.list_after(Lake.from_settings(settings), {})
    assert len(committed) >= 3
    assert_live_tables_match(warehouse, sent)
    landed = read_lake(settings)[0].num_rows

    # Dagster sees the stream's progress: a materialization of each live table with its last batch, then nothing
    ticked = tick_live_sensor(warehouse)
    assert sorted(e.asset_key.path[-1] for e in ticked.asset_events) == sorted(TABLES)
    for e in ticked.asset_events:
        assert e.metadata["batch_id"].value == max(m.batch_id for m in committed)
        assert e.metadata["dagster/row_count"].value == len(live(warehouse, e.asset_key.path[-1], "1"))
    assert isinstance(tick_live_sensor(warehouse, ticked.cursor), dg.SkipReason)
    assert landed == sum(len(rows) for rows in sent.values())  # late ones and duplicates too (raw zone)


def through_proxy(pipeline, warehouse: str, postgres_port: int, **update):
    """A TcpProxy in front of the warehouse, and the settings that reach the warehouse through it."""
    proxy = TcpProxy(postgres_port)
    url = warehouse.replace(f":{postgres_port}/", f":{proxy.port}/")
    return proxy, pipeline.model_copy(update={"warehouse_url": SecretStr(url), **update})


def applied_batch(dsn: str) -> int | None:
    """The stream's last batch the live tables hold, as committed on the server."""
    rows = query(dsn, "SELECT to_regclass('live.stream_progress') IS NOT NULL AS ready")
    if not rows.ready[0]:
        return None
    batches = query(dsn, "SELECT batch_id FROM live.stream_progress").batch_id
    return int(batches.max()) if len(batches) else None


def test_a_stream_killed_9_after_the_warehouse_commit_and_before_the_checkpoint_commit_counts_nothing_twice(
        pipeline, spark, live_stack, warehouse, tmp_path):
    """`smartcity stream` in a process of its own reaches the warehouse through a proxy that holds back the answer
    to the COMMIT of a batch's live-table transaction: that batch is committed in the lake and in the warehouse but
    not in Spark's checkpoint when the stream and everything it started get kill -9. The restart replays the
    batch: the lake keeps one copy and the live tables count nothing twice."""
    proxy, settings = through_proxy(pipeline, warehouse, live_stack.postgres_port)
    lake, log = Lake.from_settings(settings), tmp_path / "stream.log"
    sent = events()
    send_events(settings, {s: rows[: len(rows) // 2] for s, rows in sent.items()})
    proc = stream_process(settings, log)
    try:
        running = {"alive": lambda: proc.poll() is None, "details": lambda: log.read_text()[-3000:]}
        wait_until("the first batch in the live tables", lambda: applied_batch(warehouse) is not None, **running)
        first = applied_batch(warehouse)
        checkpoint = Path(settings.checkpoint)
        wait_until("the first batch in the checkpoint", (checkpoint / "commits" / str(first)).exists, **running)
        held = proxy.hold_next_commit()  # (the answer to the first batch's COMMIT has been passed on)
        send_events(settings, {s: rows[len(rows) // 2:] for s, rows in sent.items()}, JUNK)
        wait_until("the live tables' COMMIT of the next batch", held.is_set, **running)
        batch = applied_batch(warehouse)
        assert batch > first  # committed in the warehouse ...
        assert batch in {m.batch_id for m in manifests.list_after(lake, {})[0]}  # ... and in the lake
        assert (checkpoint / "offsets" / str(batch)).exists() and not (checkpoint / "commits" / str(batch)).exists()
    finally:
        kill_group(proc)

    drain(pipeline, spark)  # the restart, straight to the warehouse
    assert (checkpoint / "commits" / str(batch)).exists()
    assert read_lake(settings)[0].num_rows == sum(len(rows) for rows in sent.values())
    assert_live_tables_match(warehouse, sent)


def test_a_warehouse_cut_during_a_batch_loses_nothing(pipeline, spark, live_stack, warehouse):
    proxy, settings = through_proxy(pipeline, warehouse, live_stack.postgres_port, warehouse_wait_s=3.0)
    sent = events()
    first = {s: rows[: len(rows) // 2] for s, rows in sent.items()}
    rest = {s: rows[len(rows) // 2:] for s, rows in sent.items()}
    send_events(settings, first)
    drain(settings, spark)

    send_events(settings, rest, JUNK)
    proxy.cut(after=1)  # the stream's start-up still reaches the warehouse; its first batch does not
    with pytest.raises(SmartcityError, match=r"could not reach the warehouse.*is in the lake but not yet in the "
                                             r"live tables"):
        drain(settings, spark)
    raw = read_lake(settings)[0]
    assert raw.num_rows == sum(len(rows) for rows in sent.values())  # all in the lake
    counted = int(query(warehouse, "SELECT SUM(gps_fixes) AS n FROM live.segment_minutes").n[0])
    assert counted < expected_segments(sent).gps_fixes_15m.sum()  # the second half is not in the live tables yet

    proxy.restore()
    drain(settings, spark)
    assert_live_tables_match(warehouse, sent)


def tick_live_sensor(dsn: str, cursor: str | None = None):
    from smartcity_assets.defs.live import live_tables_sensor
    from smartcity_assets.resources import WarehouseResource

    context = dg.build_sensor_context(cursor=cursor, resources={"warehouse": WarehouseResource(kind="postgres",
                                                                                               url=dsn)})
    return live_tables_sensor(context)


def test_the_live_sensor_waits_for_live_tables_and_a_reachable_warehouse(warehouse):
    assert "no live tables yet" in tick_live_sensor(warehouse).skip_message
    closed = warehouse.rsplit(":", 1)[0] + f":{free_port()}/nothing"
    assert "cannot be reached" in tick_live_sensor(closed).skip_message


# -- the live layer's transaction, without a stream ---------------------------------------------------------------

def emergency_batch(*updates: dict) -> dict[str, pa.Table]:
    return {"emergency": pa.Table.from_pylist(list(updates)).select(list(COLUMNS["emergency"]))}


def test_an_open_incident_without_an_update_for_hours_leaves_the_live_table(warehouse):
    layer = LiveLayer(PostgresWarehouse(warehouse))
    layer.ensure()
    start = CLOCK - timedelta(hours=8)
    batches = [
        # INC-A is reported and dispatched; its "resolved" update never arrives (say, quarantined)
        [incident("INC-A", "reported", start), incident("INC-A", "dispatched", start + timedelta(minutes=5), "AMB-1")],
        [incident("INC-B", "reported", start + timedelta(hours=5))],
        [incident("INC-B", "dispatched", start + timedelta(hours=7), "AMB-2")],
    ]
    sent: list[dict] = []
    for batch_id, updates in enumerate(batches):
        layer.apply("stream-a", batch_id, emergency_batch(*updates))
        sent += updates
        clock = max(u["event_time"] for u in sent)
        last = pd.DataFrame(sent).groupby("incident_id").event_time.max()
        expected = sorted(i for i, at in last.items() if at >= clock - timedelta(hours=6))  # none resolved here
        got = query(warehouse, "SELECT incident_id FROM live.incidents ORDER BY 1").incident_id.tolist()
        assert got == expected, (batch_id, got)
    assert expected == ["INC-B"]  # the third batch is where INC-A, silent for 7 h, went


def test_a_reader_holding_a_live_table_open_does_not_stall_the_stream(warehouse):
    """A BI session or pg_dump keeps a transaction open over the live tables; the next batch still commits."""
    layer = LiveLayer(PostgresWarehouse(warehouse))
    layer.ensure()
    reader = psycopg2.connect(warehouse)
    outcome: list = []
    writer = threading.Thread(target=lambda: outcome.append(
        layer.apply("stream-a", 0, emergency_batch(incident("INC-A", "reported", CLOCK)))))
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT * FROM live.stream_progress")
            cur.execute("SELECT * FROM live.clock")
            cur.execute("SELECT * FROM live.incidents")
            cur.execute("SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = "
                        "'live.stream_progress'::regclass")
            assert ("AccessShareLock",) in cur.fetchall()  # the reader's transaction holds the table open
        writer.start()
        writer.join(120)  # not a timing bound: a writer waiting for this reader would wait for ever
        assert not writer.is_alive() and outcome == [True], "the batch waited for a reader"
    finally:
        reader.close()
        if writer.is_alive():
            writer.join()
    assert query(warehouse, "SELECT incident_id FROM live.incidents").incident_id.tolist() == ["INC-A"]


def test_the_live_headline_is_in_utc_whatever_the_session_time_zone(warehouse):
    database = warehouse.rsplit("/", 1)[1]
    with psycopg2.connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{database}" SET timezone = \'America/New_York\'')
    layer = LiveLayer(PostgresWarehouse(warehouse))
    layer.ensure()
    layer.apply("stream-a", 0, emergency_batch(incident("INC-A", "reported", CLOCK)))
    assert query(warehouse, "SHOW timezone").iloc[0, 0] == "America/New_York"
    assert f"as of {CLOCK:%H:%M} UTC" in layer.headline()
