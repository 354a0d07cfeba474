"""Reconciliation: events written by hand straight to Kafka (no simulator) — an incident whose lifecycle spans
three hours, one reported in the first minute of an hour, duplicates and out-of-order updates, buses whose
headways cross the hour boundaries — land in three hours that arrive all at once, one by one, or in reverse.
Each time the sensor plans the runs and they execute in order, as the daemon would; then every column of the
incident, bus and environment marts equals a from-scratch pandas computation over the events written here."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from smartcity import reference
from smartcity.lake import layout
from smartcity.marts import BY_NAME as MARTS

from . import expected_marts as expected
from .helpers import drain, query, run_requested, send_events, sensor_tick

HOURS = [datetime(2026, 11, 29, h, tzinfo=timezone.utc) for h in (10, 11, 12)]
SEGMENTS = {s["segment_id"]: s for s in reference.segments().to_pylist()}
ZONES = {z["zone_id"]: z for z in reference.zones().to_pylist()}
ROUNDED = {"mean_speed_kmh": 2, "mean_passengers": 2, "mean_headway_min": 2, "headway_cv": 3, "max_headway_min": 2,
           "mean_wait_min": 2, "excess_wait_min": 2, "minutes_to_dispatch": 2, "minutes_travel": 2,
           "minutes_to_scene": 2, "minutes_on_scene": 2, "minutes_to_resolve": 2, "mean_temperature_c": 2,
           "mean_humidity_pct": 2, "precipitation_mm": 2, "mean_aqi": 2}


def t(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 29, hour, minute, second, tzinfo=timezone.utc)


def _id(*parts) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


def incident(incident_id: str, status: str, at: datetime, zone: str, segment: str | None = None, unit=None,
             kind: str = "collision", severity: int = 3) -> dict:
    spot = SEGMENTS[segment] if segment else {"start_lat": ZONES[zone]["zone_latitude"],
                                              "start_lon": ZONES[zone]["zone_longitude"]}
    return {"event_id": _id(incident_id, status, at), "incident_id": incident_id, "event_time": at,
            "incident_type": kind, "severity": severity, "status": status, "latitude": spot["start_lat"],
            "longitude": spot["start_lon"], "zone_id": zone, "segment_id": segment,
            "unit_id": unit if status != "reported" else None, "vehicles_involved": 1}


def emergency_events() -> list[dict]:
    """In the order they are sent (within an hour's landing): out of order on purpose, and one sent twice."""
    z01 = next(s for s, v in SEGMENTS.items() if v["zone_id"] == "Z01")
    return [
        incident("INC-D", "reported", t(10, 5), "Z01", z01),
        incident("INC-D", "on_scene", t(10, 15), "Z01", z01, "EMG-2"),  # before its dispatch, in Kafka order
        incident("INC-D", "dispatched", t(10, 7), "Z01", z01, "EMG-2"),
        incident("INC-D", "resolved", t(10, 40), "Z01", z01, "EMG-2"),
        incident("INC-A", "reported", t(10, 50), "Z02", kind="fire", severity=5),  # across three hours
        incident("INC-A", "dispatched", t(10, 53), "Z02", unit="EMG-1", kind="fire", severity=5),
        incident("INC-A", "dispatched", t(10, 53), "Z02", unit="EMG-1", kind="fire", severity=5),  # sent twice
        incident("INC-A", "resolved", t(12, 20), "Z02", unit="EMG-1", kind="fire", severity=5),  # before on_scene
        incident("INC-A", "on_scene", t(11, 5), "Z02", unit="EMG-1", kind="fire", severity=5),
        incident("INC-B", "reported", t(11, 0, 20), "Z01", kind="medical"),  # weather: the reading at 10:57
        incident("INC-B", "dispatched", t(11, 2), "Z01", unit="EMG-3", kind="medical"),
        incident("INC-C", "reported", t(12, 10), "Z02", kind="hazard", severity=1),
        incident("INC-C", "on_scene", t(12, 25), "Z02", unit="EMG-4", kind="hazard", severity=1),  # still open
    ]


def weather_events() -> list[dict]:
    rows = []
    for zone_index, zone in enumerate(("Z01", "Z02")):
        at = t(9, 52)  # every 5 minutes from 09:52: an hour's first reading is at :02
        while at < t(13, 0):
            minutes = int((at - t(9, 52)).total_seconds() // 60)
            rain = 0.5 * (minutes % 35) if 40 <= minutes <= 110 else 0.0
            rows.append({"event_id": _id("weather", zone, at), "station_id": f"WS-{zone}", "event_time": at,
                         "zone_id": zone, "latitude": ZONES[zone]["zone_latitude"],
                         "longitude": ZONES[zone]["zone_longitude"], "temperature_c": 5.0 + minutes / 60 + zone_index,
                         "humidity_pct": 70.0 + minutes % 20, "precipitation_mm_h": rain, "wind_speed_ms": 2.0 + minutes % 5,
                         "wind_direction_deg": 250.0, "pressure_hpa": 1010.0, "air_quality_index": 60 + (minutes * 7) % 80,
                         "pm25_ugm3": 10.0, "condition": "rain" if rain >= 0.2 else "cloudy"})
            at += timedelta(minutes=5)
    return rows


ROUTE = [r for r in reference.bus_routes().to_pylist() if r["route_id"] == "R1"]
STOP = ROUTE[5]  # the stop whose headways the buses make


def _midpoint(segment_id: str) -> tuple[float, float, float]:
    s = SEGMENTS[segment_id]
    return (s["start_lat"] + s["end_lat"]) / 2, (s["start_lon"] + s["end_lon"]) / 2, s["heading_deg"]


def bus_events() -> tuple[list[dict], list[dict], dict[str, str]]:
    """(vehicle telemetry, GPS fixes, GPS event id -> the segment it lies on): two R1 buses reaching STOP across
    10:50-12:10 (each arrival: a fix on the previous segment, then one on the stop's)."""
    arrivals = [("BUS-1", t(10, 52)), ("BUS-2", t(10, 58)), ("BUS-1", t(11, 4)), ("BUS-2", t(11, 15)),
                ("BUS-1", t(11, 40)), ("BUS-2", t(12, 2)), ("BUS-1", t(12, 5))]
    fixes, on_segment = [], {}
    for bus, at in arrivals:
        for segment, when in ((STOP["previous_segment_id"], at - timedelta(seconds=20)), (STOP["segment_id"], at)):
            lat, lon, heading = _midpoint(segment)
            fix = {"event_id": _id("gps", bus, when), "vehicle_id": bus, "event_time": when, "latitude": lat,
                   "longitude": lon, "speed_kmh": 20.0, "heading_deg": heading, "accuracy_m": 3.0, "satellites": 9}
            fixes.append(fix)
            on_segment[fix["event_id"]] = segment
    reports = []
    for bus, offset in (("BUS-1", 0), ("BUS-2", 3)):
        at = t(10, 45 + offset)
        while at < t(12, 15):
            lat, lon, heading = _midpoint(STOP["segment_id"])
            reports.append({"event_id": _id("vehicle", bus, at), "vehicle_id": bus, "event_time": at,
                            "vehicle_type": "bus", "fuel_type": "diesel", "latitude": lat, "longitude": lon,
                            "speed_kmh": 15.0 + at.minute % 10, "heading_deg": heading, "energy_level_pct": 70.0,
                            "odometer_km": 1000.0, "engine_temp_c": 85.0, "route_id": "R1",
                            "passenger_count": 10 + at.minute % 30})
            at += timedelta(minutes=10)
    return reports, fixes, on_segment


def all_events() -> dict[str, list[dict]]:
    reports, fixes, _ = bus_events()
    return {"emergency": emergency_events(), "weather": weather_events(), "vehicle": reports, "gps": fixes}


def in_hour(events: dict[str, list[dict]], hour: datetime, since: datetime) -> dict[str, list[dict]]:
    """The events from `since` to the end of `hour`."""
    return {s: [e for e in rows if since <= e["event_time"] < hour + timedelta(hours=1)] for s, rows in events.items()}


def land_and_run(settings, spark, events: dict[str, list[dict]]) -> list[str]:
    """Send, stream into the lake, one sensor tick, and its runs in order (as the run queue starts them)."""
    send_events(settings, events)
    drain(settings, spark)
    tick = sensor_tick(settings)
    for request in tick.run_requests:
        assert run_requested(settings, request).success
    return [r.partition_key or f"{r.tags['dagster/asset_partition_range_start']}.." for r in tick.run_requests]


# -- the expectation, from the events alone ------------------------------------------------------------------

def frames(events: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    """The events as tables, each event once (a message sent twice counts once), with the place names the
    city's reference data gives; GPS fixes on the segment they were put on."""
    out = {s: pd.DataFrame(rows).drop_duplicates("event_id") for s, rows in events.items()}
    for source in ("emergency", "weather"):
        out[source]["zone_name"] = out[source].zone_id.map(lambda z: ZONES[z]["zone_name"])
    out["emergency"]["road_class"] = out["emergency"].segment_id.map(lambda s: SEGMENTS[s]["road_class"] if s else None)
    _, _, on_segment = bus_events()
    out["gps"]["segment_id"] = out["gps"].event_id.map(on_segment)
    for frame in out.values():
        frame["event_time"] = pd.to_datetime(frame.event_time, utc=True)
    return out


def assert_marts_equal_from_scratch(settings, events: dict[str, list[dict]]) -> None:
    f = frames(events)
    hours = [pd.Timestamp(h) for h in HOURS]
    checks = {
        "incident_response": ("reported_at, incident_id", pd.concat(
            [expected.incident_response(f["emergency"], f["weather"], h) for h in hours], ignore_index=True)),
        "public_transport": ("event_hour, route_id", pd.concat(
            [expected.public_transport(f["vehicle"], f["gps"], h).assign(event_hour=h.hour) for h in hours],
            ignore_index=True)),
        "environment": ("event_hour, zone_id", pd.concat(
            [expected.environment(f["weather"][(f["weather"].event_time >= h) & (f["weather"].event_time < h + pd.Timedelta(
                hours=1))]).assign(event_hour=h.hour) for h in hours], ignore_index=True)),
    }
    for mart, (order, want) in checks.items():
        got = query(settings.warehouse_dsn, f"SELECT * FROM bi.{mart} WHERE event_date = '2026-11-29' AND event_hour "
                                            f"BETWEEN 10 AND 12 ORDER BY {order}")
        columns = [c for c in MARTS[mart].column_names if c not in layout.PARTITION_COLUMNS]
        expected.assert_same(got, want.reset_index(drop=True), columns, ROUNDED)
    incidents = checks["incident_response"][1].set_index("incident_id")
    assert incidents.loc["INC-A", "status"] == "resolved" and incidents.loc["INC-A", "minutes_to_resolve"] == 90.0
    assert incidents.loc["INC-B", "weather_condition"] == "rain"  # the 10:57 reading, in the hour before
    assert incidents.loc["INC-D", "status"] == "resolved" and incidents.loc["INC-C", "status"] == "on_scene"


@pytest.mark.parametrize("arrival", ["all at once", "one by one", "in reverse"])
def test_marts_converge_whatever_order_the_hours_land_in(pipeline, spark, arrival):
    events = all_events()
    if arrival == "all at once":
        plans = [land_and_run(pipeline, spark, events)]
    else:
        order = HOURS if arrival == "one by one" else HOURS[::-1]
        # the weather from 09:52 (read by 10:00's incidents) lands with hour 10
        plans = []
        for hour in order:
            since = hour - timedelta(hours=1) if hour == HOURS[0] else hour
            plans.append(land_and_run(pipeline, spark, in_hour(events, hour, since)))
    assert_marts_equal_from_scratch(pipeline, events)
    assert any(".." in p for plan in plans for p in plan), "some mart hour was recomputed after a later one changed"
