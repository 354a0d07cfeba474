"""A micro-batch's valid events, reduced to what the live tables need (on the executors, in Arrow).

GPS fixes are map-matched here (`smartcity.mapmatch`, the rules of the batch layer); only buses' vehicle
telemetry is kept. The result is small (a few columns of the batch's rows, nothing for the other vehicles) and
travels to the driver in the sink's commit message, where `smartcity.warehouse.live` applies it.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from smartcity.mapmatch import match_table

# source -> the columns of its events the live layer keeps (the entity key first where events are counted)
COLUMNS = {
    "gps": ("vehicle_id", "event_time", "event_id", "speed_kmh", "segment_id"),
    "traffic_camera": ("camera_id", "event_time", "event_id", "segment_id", "vehicle_count"),
    "vehicle": ("vehicle_id", "event_time", "event_id", "route_id", "speed_kmh"),
    "weather": ("zone_id", "station_id", "event_time", "event_id", "temperature_c", "humidity_pct",
                "precipitation_mm_h", "wind_speed_ms", "air_quality_index", "pm25_ugm3", "condition"),
    "emergency": ("incident_id", "event_time", "event_id", "incident_type", "severity", "status", "latitude",
                  "longitude", "zone_id", "segment_id", "unit_id", "vehicles_involved"),
}
COUNTED = ("gps", "traffic_camera", "vehicle")  # sources whose events are counted (deduplicated per entity)


def live_events(parsed: pa.Table) -> dict[str, pa.Table]:
    """The valid events of `parsed` (rows in the streaming job's PARSED layout) per source, in `COLUMNS`."""
    valid = parsed.filter(pc.is_null(parsed.column("reason")))
    out = {}
    for source, columns in COLUMNS.items():
        rows = valid.filter(pc.equal(valid.column("source"), source))
        if rows.num_rows == 0:
            continue
        struct = rows.column(source).combine_chunks()
        events = pa.table({f.name: struct.field(f.name) for f in struct.type})
        if source == "gps":
            events = match_table(events)
        elif source == "vehicle":
            events = events.filter(pc.is_valid(events.column("route_id")))
        if events.num_rows:
            out[source] = events.select(list(columns))
    return out


def concat(parts: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """The events of several tasks, per source."""
    sources = {s for p in parts for s in p}
    return {s: pa.concat_tables([p[s] for p in parts if s in p]) for s in sorted(sources)}
