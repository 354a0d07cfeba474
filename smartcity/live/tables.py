"""The live tables: what is happening now, kept by the streaming job in the warehouse schema `live`.

Time is event time. The live clock is the latest event time the stream has seen; a table's windows end at
the clock's minute ("the last 5 minutes" = the five one-minute buckets up to and including that minute). An
event older than the longest window (`WINDOW_MIN`) when its batch arrives is late: it is landed in the lake
and reaches the hourly marts, but does not rewrite the live "now". Incidents keep a longer horizon
(`INCIDENT_HOURS`): a resolved incident stays that long after it was resolved, and an update older than
that is left to the batch layer.

Counting is exactly once: a replayed micro-batch is recognised by the batch id recorded with the update in
one transaction, and an event of a vehicle or camera at or before the last one counted for that entity (a
duplicate, or a straggler of an entity whose later events were already counted) is not counted again.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.contracts import Field, column
from smartcity.marts.environment import AQI_ALERT
from smartcity.marts.traffic import CONGESTION_LEVELS

SCHEMA = "live"
WINDOWS_MIN = (5, 15)
WINDOW_MIN = max(WINDOWS_MIN)
INCIDENT_HOURS = 1
INCIDENT_STALE_HOURS = 6  # an open incident without an update this long (event time) leaves the live table


@dataclass(frozen=True)
class LiveTable:
    name: str
    description: str
    columns: tuple[Field, ...]
    key: tuple[str, ...]
    sources: tuple[str, ...]  # the event sources it is computed from (its lineage)

    @property
    def qualified(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


_LEVELS = ", ".join(f"{name} (ratio >= {threshold:g})" if threshold else f"{name} (below)"
                    for threshold, name in CONGESTION_LEVELS)
_UPDATED = column("updated_at", "timestamp", "Wall-clock time of the micro-batch that last wrote the row, UTC")
_AS_OF = column("as_of", "timestamp", "The live clock (latest event time seen) when the row was written, UTC")


def _window_columns(minutes: int) -> tuple[Field, ...]:
    return (
        column(f"gps_fixes_{minutes}m", "bigint", f"GPS fixes matched to the segment in the last {minutes} minutes"),
        column(f"mean_speed_{minutes}m_kmh", "double", f"Mean GPS speed on the segment in the last {minutes} minutes",
               unit="km/h"),
        column(f"speed_ratio_{minutes}m", "double", f"Mean speed / speed limit, last {minutes} minutes (3 decimals)"),
        column(f"congestion_{minutes}m", "string",
               f"Congestion level of that ratio, as in the traffic mart: {_LEVELS}"),
        column(f"camera_vehicles_{minutes}m", "bigint",
               f"Vehicles the segment's camera(s) counted in the last {minutes} minutes; null without camera"),
    )


SEGMENT_TRAFFIC = LiveTable(
    "segment_traffic",
    "Live traffic per road segment: GPS fixes, mean speed, its ratio to the limit and the congestion level over "
    f"the last {' and '.join(map(str, WINDOWS_MIN))} minutes of event time, with camera counts. Segments without "
    "a GPS fix or camera count in the window are absent.",
    (column("segment_id", "string", "Directed road segment"), column("zone_id", "string", "City zone"),
     column("road_class", "string", "ring | arterial | residential"),
     column("speed_limit_kmh", "double", "Speed limit", unit="km/h"),
     *(c for m in WINDOWS_MIN for c in _window_columns(m)), _AS_OF, _UPDATED),
    ("segment_id",), ("gps", "traffic_camera"),
)

INCIDENTS = LiveTable(
    "incidents",
    "Every incident with its current lifecycle status (reported → dispatched → on_scene → resolved; an update "
    "arriving out of order never moves it back), the time of each step so far, unit, place and severity. "
    f"Resolved incidents stay for {INCIDENT_HOURS} hour(s) after they were resolved; an open one without an update "
    f"for {INCIDENT_STALE_HOURS} hours is dropped (its resolution was lost or quarantined; the hourly marts keep "
    "its record).",
    (column("incident_id", "string", "Incident"), column("incident_type", "string", "Kind of incident"),
     column("severity", "int", "1 (minor) to 5 (critical)"), column("status", "string", "Current lifecycle status"),
     column("reported_at", "timestamp", "When it was reported; null until that update arrives"),
     column("dispatched_at", "timestamp", "When a unit was dispatched"),
     column("on_scene_at", "timestamp", "When the unit arrived on scene"),
     column("resolved_at", "timestamp", "When it was resolved"),
     column("unit_id", "string", "Emergency vehicle assigned"), column("zone_id", "string", "City zone"),
     column("segment_id", "string", "Road segment affected; null off-road"),
     column("latitude", "double", "WGS84 latitude", unit="degrees"),
     column("longitude", "double", "WGS84 longitude", unit="degrees"),
     column("vehicles_involved", "int", "Vehicles involved"),
     column("minutes_since_reported", "double", "Live clock minus reported_at", unit="min"),
     column("last_update_at", "timestamp", "Event time of the update the current status comes from"),
     _AS_OF, _UPDATED),
    ("incident_id",), ("emergency",),
)

ZONE_CONDITIONS = LiveTable(
    "zone_conditions",
    "Per city zone, the latest weather and air-quality reading, and whether an air-quality alert is active "
    f"(AQI above {AQI_ALERT}, as in the environment mart).",
    (column("zone_id", "string", "City zone"), column("station_id", "string", "Weather station"),
     column("reading_at", "timestamp", "Event time of the reading"),
     column("event_id", "string", "The reading's event id (the tie-break between readings at the same time)"),
     column("temperature_c", "double", "Air temperature", unit="°C"),
     column("humidity_pct", "double", "Relative humidity", unit="%"),
     column("precipitation_mm_h", "double", "Precipitation rate", unit="mm/h"),
     column("wind_speed_ms", "double", "Mean wind speed", unit="m/s"),
     column("air_quality_index", "int", "US EPA air-quality index"),
     column("pm25_ugm3", "double", "PM2.5", unit="µg/m³"), column("condition", "string", "Weather condition"),
     column("aqi_alert", "boolean", f"air_quality_index > {AQI_ALERT}"), _AS_OF, _UPDATED),
    ("zone_id",), ("weather",),
)

BUS_ROUTES = LiveTable(
    "bus_routes",
    f"Per bus route over the last {WINDOW_MIN} minutes: buses in service, their mean reported speed, and the "
    "headway that fleet gives: cycle time (route length / mean speed) / buses.",
    (column("route_id", "string", "Bus route"),
     column("buses", "bigint", f"Distinct buses that reported on the route in the last {WINDOW_MIN} minutes"),
     column("reports", "bigint", "Their telemetry reports in the window"),
     column("mean_speed_kmh", "double", "Mean reported speed (stops included)", unit="km/h"),
     column("route_length_km", "double", "Length of the route's loop", unit="km"),
     column("headway_min", "double", "Cycle time / buses: the mean time between buses at a stop", unit="min"),
     _AS_OF, _UPDATED),
    ("route_id",), ("vehicle",),
)

LIVE_TABLES: tuple[LiveTable, ...] = (SEGMENT_TRAFFIC, INCIDENTS, ZONE_CONDITIONS, BUS_ROUTES)
BY_NAME = {t.name: t for t in LIVE_TABLES}
