"""What the dashboard reads from the warehouse: read-only SQL in the dialect PostgreSQL and Redshift share
(no FILTER clauses, no PostgreSQL-only functions), one function per panel, each returning plain pandas
frames. Nothing here knows about Streamlit, so the queries are tested on their own.

Every refresh reads in one read-only transaction (`reading`): the panels of one refresh show one moment of
the live tables, and the dashboard can never write to the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import pandas as pd

from smartcity.live.tables import BUS_ROUTES, INCIDENTS, SCHEMA, SEGMENT_TRAFFIC, WINDOWS_MIN, ZONE_CONDITIONS
from smartcity.marts import (
    BI_SCHEMA,
    ENVIRONMENT,
    INCIDENT_RESPONSE,
    MARTS,
    PUBLIC_TRANSPORT,
    TRAFFIC_CONGESTION,
    WEATHER_IMPACT,
)
from smartcity.warehouse.base import Warehouse
from smartcity.warehouse.headlines import HEADLINES, IN_WINDOW, IS_CONGESTED, Window, count_where, weighted_mean

# The tables a live snapshot reads: the live tables, the clock and the stream's progress, the road network.
LIVE_SOURCES = ("clock", "stream_progress", "segments", *(t.name for t in (SEGMENT_TRAFFIC, INCIDENTS,
                                                                           ZONE_CONDITIONS, BUS_ROUTES)))


def reading(warehouse: Warehouse):
    """A cursor in one read-only transaction; a server that goes away meanwhile is a WarehouseUnavailable."""
    return warehouse.transaction("the dashboard read it", readonly=True)


def fetch(cur, sql: str, params: dict | None = None) -> pd.DataFrame:
    """The rows of a query as a frame; numerics (PostgreSQL sums are Decimal) as floats, times in UTC (the
    driver gives them in the session's time zone)."""
    cur.execute(sql, params)
    frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    for name in frame.columns:
        if frame[name].map(lambda v: isinstance(v, Decimal)).any():
            frame[name] = frame[name].astype(float)
        elif frame[name].map(lambda v: isinstance(v, datetime)).any():
            frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(timezone.utc)


def existing_tables(cur, schema: str) -> set[str]:
    """Tables and views of `schema` (none when the schema does not exist)."""
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
    return {row[0] for row in cur.fetchall()}


# -- the live page -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveSnapshot:
    clock: datetime  # the live clock: the latest event time the stream has seen (UTC)
    last_write: datetime | None  # wall-clock time the stream last applied a micro-batch (UTC)
    window_min: int  # the traffic window shown (minutes of event time up to the clock)
    segments: pd.DataFrame  # every road segment, with its traffic in the window (congestion null: no data)
    incidents: pd.DataFrame  # open incidents (not resolved), most recently reported first
    resolved: int  # incidents resolved in the live horizon
    zones: pd.DataFrame  # per zone, the latest reading and whether an AQI alert is active
    routes: pd.DataFrame  # per bus route, buses in service, mean speed and headway


def live_snapshot(cur, window_min: int = max(WINDOWS_MIN)) -> LiveSnapshot | None:
    """What the live tables hold now; None when there is no live data yet (no `live` schema, or the stream has
    not applied a micro-batch with events)."""
    if window_min not in WINDOWS_MIN:
        raise ValueError(f"the live tables keep windows of {WINDOWS_MIN} minutes, not {window_min}")
    if not set(LIVE_SOURCES) <= existing_tables(cur, SCHEMA):
        return None
    cur.execute(f"SELECT event_time FROM {SCHEMA}.clock")
    row = cur.fetchone()
    if row is None or row[0] is None:
        return None
    cur.execute(f"SELECT MAX(applied_at) FROM {SCHEMA}.stream_progress")
    last_write = cur.fetchone()[0]
    m = window_min
    segments = fetch(cur, f"""
        SELECT s.segment_id, s.zone_id, s.road_class, s.speed_limit_kmh, t.gps_fixes_{m}m AS gps_fixes,
               t.mean_speed_{m}m_kmh AS mean_speed_kmh, t.speed_ratio_{m}m AS speed_ratio,
               t.congestion_{m}m AS congestion, t.camera_vehicles_{m}m AS camera_vehicles
        FROM {SCHEMA}.segments AS s LEFT JOIN {SEGMENT_TRAFFIC.qualified} AS t ON t.segment_id = s.segment_id
        ORDER BY s.segment_id""")
    incidents = fetch(cur, f"""
        SELECT incident_id, incident_type, severity, status, minutes_since_reported, reported_at, dispatched_at,
               on_scene_at, unit_id, zone_id, segment_id, latitude, longitude, vehicles_involved
        FROM {INCIDENTS.qualified} WHERE status <> 'resolved'
        ORDER BY reported_at DESC, incident_id""")
    cur.execute(f"SELECT COUNT(*) FROM {INCIDENTS.qualified} WHERE status = 'resolved'")
    resolved = int(cur.fetchone()[0])
    zones = fetch(cur, f"""
        SELECT zone_id, condition, temperature_c, precipitation_mm_h, wind_speed_ms, air_quality_index, pm25_ugm3,
               aqi_alert, reading_at
        FROM {ZONE_CONDITIONS.qualified} ORDER BY zone_id""")
    routes = fetch(cur, f"""
        SELECT route_id, buses, mean_speed_kmh, headway_min, route_length_km FROM {BUS_ROUTES.qualified}
        ORDER BY route_id""")
    return LiveSnapshot(_utc(row[0]), _utc(last_write), m, segments, incidents, resolved, zones, routes)


# -- the hourly marts page ---------------------------------------------------------------------------------------

def mart_views(cur) -> set[str]:
    """The marts whose plain BI view exists in the warehouse."""
    return existing_tables(cur, BI_SCHEMA) & {m.name for m in MARTS}


def mart_days(cur) -> list[date]:
    """Days any mart has rows for, newest first."""
    views = sorted(mart_views(cur))
    if not views:
        return []
    union = " UNION ".join(f"SELECT DISTINCT event_date FROM {BI_SCHEMA}.{v}" for v in views)
    cur.execute(f"SELECT event_date FROM ({union}) AS days ORDER BY event_date DESC")
    return [row[0] for row in cur.fetchall()]


def mart_hours(cur, day: date) -> tuple[int, int]:
    """The first and last hour of `day` any mart has rows for."""
    union = " UNION ".join(f"SELECT DISTINCT event_hour FROM {BI_SCHEMA}.{v} WHERE event_date = %(day)s"
                           for v in sorted(mart_views(cur)))
    cur.execute(f"SELECT MIN(event_hour), MAX(event_hour) FROM ({union}) AS hours", {"day": day})
    first, last = cur.fetchone()
    return (first, last) if first is not None else (0, 23)


def headline(cur, mart: str, window: Window) -> str:
    """The demo's line for a mart over the window (`smartcity.warehouse.headlines`), or why there is none."""
    if mart not in mart_views(cur):
        return f"{mart}: not in the warehouse yet (materialize the marts)"
    return HEADLINES[mart](cur, window)


def congestion_by_zone(cur, window: Window) -> pd.DataFrame:
    """Per zone, road class and hour: the speed ratio weighted by GPS fixes, fixes and segments observed."""
    return fetch(cur, f"""
        SELECT zone_id, road_class, event_hour, {weighted_mean('speed_ratio', 'gps_fixes')} AS speed_ratio,
               SUM(gps_fixes) AS gps_fixes, COUNT(*) AS segments,
               {count_where(IS_CONGESTED)} AS congested_segments
        FROM {BI_SCHEMA}.{TRAFFIC_CONGESTION.name} WHERE {IN_WINDOW}
        GROUP BY zone_id, road_class, event_hour ORDER BY zone_id, road_class, event_hour""", window.params)


def congestion_in_hour(cur, day: date, hour: int) -> pd.DataFrame:
    """Each observed segment's congestion in one hour."""
    return fetch(cur, f"""
        SELECT segment_id, congestion_level AS congestion, speed_ratio, mean_speed_kmh, gps_fixes, camera_vehicles
        FROM {BI_SCHEMA}.{TRAFFIC_CONGESTION.name} WHERE event_date = %(day)s AND event_hour = %(hour)s
        ORDER BY segment_id""", {"day": day, "hour": hour})


def incidents_reported(cur, window: Window) -> pd.DataFrame:
    return fetch(cur, f"""
        SELECT incident_id, incident_type, severity, status, zone_id, zone_name, segment_id, reported_at,
               minutes_to_scene, minutes_to_resolve
        FROM {BI_SCHEMA}.{INCIDENT_RESPONSE.name} WHERE {IN_WINDOW} ORDER BY reported_at, incident_id""",
                 window.params)


def air_quality(cur, window: Window) -> pd.DataFrame:
    return fetch(cur, f"""
        SELECT zone_id, zone_name, event_hour, mean_aqi, max_aqi, minutes_over_aqi_alert, precipitation_mm
        FROM {BI_SCHEMA}.{ENVIRONMENT.name} WHERE {IN_WINDOW} ORDER BY zone_id, event_hour""", window.params)


def bus_regularity(cur, window: Window) -> pd.DataFrame:
    return fetch(cur, f"""
        SELECT route_id, event_hour, buses, headways, headway_cv, mean_headway_min, service_gaps
        FROM {BI_SCHEMA}.{PUBLIC_TRANSPORT.name} WHERE {IN_WINDOW} ORDER BY route_id, event_hour""", window.params)


def weather_impact(cur, window: Window) -> pd.DataFrame:
    """Per weather condition: speed ratio weighted by GPS fixes, zone-hours observed, incidents per zone-hour."""
    return fetch(cur, f"""
        SELECT condition, {weighted_mean('mean_speed_ratio', 'gps_fixes')} AS speed_ratio,
               SUM(minutes) / 60.0 AS zone_hours, SUM(incidents_reported) AS incidents,
               SUM(incidents_reported) / NULLIF(SUM(minutes) / 60.0, 0) AS incidents_per_zone_hour
        FROM {BI_SCHEMA}.{WEATHER_IMPACT.name} WHERE {IN_WINDOW} GROUP BY condition ORDER BY condition""",
                 window.params)
