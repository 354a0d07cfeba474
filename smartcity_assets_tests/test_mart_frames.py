"""The Spark mart frames (`smartcity.spark.marts.FRAMES`) on small hand-built transformed rows: for each mart,
every column of its spec is compared with values worked out by hand from the column definitions (congestion
levels, AQI alert, headways and service gaps, incident lifecycle, weather at the report), on edge cases
(threshold ties, unmatched fixes, segments without camera, zones without some kind of reading, an incident
resolved in the next hour or reported in it, updates out of order, a bus arriving at a stop twice, a service
gap), and the paths where an input table is missing (None)."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

from smartcity import contracts, reference, tables
from smartcity.lake.layout import Hour
from smartcity.marts import BY_NAME as MARTS
from smartcity.spark.marts import FRAMES

HOUR = Hour("2026-11-29", 10)
PARTITION = {"event_date": date(2026, 11, 29), "event_hour": 10}
SEGMENTS = {s["segment_id"]: s for s in reference.segments().to_pylist()}

# Values of the columns a test leaves out (valid for the contracts; irrelevant to the mart under test).
DEFAULTS = {
    "gps_matched": dict(vehicle_id="VEH-00001", latitude=52.35, longitude=4.89, speed_kmh=30.0, heading_deg=90.0,
                        accuracy_m=3.0, satellites=9, match_distance_m=1.0, zone_id="Z05", zone_name="Central"),
    "traffic_camera": dict(camera_id="CAM-0001", latitude=52.34, longitude=4.86, window_seconds=60, vehicle_count=0,
                           car_count=0, bus_count=0, truck_count=0, emergency_count=0, mean_speed_kmh=30.0),
    "weather": dict(station_id="WS-Z01", zone_id="Z01", zone_name="Westfield", latitude=52.345, longitude=4.87,
                    temperature_c=8.0, humidity_pct=80.0, precipitation_mm_h=0.0, wind_speed_ms=3.0,
                    wind_direction_deg=270.0, pressure_hpa=1012.0, air_quality_index=40, pm25_ugm3=8.0,
                    condition="cloudy"),
    "emergency": dict(incident_type="collision", severity=3, latitude=52.345, longitude=4.87, zone_id="Z01",
                      zone_name="Westfield", segment_id=None, road_class=None, unit_id=None, vehicles_involved=1),
    "vehicle": dict(vehicle_id="VEH-00001", vehicle_type="car", fuel_type="diesel", latitude=52.35, longitude=4.89,
                    speed_kmh=30.0, heading_deg=90.0, energy_level_pct=50.0, odometer_km=1000.0, engine_temp_c=90.0,
                    route_id=None, passenger_count=None, zone_id="Z05", zone_name="Central"),
}


def at(minute: int, second: int = 0, hour: int = 10) -> datetime:
    return datetime(2026, 11, 29, hour, minute, second, tzinfo=timezone.utc)


def on_segment(segment_id: str | None) -> dict:
    """The map-matching columns of a fix on `segment_id` (from the reference data), or of an unmatched fix."""
    if segment_id is None:
        return {"segment_id": None, "match_distance_m": None, "road_class": None, "speed_limit_kmh": None}
    s = SEGMENTS[segment_id]
    return {"segment_id": segment_id, "road_class": s["road_class"], "speed_limit_kmh": s["speed_limit_kmh"]}


def frame_of(spark, table: str, rows: list[dict]):
    """A DataFrame in the exact schema of transformed table `table`: each row's columns, the others defaulted."""
    columns = tables.BY_NAME[table].columns
    names = {c.name for c in columns}
    full = []
    for i, row in enumerate(rows):
        assert set(row) <= names, set(row) - names
        t = row.get("event_time", at(0))
        envelope = {"event_id": f"{table}-{i:04d}", "kafka_topic": contracts.BY_NAME[tables.BY_NAME[table].contract.name]
                    .topic, "kafka_partition": 0, "kafka_offset": i, "kafka_timestamp": t, "ingest_time": t}
        values = {**envelope, **DEFAULTS[table], **row}
        full.append({c.name: values.get(c.name) for c in columns})
    schema = pa.schema([pa.field(c.name, c.arrow_field().type) for c in columns])
    return spark.createDataFrame(pa.Table.from_pylist(full, schema=schema))


def run(spark, mart: str, **inputs) -> list[dict] | None:
    """The mart's frame for HOUR from `inputs`, collected (None when the frame is None); columns = the spec's."""
    assert set(inputs) == set(MARTS[mart].input_tables)
    frame = FRAMES[mart](spark, HOUR, inputs)
    if frame is None:
        return None
    assert frame.columns == MARTS[mart].column_names
    return frame.toArrow().to_pylist()


def assert_rows(got: list[dict], want: list[dict], mart: str) -> None:
    """Same rows in the same order, every column of the spec; floats to 1e-9."""
    columns = MARTS[mart].column_names
    assert len(got) == len(want), (got, want)
    for i, (g, w) in enumerate(zip(got, want)):
        w = {**PARTITION, **w}
        assert list(g) == columns and set(w) == set(columns), (i, set(columns) ^ set(w))
        wrong = {c: (g[c], w[c]) for c in columns
                 if not (g[c] == w[c] if not isinstance(w[c], float) else
                         g[c] is not None and math.isclose(g[c], w[c], rel_tol=0, abs_tol=1e-9))}
        assert not wrong, f"row {i} ({w.get(columns[2])}): column: (got, want) {wrong}"


# -- traffic_congestion ---------------------------------------------------------------------------------------

def _fix(vehicle: str, segment: str | None, speed: float, minute: int = 5) -> dict:
    return {"vehicle_id": vehicle, "speed_kmh": speed, "event_time": at(minute), **on_segment(segment)}


def traffic_gps() -> list[dict]:
    return [
        # SEG-0001 (ring, 70): 56 km/h three times, two vehicles -> ratio 56/70 = 0.8 exactly: free (>= 0.8)
        _fix("V1", "SEG-0001", 56.0), _fix("V2", "SEG-0001", 56.0, 6), _fix("V1", "SEG-0001", 56.0, 7),
        # SEG-0005 (residential, 30): 10, 14 -> mean 12, 12/30 = 0.4: heavy (>= 0.4); p85 = 10 + 0.85*4 = 13.4
        _fix("V3", "SEG-0005", 10.0), _fix("V4", "SEG-0005", 14.0),
        # SEG-0011 (arterial, 50): 10..50 -> mean 30, 30/50 = 0.6: moderate; p85 at rank 0.85*4 = 3.4:
        # 40 + 0.4*(50-40) = 44; vehicles V1, V2, V3, V5 = 4 (V1 twice)
        _fix("V1", "SEG-0011", 10.0), _fix("V2", "SEG-0011", 20.0), _fix("V3", "SEG-0011", 30.0),
        _fix("V1", "SEG-0011", 40.0, 9), _fix("V5", "SEG-0011", 50.0),
        # SEG-0012 (ring, 70): one fix at 63 -> 0.9: free
        _fix("V6", "SEG-0012", 63.0),
        # SEG-0014 (residential, 30): 17.9 -> 0.597, just below 0.6: heavy
        _fix("V6", "SEG-0014", 17.9, 8),
        # SEG-0020 (arterial, 50): 18, 21 (one vehicle) -> mean 19.5, 0.39: severe; p85 = 18 + 0.85*3 = 20.55
        _fix("V7", "SEG-0020", 18.0), _fix("V7", "SEG-0020", 21.0, 6),
        # unmatched fixes count nowhere
        _fix("V8", None, 5.0), _fix("V1", None, 80.0),
    ]


def traffic_cameras() -> list[dict]:
    return [{"segment_id": "SEG-0001", "vehicle_count": 5}, {"segment_id": "SEG-0001", "vehicle_count": 7},
            {"segment_id": "SEG-0011", "vehicle_count": 0},  # a camera that counted nothing: 0, not null
            {"segment_id": "SEG-0020", "vehicle_count": 3}, {"segment_id": "SEG-0020", "vehicle_count": 4},
            {"segment_id": "SEG-0100", "vehicle_count": 9}]  # a camera segment without GPS fixes: no row


def _segment_row(segment, zone, road_class, limit, fixes, vehicles, mean, p85, ratio, level, tti, camera):
    return {"segment_id": segment, "zone_id": zone, "road_class": road_class, "speed_limit_kmh": limit,
            "gps_fixes": fixes, "vehicles": vehicles, "mean_speed_kmh": mean, "p85_speed_kmh": p85,
            "speed_ratio": ratio, "congestion_level": level, "travel_time_index": tti, "camera_vehicles": camera}


# travel time index = limit / mean speed, to 2 places: 70/56 = 1.25, 30/12 = 2.5, 50/30 = 1.67, 70/63 = 1.11,
# 30/17.9 = 1.676 -> 1.68, 50/19.5 = 2.564 -> 2.56
TRAFFIC_EXPECTED = [
    _segment_row("SEG-0001", "Z01", "ring", 70.0, 3, 2, 56.0, 56.0, 0.8, "free", 1.25, 12),  # cameras 5 + 7
    _segment_row("SEG-0005", "Z01", "residential", 30.0, 2, 2, 12.0, 13.4, 0.4, "heavy", 2.5, None),  # no camera
    _segment_row("SEG-0011", "Z01", "arterial", 50.0, 5, 4, 30.0, 44.0, 0.6, "moderate", 1.67, 0),
    _segment_row("SEG-0012", "Z02", "ring", 70.0, 1, 1, 63.0, 63.0, 0.9, "free", 1.11, None),
    _segment_row("SEG-0014", "Z02", "residential", 30.0, 1, 1, 17.9, 17.9, 0.597, "heavy", 1.68, None),
    _segment_row("SEG-0020", "Z02", "arterial", 50.0, 2, 1, 19.5, 20.55, 0.39, "severe", 2.56, 7),  # 3 + 4
]


def test_traffic_congestion_levels_percentiles_and_camera_counts(spark):
    got = run(spark, "traffic_congestion", gps_matched=frame_of(spark, "gps_matched", traffic_gps()),
              traffic_camera=frame_of(spark, "traffic_camera", traffic_cameras()))
    assert_rows(got, TRAFFIC_EXPECTED, "traffic_congestion")


def test_traffic_congestion_without_cameras_has_null_camera_counts(spark):
    got = run(spark, "traffic_congestion", gps_matched=frame_of(spark, "gps_matched", traffic_gps()),
              traffic_camera=None)
    assert_rows(got, [{**row, "camera_vehicles": None} for row in TRAFFIC_EXPECTED], "traffic_congestion")


def test_traffic_congestion_without_gps_is_none_and_unmatched_fixes_give_no_rows(spark):
    cameras = frame_of(spark, "traffic_camera", traffic_cameras())
    assert run(spark, "traffic_congestion", gps_matched=None, traffic_camera=cameras) is None
    only_unmatched = frame_of(spark, "gps_matched", [_fix("V1", None, 30.0), _fix("V2", None, 40.0)])
    assert run(spark, "traffic_congestion", gps_matched=only_unmatched, traffic_camera=cameras) == []


# -- environment ----------------------------------------------------------------------------------------------

def _reading(zone: str, minute: int, condition: str, temperature: float, humidity: float, precipitation: float,
             wind: float, aqi: int, second: int = 0, hour: int = 10) -> dict:
    return {"zone_id": zone, "zone_name": reference_zone_name(zone), "station_id": f"WS-{zone}",
            "event_time": at(minute, second, hour), "condition": condition, "temperature_c": temperature,
            "humidity_pct": humidity, "precipitation_mm_h": precipitation, "wind_speed_ms": wind,
            "air_quality_index": aqi}


def reference_zone_name(zone: str) -> str:
    return {z["zone_id"]: z["zone_name"] for z in reference.zones().to_pylist()}[zone]


def test_environment_means_extremes_aqi_alerts_and_dominant_condition(spark):
    weather = frame_of(spark, "weather", [
        _reading("Z01", 0, "rain", 8.0, 80.0, 1.0, 3.0, 100),  # AQI 100 is not above the alert (> 100)
        _reading("Z01", 1, "cloudy", 9.0, 81.0, 2.0, 7.5, 101),
        _reading("Z01", 2, "rain", 10.0, 82.0, 0.0, 4.0, 150),
        _reading("Z01", 3, "cloudy", 11.0, 84.0, 0.2, 7.5, 40),
        _reading("Z02", 30, "fog", 5.0, 90.0, 0.0, 1.2, 20),
        _reading("Z05", 0, "snow", -1.0, 70.0, 0.0, 2.0, 30),
        _reading("Z05", 1, "clear", 0.0, 71.0, 0.0, 2.0, 30),
        _reading("Z05", 2, "snow", 2.0, 71.0, 0.0, 2.0, 31),
    ])
    got = run(spark, "environment", weather=weather)
    assert_rows(got, [
        # temperatures (8+9+10+11)/4 = 9.5; humidity 327/4 = 81.75; precipitation 3.2/4 = 0.8 mm over the hour;
        # AQI 391/4 = 97.75, over 100: 101 and 150 = 2; rain 2 x, cloudy 2 x: tie -> alphabetical: cloudy
        {"zone_id": "Z01", "zone_name": "Westfield", "readings": 4, "mean_temperature_c": 9.5,
         "mean_humidity_pct": 81.75, "precipitation_mm": 0.8, "max_wind_speed_ms": 7.5, "mean_aqi": 97.75,
         "max_aqi": 150, "minutes_over_aqi_alert": 2, "dominant_condition": "cloudy"},
        {"zone_id": "Z02", "zone_name": "Old Town", "readings": 1, "mean_temperature_c": 5.0,
         "mean_humidity_pct": 90.0, "precipitation_mm": 0.0, "max_wind_speed_ms": 1.2, "mean_aqi": 20.0,
         "max_aqi": 20, "minutes_over_aqi_alert": 0, "dominant_condition": "fog"},
        # temperatures 1/3 = 0.33; humidity 212/3 = 70.67; AQI 91/3 = 30.33; snow 2 x beats clear 1 x
        {"zone_id": "Z05", "zone_name": "Central", "readings": 3, "mean_temperature_c": 0.33,
         "mean_humidity_pct": 70.67, "precipitation_mm": 0.0, "max_wind_speed_ms": 2.0, "mean_aqi": 30.33,
         "max_aqi": 31, "minutes_over_aqi_alert": 0, "dominant_condition": "snow"},
    ], "environment")


def test_environment_without_weather_is_none(spark):
    assert run(spark, "environment", weather=None) is None


# -- weather_impact -------------------------------------------------------------------------------------------

def impact_weather() -> list[dict]:
    return [_reading("Z01", 0, "rain", 8.0, 80.0, 1.0, 3.0, 40), _reading("Z01", 1, "rain", 8.0, 80.0, 1.0, 3.0, 40),
            _reading("Z01", 2, "clear", 8.0, 80.0, 0.0, 3.0, 40),
            # two readings in minute 10:03: the minute counts once, its condition the alphabetically first
            _reading("Z01", 3, "clear", 8.0, 80.0, 0.0, 3.0, 40),
            _reading("Z01", 3, "rain", 8.0, 80.0, 1.0, 3.0, 40, second=30),
            _reading("Z02", 0, "fog", 5.0, 90.0, 0.0, 1.0, 20)]


def _zone_fix(zone: str, minute: int, second: int, segment: str | None, speed: float) -> dict:
    return {"zone_id": zone, "zone_name": reference_zone_name(zone), "event_time": at(minute, second),
            "speed_kmh": speed, **on_segment(segment)}


def impact_gps() -> list[dict]:
    return [_zone_fix("Z01", 0, 10, "SEG-0011", 30.0),  # 30/50 = 0.6, rain
            _zone_fix("Z01", 0, 40, "SEG-0011", 40.0),  # 0.8, rain
            _zone_fix("Z01", 1, 5, "SEG-0001", 35.0),  # 35/70 = 0.5, rain
            _zone_fix("Z01", 1, 10, None, 90.0),  # unmatched: not on a road
            _zone_fix("Z01", 2, 30, "SEG-0005", 21.0),  # 21/30 = 0.7, clear
            _zone_fix("Z01", 5, 0, "SEG-0005", 5.0),  # a minute without a reading: not counted
            _zone_fix("Z02", 0, 30, None, 50.0)]  # Z02's only fix is unmatched: no fixes in fog


def _incident(zone: str, minute: int, second: int, kind: str, status: str = "reported", incident="INC-1") -> dict:
    return {"incident_id": incident, "zone_id": zone, "zone_name": reference_zone_name(zone),
            "event_time": at(minute, second), "incident_type": kind, "status": status}


def impact_emergency() -> list[dict]:
    return [_incident("Z01", 0, 20, "collision", incident="INC-1"),
            _incident("Z01", 0, 50, "collision", "dispatched", "INC-1"),  # an update, not a report
            _incident("Z01", 1, 30, "breakdown", incident="INC-2"),
            _incident("Z01", 3, 10, "collision", incident="INC-3"),  # 10:03 is clear (see above)
            _incident("Z03", 4, 0, "fire", incident="INC-4")]  # a zone without weather readings


def _impact_row(zone, condition, minutes, fixes, speed, ratio, incidents, collisions) -> dict:
    return {"zone_id": zone, "condition": condition, "minutes": minutes, "gps_fixes": fixes, "mean_speed_kmh": speed,
            "mean_speed_ratio": ratio, "incidents_reported": incidents, "collisions_reported": collisions}


def test_weather_impact_speeds_and_incidents_by_condition_minute(spark):
    got = run(spark, "weather_impact", weather=frame_of(spark, "weather", impact_weather()),
              gps_matched=frame_of(spark, "gps_matched", impact_gps()),
              emergency=frame_of(spark, "emergency", impact_emergency()))
    assert_rows(got, [
        # clear: 10:02 and 10:03; one fix (21 km/h, 0.7); INC-3, a collision
        _impact_row("Z01", "clear", 2, 1, 21.0, 0.7, 1, 1),
        # rain: 10:00 and 10:01; fixes 30, 40, 35 -> 35.0; ratios (0.6+0.8+0.5)/3 = 0.633; INC-1 and INC-2
        _impact_row("Z01", "rain", 2, 3, 35.0, 0.633, 2, 1),
        # fog: no matched fix -> 0 fixes and no mean speed; no incident
        _impact_row("Z02", "fog", 1, 0, None, None, 0, 0),
    ], "weather_impact")


def test_weather_impact_without_gps_and_incidents_counts_zero(spark):
    got = run(spark, "weather_impact", weather=frame_of(spark, "weather", impact_weather()), gps_matched=None,
              emergency=None)
    assert_rows(got, [_impact_row("Z01", "clear", 2, 0, None, None, 0, 0),
                      _impact_row("Z01", "rain", 2, 0, None, None, 0, 0),
                      _impact_row("Z02", "fog", 1, 0, None, None, 0, 0)], "weather_impact")
    assert run(spark, "weather_impact", weather=None, gps_matched=frame_of(spark, "gps_matched", impact_gps()),
               emergency=frame_of(spark, "emergency", impact_emergency())) is None


# -- incident_response ----------------------------------------------------------------------------------------

INCIDENTS = {  # what each incident's updates carry
    "INC-1": dict(incident_type="collision", severity=3, zone_id="Z01", zone_name="Westfield", segment_id="SEG-0001",
                  road_class="ring", latitude=52.34, longitude=4.863, vehicles_involved=2),
    "INC-2": dict(incident_type="medical", severity=5, zone_id="Z02", zone_name="Old Town", segment_id=None,
                  road_class=None, latitude=52.345, longitude=4.89, vehicles_involved=0),
    "INC-3": dict(incident_type="breakdown", severity=1, zone_id="Z05", zone_name="Central", segment_id="SEG-0207",
                  road_class="residential", latitude=52.354373, longitude=4.89, vehicles_involved=1),
    "INC-4": dict(incident_type="fire", severity=4, zone_id="Z01", zone_name="Westfield", segment_id=None,
                  road_class=None, latitude=52.346, longitude=4.87, vehicles_involved=0),
    "INC-5": dict(incident_type="hazard", severity=2, zone_id="Z01", zone_name="Westfield", segment_id=None,
                  road_class=None, latitude=52.347, longitude=4.87, vehicles_involved=0),
    "INC-6": dict(incident_type="collision", severity=2, zone_id="Z01", zone_name="Westfield", segment_id="SEG-0005",
                  road_class="residential", latitude=52.342, longitude=4.865881, vehicles_involved=3),
    "INC-7": dict(incident_type="fire", severity=5, zone_id="Z01", zone_name="Westfield", segment_id=None,
                  road_class=None, latitude=52.3465, longitude=4.871, vehicles_involved=0),
}


def _update(incident: str, status: str, t: datetime, unit: str | None = None, **overrides) -> dict:
    return {"incident_id": incident, "status": status, "event_time": t, "unit_id": unit, **INCIDENTS[incident],
            **overrides}


def incident_updates() -> list[dict]:
    """Updates of hours 10 to 17 (the mart reads 10..16 for hour 10), deliberately not in time order."""
    return [
        _update("INC-1", "resolved", at(5, 0, hour=11), "EMG-1"),  # resolved in the next hour
        _update("INC-1", "on_scene", at(20), "EMG-1"),
        _update("INC-1", "reported", at(10)),
        _update("INC-1", "dispatched", at(12, 30), "EMG-1"),
        _update("INC-2", "on_scene", at(41), "EMG-2"),  # arrives before its dispatch update
        _update("INC-2", "reported", at(30)),
        _update("INC-2", "dispatched", at(33, 20), "EMG-2"),
        _update("INC-2", "resolved", at(10, 0, hour=17), "EMG-2"),  # after 17:00: beyond the 6 hours followed
        _update("INC-3", "reported", at(59)),  # nothing else yet
        _update("INC-4", "reported", at(2, 0, hour=11)),  # reported in the next hour: not in hour 10
        _update("INC-4", "dispatched", at(5, 0, hour=11), "EMG-4"),
        _update("INC-5", "dispatched", at(1), "EMG-5"),  # reported in hour 9: not in hour 10
        _update("INC-6", "reported", at(25), severity=4),  # reported again later: the first report counts
        _update("INC-6", "resolved", at(50, 45), "EMG-3"),
        _update("INC-6", "reported", at(20)),
        _update("INC-6", "dispatched", at(22), "EMG-3"),
        _update("INC-6", "on_scene", at(31, 15), "EMG-3"),
        _update("INC-7", "resolved", at(30, 0, hour=12), "EMG-6"),  # a fire: reported 10:40, out at 12:30
        _update("INC-7", "reported", at(40)),
        _update("INC-7", "on_scene", at(55), "EMG-6"),
        _update("INC-7", "dispatched", at(43), "EMG-6"),
    ]


def incident_weather() -> list[dict]:
    return [_reading("Z01", 9, "rain", 7.0, 90.0, 2.5, 3.0, 40),
            _reading("Z01", 10, "heavy_rain", 6.5, 95.0, 8.0, 3.0, 40),  # at INC-1's report: at or before counts
            _reading("Z01", 11, "clear", 7.5, 85.0, 0.0, 3.0, 40),  # after INC-1's, last before INC-6's (10:20)
            _reading("Z02", 45, "fog", 4.0, 99.0, 0.0, 1.0, 40),  # Z02 only after INC-2's report: the first one
            _reading("Z02", 50, "cloudy", 3.5, 90.0, 0.0, 1.0, 40),
            _reading("Z05", 58, "snow", -1.0, 90.0, 1.2, 2.0, 40, hour=9)]  # Z05: only in the previous hour


def _lifecycle(incident, unit, status, reported, dispatched, on_scene, resolved, to_dispatch, travel, to_scene,
               on_scene_min, to_resolve, condition, precipitation, temperature) -> dict:
    attributes = {k: v for k, v in INCIDENTS[incident].items()}
    return {"incident_id": incident, **attributes, "unit_id": unit, "status": status, "reported_at": reported,
            "dispatched_at": dispatched, "on_scene_at": on_scene, "resolved_at": resolved,
            "followed_until": at(0, hour=17),  # 6 hours after the end of hour 10
            "minutes_to_dispatch": to_dispatch, "minutes_travel": travel, "minutes_to_scene": to_scene,
            "minutes_on_scene": on_scene_min,
            "minutes_to_resolve": to_resolve, "weather_condition": condition, "precipitation_mm_h": precipitation,
            "temperature_c": temperature}


INCIDENTS_EXPECTED = [  # by report time
    # 10:10 -> 10:12:30 = 2.5 min, travel 7.5, -> 10:20 = 10, 10:20 -> 11:05 = 45, 10:10 -> 11:05 = 55
    _lifecycle("INC-1", "EMG-1", "resolved", at(10), at(12, 30), at(20), at(5, 0, hour=11), 2.5, 7.5, 10.0, 45.0,
               55.0, "heavy_rain", 8.0, 6.5),
    # 10:20 -> 10:22 = 2, travel 9.25, -> 10:31:15 = 11.25, 10:31:15 -> 10:50:45 = 19.5, 10:20 -> 10:50:45 = 30.75
    _lifecycle("INC-6", "EMG-3", "resolved", at(20), at(22), at(31, 15), at(50, 45), 2.0, 9.25, 11.25, 19.5, 30.75,
               "clear", 0.0, 7.5),
    # 10:30 -> 10:33:20 = 200 s = 3.33 min, travel 460 s = 7.67, -> 10:41 = 11; its 17:10 resolution is not followed
    _lifecycle("INC-2", "EMG-2", "on_scene", at(30), at(33, 20), at(41), None, 3.33, 7.67, 11.0, None, None,
               "fog", 0.0, 4.0),
    # 10:40 -> 10:43 = 3, travel 12, -> 10:55 = 15, 10:55 -> 12:30 = 95, 10:40 -> 12:30 = 110: across three hours
    _lifecycle("INC-7", "EMG-6", "resolved", at(40), at(43), at(55), at(30, 0, hour=12), 3.0, 12.0, 15.0, 95.0,
               110.0, "clear", 0.0, 7.5),
    # Z05's only reading is at 09:58, in the hour before: the last one at or before the report
    _lifecycle("INC-3", None, "reported", at(59), None, None, None, None, None, None, None, None, "snow", 1.2, -1.0),
]


def test_incident_response_lifecycle_across_the_next_hour_and_weather_at_report(spark):
    got = run(spark, "incident_response", emergency=frame_of(spark, "emergency", incident_updates()),
              weather=frame_of(spark, "weather", incident_weather()))
    assert_rows(got, INCIDENTS_EXPECTED, "incident_response")


def test_incident_response_without_weather_has_null_weather(spark):
    got = run(spark, "incident_response", emergency=frame_of(spark, "emergency", incident_updates()), weather=None)
    no_weather = {"weather_condition": None, "precipitation_mm_h": None, "temperature_c": None}
    assert_rows(got, [{**row, **no_weather} for row in INCIDENTS_EXPECTED], "incident_response")
    assert run(spark, "incident_response", emergency=None,
               weather=frame_of(spark, "weather", incident_weather())) is None


# -- public_transport -----------------------------------------------------------------------------------------

def _report(vehicle: str, route: str | None, speed: float, passengers: int | None, kind: str = "bus") -> dict:
    return {"vehicle_id": vehicle, "vehicle_type": kind, "route_id": route, "speed_kmh": speed,
            "passenger_count": passengers, "event_time": at(30)}


def transport_vehicles() -> list[dict]:
    return [_report("BUS-1", "R1", 20.0, 10), _report("BUS-1", "R1", 30.0, 20), _report("BUS-2", "R1", 25.0, 30),
            _report("BUS-5", "R1", 17.0, 0),
            _report("BUS-3", "R2", 40.0, 5),
            _report("BUS-7", "R4", 0.0, 12),  # no GPS fixes at all
            _report("BUS-4", None, 35.0, 0),  # a bus out of service
            _report("CAR-1", None, 50.0, None, kind="car")]


def _bus_fix(vehicle: str, minute: int, second: int, segment: str | None) -> dict:
    return {"vehicle_id": vehicle, "event_time": at(minute, second), **on_segment(segment)}


def transport_gps() -> list[dict]:
    """R1 runs SEG-0040 -> SEG-0001 -> SEG-0003 -> SEG-0006 (stops at the start of each); R2 SEG-0161 -> SEG-0165."""
    return [
        _bus_fix("BUS-1", 0, 30, "SEG-0001"), _bus_fix("BUS-1", 1, 0, "SEG-0003"),  # arrival at SEG-0003, 10:01
        _bus_fix("BUS-1", 2, 0, "SEG-0006"),  # arrival at SEG-0006
        _bus_fix("BUS-1", 9, 30, "SEG-0001"),  # from SEG-0006: not the route's way onto SEG-0001
        _bus_fix("BUS-1", 10, 0, "SEG-0003"),  # BUS-1 at SEG-0003 again, 10:10
        _bus_fix("BUS-2", 3, 30, "SEG-0001"), _bus_fix("BUS-2", 4, 0, "SEG-0003"),  # 10:04
        _bus_fix("BUS-2", 4, 20, "SEG-0003"),  # still on it: no new arrival
        _bus_fix("BUS-2", 24, 30, "SEG-0001"), _bus_fix("BUS-2", 25, 0, "SEG-0003"),  # 10:25
        _bus_fix("BUS-5", 6, 30, "SEG-0001"), _bus_fix("BUS-5", 6, 45, None),  # an unmatched fix in between
        _bus_fix("BUS-5", 7, 0, "SEG-0003"),  # 10:07
        _bus_fix("BUS-3", 20, 0, "SEG-0161"), _bus_fix("BUS-3", 21, 0, "SEG-0165"),  # R2's only arrival
        _bus_fix("BUS-4", 12, 0, "SEG-0001"), _bus_fix("BUS-4", 12, 30, "SEG-0003"),  # out of service: ignored
        _bus_fix("CAR-1", 5, 0, "SEG-0001"), _bus_fix("CAR-1", 5, 30, "SEG-0003"),  # not a bus: ignored
    ]


def _route(route, buses, reports, speed, mean_passengers, max_passengers, arrivals, headways, mean_headway, cv,
           max_headway, gaps, wait=None, excess=None, bunched=0) -> dict:
    return {"route_id": route, "buses": buses, "reports": reports, "mean_speed_kmh": speed,
            "mean_passengers": mean_passengers, "max_passengers": max_passengers, "stop_arrivals": arrivals,
            "headways": headways, "mean_headway_min": mean_headway, "headway_cv": cv, "max_headway_min": max_headway,
            "mean_wait_min": wait, "excess_wait_min": excess, "bunched_headways": bunched, "service_gaps": gaps}


def test_public_transport_service_headways_and_gaps(spark):
    got = run(spark, "public_transport", vehicle=frame_of(spark, "vehicle", transport_vehicles()),
              gps_matched=frame_of(spark, "gps_matched", transport_gps()))
    assert_rows(got, [
        # R1: speeds (20+30+25+17)/4 = 23, passengers 60/4 = 15; arrivals: SEG-0003 at 10:01, 10:04, 10:07, 10:10,
        # 10:25 and SEG-0006 at 10:02 = 6; headways at SEG-0003 3, 3, 3, 15 min: mean 6, population sd
        # sqrt((9+9+9+81)/4) = sqrt(27) = 5.196 -> cv 0.866; 15 > 2 x 6: one service gap; none under 3 (half
        # the mean): no bunching; average wait (9+9+9+225) / (2 x 24) = 5.25, excess 5.25 - 6/2 = 2.25
        _route("R1", 3, 4, 23.0, 15.0, 30, 6, 4, 6.0, 0.866, 15.0, 1, 5.25, 2.25, 0),
        # R2: one arrival, no headway
        _route("R2", 1, 1, 40.0, 5.0, 5, 1, 0, None, None, None, 0),
        # R4: no fixes, no arrivals
        _route("R4", 1, 1, 0.0, 12.0, 12, 0, 0, None, None, None, 0),
    ], "public_transport")


def test_public_transport_headways_reach_back_into_the_previous_hour(spark):
    """A bus of R1 reached SEG-0003 at 09:58: the first arrival of hour 10 there (10:01) has a 3-minute headway;
    the 09:58 arrival and the hour-9 report themselves count in hour 9, not here."""
    earlier = [{**_report("BUS-9", "R1", 22.0, 40), "event_time": at(57, hour=9)}]
    fixes = [{**_bus_fix("BUS-9", 0, 0, "SEG-0001"), "event_time": at(57, 30, hour=9)},
             {**_bus_fix("BUS-9", 0, 0, "SEG-0003"), "event_time": at(58, hour=9)}]
    got = run(spark, "public_transport", vehicle=frame_of(spark, "vehicle", earlier + transport_vehicles()),
              gps_matched=frame_of(spark, "gps_matched", fixes + transport_gps()))
    # R1 headways 3, 3, 3, 3, 15: mean 27/5 = 5.4; deviations -2.4 (x4) and 9.6: variance (4 x 5.76 + 92.16) / 5 =
    # 23.04, sd 4.8, cv 0.889; wait (4 x 9 + 225) / (2 x 27) = 4.833 -> 4.83, excess 4.833 - 2.7 = 2.13;
    # 15 > 10.8: one gap; nothing under 2.7
    assert_rows(got[:1], [_route("R1", 3, 4, 23.0, 15.0, 30, 6, 5, 5.4, 0.889, 15.0, 1, 4.83, 2.13, 0)],
                "public_transport")


def test_public_transport_bunching(spark):
    """Two buses a minute apart after a long gap: headways 10, 1, 10 at SEG-0003 -> mean 7; 1 < 3.5 is bunched."""
    vehicles = [_report("BUS-1", "R1", 20.0, 10), _report("BUS-2", "R1", 20.0, 10)]
    fixes = [_bus_fix("BUS-1", 0, 30, "SEG-0001"), _bus_fix("BUS-1", 1, 0, "SEG-0003"),
             _bus_fix("BUS-1", 10, 30, "SEG-0001"), _bus_fix("BUS-1", 11, 0, "SEG-0003"),
             _bus_fix("BUS-2", 11, 30, "SEG-0001"), _bus_fix("BUS-2", 12, 0, "SEG-0003"),
             _bus_fix("BUS-2", 21, 30, "SEG-0001"), _bus_fix("BUS-2", 22, 0, "SEG-0003")]
    got = run(spark, "public_transport", vehicle=frame_of(spark, "vehicle", vehicles),
              gps_matched=frame_of(spark, "gps_matched", fixes))
    # arrivals 10:01, 10:11, 10:12, 10:22: headways 10, 1, 10, mean 7, sd sqrt((9+36+9)/3) = 4.243, cv 0.606;
    # wait (100+1+100) / 42 = 4.786 -> 4.79, excess 4.786 - 3.5 = 1.29; nothing over 14
    assert_rows(got, [_route("R1", 2, 2, 20.0, 10.0, 10, 4, 3, 7.0, 0.606, 10.0, 0, 4.79, 1.29, 1)],
                "public_transport")


def test_public_transport_simultaneous_arrivals_give_null_ratios(spark):
    vehicles = [_report("BUS-1", "R1", 20.0, 10), _report("BUS-2", "R1", 20.0, 10)]
    fixes = [_bus_fix(bus, minute, second, segment) for bus in ("BUS-1", "BUS-2")
             for minute, second, segment in ((0, 30, "SEG-0001"), (1, 0, "SEG-0003"))]
    got = run(spark, "public_transport", vehicle=frame_of(spark, "vehicle", vehicles),
              gps_matched=frame_of(spark, "gps_matched", fixes))
    # both buses reach SEG-0003 at 10:01:00: 2 arrivals, one headway of 0 min; cv = sd / mean and the wait
    # sum(h^2) / (2 sum(h)) are 0 / 0: undefined, null (as the travel time index at a mean speed of 0);
    # 0 is not under 0.5 x 0 nor over 2 x 0: no bunching, no gap by the definitions
    assert_rows(got, [_route("R1", 2, 2, 20.0, 10.0, 10, 2, 1, 0.0, None, 0.0, 0, None, None, 0)],
                "public_transport")


def test_public_transport_without_gps_has_no_arrivals(spark):
    got = run(spark, "public_transport", vehicle=frame_of(spark, "vehicle", transport_vehicles()), gps_matched=None)
    assert_rows(got, [_route("R1", 3, 4, 23.0, 15.0, 30, 0, 0, None, None, None, 0),
                      _route("R2", 1, 1, 40.0, 5.0, 5, 0, 0, None, None, None, 0),
                      _route("R4", 1, 1, 0.0, 12.0, 12, 0, 0, None, None, None, 0)], "public_transport")
    assert run(spark, "public_transport", vehicle=None,
               gps_matched=frame_of(spark, "gps_matched", transport_gps())) is None


@pytest.mark.parametrize("mart", sorted(FRAMES))
def test_every_mart_has_a_frame_reading_its_spec_inputs(mart):
    """The frames cover the marts, and this module builds every input table each mart reads."""
    assert set(FRAMES) == set(MARTS)
    assert set(MARTS[mart].input_tables) <= set(DEFAULTS)
