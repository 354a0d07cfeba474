"""The Spark transform of raw rows into transformed tables (`smartcity.spark.transform.transform`) with its
enrichment (`smartcity.spark.enrich`) and map matching (`smartcity.spark.mapmatch`), on hand-built rows:
deduplication on event_id (the lowest Kafka coordinates win, whatever the input order), the table's column
order and sort, the zone of a point (rectangles, outer zones unbounded, a point outside the city), zone
names, camera segments (known and unknown), incident places (on and off road), and matching GPS fixes to the
directed segment in their direction of travel, with the distance, or to nothing beyond the match radius.
Expected values are worked out by hand, and the map matching also by a brute-force search over every
segment written here."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from smartcity import contracts, reference, tables
from smartcity.lake.schemas import RAW_FILE_SCHEMAS
from smartcity.spark.transform import collect_sorted, transform

T0 = datetime(2026, 11, 29, 10, 5, tzinfo=timezone.utc)
ZONES = {z["zone_id"]: z for z in reference.zones().to_pylist()}
SEGMENTS = {s["segment_id"]: s for s in reference.segments().to_pylist()}
LAT0, LON0 = 52.34, 4.86  # the city's south-west corner
M_PER_DEG_LAT = 111_320.0
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(LAT0))


def uid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def envelope(source: str, i: int, t: datetime, partition: int = 0, offset: int | None = None) -> dict:
    return {"kafka_topic": contracts.BY_NAME[source].topic, "kafka_partition": partition,
            "kafka_offset": i if offset is None else offset, "kafka_timestamp": t, "ingest_time": t + timedelta(
                seconds=1)}


def vehicle_raw(i: int, **overrides) -> dict:
    t = overrides.get("event_time", T0)
    return {"event_id": uid(i), "vehicle_id": f"VEH-{i:05d}", "event_time": t, "vehicle_type": "car",
            "fuel_type": "petrol", "latitude": 52.356, "longitude": 4.895, "speed_kmh": 30.0, "heading_deg": 90.0,
            "energy_level_pct": 60.0, "odometer_km": 1234.5, "engine_temp_c": 88.0, "route_id": None,
            "passenger_count": None, **envelope("vehicle", i, t), **overrides}


def gps_raw(i: int, **overrides) -> dict:
    t = overrides.get("event_time", T0)
    return {"event_id": uid(i), "vehicle_id": f"VEH-{i:05d}", "event_time": t, "latitude": 52.356, "longitude": 4.895,
            "speed_kmh": 30.0, "heading_deg": 90.0, "accuracy_m": 3.0, "satellites": 9, **envelope("gps", i, t),
            **overrides}


def camera_raw(i: int, **overrides) -> dict:
    t = overrides.get("event_time", T0)
    return {"event_id": uid(i), "camera_id": f"CAM-{i:04d}", "event_time": t, "segment_id": "SEG-0001",
            "latitude": 52.37, "longitude": 4.92, "window_seconds": 60, "vehicle_count": 4, "car_count": 3,
            "bus_count": 1, "truck_count": 0, "emergency_count": 0, "mean_speed_kmh": 30.0,
            **envelope("traffic_camera", i, t), **overrides}


def weather_raw(i: int, **overrides) -> dict:
    t = overrides.get("event_time", T0)
    return {"event_id": uid(i), "station_id": "WS-Z01", "event_time": t, "zone_id": "Z01", "latitude": 52.345,
            "longitude": 4.87, "temperature_c": 8.0, "humidity_pct": 80.0, "precipitation_mm_h": 0.0,
            "wind_speed_ms": 3.0, "wind_direction_deg": 270.0, "pressure_hpa": 1012.0, "air_quality_index": 40,
            "pm25_ugm3": 8.0, "condition": "cloudy", **envelope("weather", i, t), **overrides}


def emergency_raw(i: int, **overrides) -> dict:
    t = overrides.get("event_time", T0)
    return {"event_id": uid(i), "incident_id": f"INC-{i:06d}", "event_time": t, "incident_type": "collision",
            "severity": 3, "status": "reported", "latitude": 52.345, "longitude": 4.87, "zone_id": "Z01",
            "segment_id": "SEG-0001", "unit_id": None, "vehicles_involved": 2, **envelope("emergency", i, t),
            **overrides}


def raw_frame(spark, source: str, rows: list[dict]):
    return spark.createDataFrame(pa.Table.from_pylist(rows, schema=RAW_FILE_SCHEMAS[source]))


def transformed_frame(spark, table: str, rows: list[dict]):
    """Rows in the exact schema of a transformed table (missing columns null)."""
    columns = tables.BY_NAME[table].columns
    schema = pa.schema([pa.field(c.name, c.arrow_field().type) for c in columns])
    return spark.createDataFrame(pa.Table.from_pylist([{c.name: r.get(c.name) for c in columns} for r in rows],
                                                      schema=schema))


def run(spark, table: str, frame) -> list[dict]:
    """The table's transform of `frame`, collected; its columns are the table spec's, in order."""
    out = transform(spark, frame, tables.BY_NAME[table])
    assert out.columns == tables.BY_NAME[table].column_names
    return collect_sorted(out).to_pylist()


def zone(zone_id: str | None) -> dict:
    return {"zone_id": zone_id, "zone_name": ZONES[zone_id]["zone_name"] if zone_id else None}


def assert_rows(got: list[dict], want: list[dict]) -> None:
    assert [r["event_id"] for r in got] == [r["event_id"] for r in want]
    for g, w in zip(got, want):
        assert set(g) == set(w), set(g) ^ set(w)
        wrong = {c: (g[c], w[c]) for c in g if not (
            math.isclose(g[c], w[c], rel_tol=0, abs_tol=1e-9) if isinstance(w[c], float) and g[c] is not None
            else g[c] == w[c])}
        assert not wrong, f"{w['event_id']}: column: (got, want) {wrong}"


# -- deduplication, order ------------------------------------------------------------------------------------

def test_duplicates_keep_the_lowest_kafka_coordinates_and_rows_are_sorted(spark):
    a_late = vehicle_raw(1, speed_kmh=99.0, **envelope("vehicle", 1, T0, offset=5))
    a_first = vehicle_raw(1, speed_kmh=10.0, **envelope("vehicle", 1, T0, offset=2))
    b_partition_1 = vehicle_raw(2, speed_kmh=50.0, event_time=T0 - timedelta(minutes=1),
                                **envelope("vehicle", 2, T0 - timedelta(minutes=1), partition=1, offset=0))
    b_partition_0 = vehicle_raw(2, speed_kmh=60.0, event_time=T0 - timedelta(minutes=1),
                                **envelope("vehicle", 2, T0 - timedelta(minutes=1), partition=0, offset=7))
    c_early = vehicle_raw(3, event_time=T0 - timedelta(minutes=4), **envelope("vehicle", 3, T0, offset=9))
    # same event time as event 1: sorted by event_id after it; outside the city (south-west): Z01
    d_tie = vehicle_raw(4, latitude=52.30, longitude=4.80, **envelope("vehicle", 4, T0, offset=1))
    rows = [a_late, b_partition_1, d_tie, a_first, c_early, b_partition_0]  # later copies first
    got = run(spark, "vehicle", raw_frame(spark, "vehicle", rows))
    central = zone("Z05")  # (52.356, 4.895) lies in Central
    assert_rows(got, [{**c_early, **central},  # 10:01
                      {**b_partition_0, **central},  # 10:04, partition 0 before partition 1
                      {**a_first, **central},  # 10:05, offset 2 before offset 5 (listed first)
                      {**d_tie, **zone("Z01")}])


# -- zones of points -------------------------------------------------------------------------------------------

def test_gps_zone_of_point_with_unbounded_outer_zones_and_half_open_borders(spark):
    z01, z05 = ZONES["Z01"], ZONES["Z05"]
    points = [  # (latitude, longitude, zone worked out by hand from the 3 x 3 rectangles)
        (52.345, 4.870, "Z01"), (52.345, 4.920, "Z03"), (52.356, 4.895, "Z05"), (52.370, 4.870, "Z07"),
        (52.370, 4.920, "Z09"),
        (52.300, 4.800, "Z01"),  # outside the city, south-west: the corner zone extends to infinity
        (52.400, 5.000, "Z09"),  # outside, north-east
        (52.356, 4.700, "Z04"),  # outside, west of the middle row
        (52.300, 4.895, "Z02"),  # outside, south of the middle column
        (z01["max_lat"], 4.870, "Z04"),  # on the Z01 / Z04 border: a zone holds its minimum, not its maximum
        (52.356, z05["min_lon"], "Z05"),  # on the Z04 / Z05 border
    ]
    rows = [gps_raw(i, latitude=lat, longitude=lon, event_time=T0 + timedelta(seconds=i))
            for i, (lat, lon, _) in enumerate(points)]
    got = run(spark, "gps", raw_frame(spark, "gps", rows))
    assert_rows(got, [{**row, **zone(z)} for row, (_, _, z) in zip(rows, points)])
    for lat, lon, z in points:  # and the hand-worked zones are the only rectangle holding each point
        assert [k for k, r in ZONES.items() if r["min_lat"] <= lat < r["max_lat"]
                and r["min_lon"] <= lon < r["max_lon"]] == [z]


def test_weather_gets_the_name_of_its_zone(spark):
    rows = [weather_raw(1, zone_id="Z01"), weather_raw(2, zone_id="Z09", station_id="WS-Z09"),
            weather_raw(3, zone_id="Z99", station_id="WS-Z99")]  # an unknown zone: no name
    got = run(spark, "weather", raw_frame(spark, "weather", rows))
    assert_rows(got, [{**rows[0], "zone_name": "Westfield"}, {**rows[1], "zone_name": "Airport Road"},
                      {**rows[2], "zone_name": None}])


# -- cameras and incidents -------------------------------------------------------------------------------------

def test_camera_counts_get_their_segment_and_speed_ratio(spark):
    # the camera's coordinates (52.37, 4.92: Z09) do not decide its zone: its segment's does
    rows = [camera_raw(1, segment_id="SEG-0011", mean_speed_kmh=40.0),
            camera_raw(2, segment_id="SEG-0005", mean_speed_kmh=10.0),
            camera_raw(3, segment_id="SEG-0012", mean_speed_kmh=None, vehicle_count=0, car_count=0, bus_count=0),
            camera_raw(4, segment_id="SEG-9999", mean_speed_kmh=20.0)]  # a segment the city does not have
    got = run(spark, "traffic_camera", raw_frame(spark, "traffic_camera", rows))
    assert_rows(got, [
        {**rows[0], "zone_id": "Z01", "road_class": "arterial", "speed_limit_kmh": 50.0, "speed_ratio": 0.8},  # 40/50
        {**rows[1], "zone_id": "Z01", "road_class": "residential", "speed_limit_kmh": 30.0,
         "speed_ratio": 0.333},  # 10/30
        {**rows[2], "zone_id": "Z02", "road_class": "ring", "speed_limit_kmh": 70.0, "speed_ratio": None},
        {**rows[3], "zone_id": None, "road_class": None, "speed_limit_kmh": None, "speed_ratio": None},
    ])


def test_incidents_get_zone_name_and_road_class_or_null_off_road(spark):
    rows = [emergency_raw(1, zone_id="Z02", segment_id="SEG-0012"),
            emergency_raw(2, zone_id="Z05", segment_id=None, incident_type="medical"),  # off-road
            emergency_raw(3, zone_id="Z42", segment_id="SEG-0005")]  # an unknown zone
    got = run(spark, "emergency", raw_frame(spark, "emergency", rows))
    assert_rows(got, [{**rows[0], "zone_name": "Old Town", "road_class": "ring"},
                      {**rows[1], "zone_name": "Central", "road_class": None},
                      {**rows[2], "zone_name": None, "road_class": "residential"}])


# -- map matching ------------------------------------------------------------------------------------------------

def moved(lat: float, lon: float, east_m: float = 0.0, north_m: float = 0.0) -> tuple[float, float]:
    return lat + north_m / M_PER_DEG_LAT, lon + east_m / M_PER_DEG_LON


def midpoint(segment_id: str) -> tuple[float, float]:
    s = SEGMENTS[segment_id]
    return (s["start_lat"] + s["end_lat"]) / 2, (s["start_lon"] + s["end_lon"]) / 2


def brute_force_match(lat: float, lon: float, heading: float) -> tuple[str | None, float | None]:
    """Every segment's distance to the fix (flat earth around the city); of those within 50 m, the nearest whose
    direction is within 90 degrees of the heading, else the nearest of all; ties by segment id."""
    px, py = (lon - LON0) * M_PER_DEG_LON, (lat - LAT0) * M_PER_DEG_LAT
    near = []
    for sid, s in SEGMENTS.items():
        ax, ay = (s["start_lon"] - LON0) * M_PER_DEG_LON, (s["start_lat"] - LAT0) * M_PER_DEG_LAT
        bx, by = (s["end_lon"] - LON0) * M_PER_DEG_LON, (s["end_lat"] - LAT0) * M_PER_DEG_LAT
        f = max(0.0, min(1.0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)))
        d = math.hypot(px - ax - f * (bx - ax), py - ay - f * (by - ay))
        turn = abs(heading - s["heading_deg"]) % 360
        if d <= tables.MATCH_RADIUS_M:
            near.append((min(turn, 360 - turn) > 90, d, sid))
    if not near:
        return None, None
    _, d, sid = min(near)
    return sid, round(d, 1)


def test_gps_fixes_match_the_segment_in_their_direction_of_travel(spark):
    node = (SEGMENTS["SEG-0207"]["start_lat"], SEGMENTS["SEG-0207"]["start_lon"])  # a Central junction
    east, north = midpoint("SEG-0207"), midpoint("SEG-0209")  # SEG-0207 runs east (0212 back west), 0209 north
    south_ring = midpoint("SEG-0001")  # the city's southern edge, eastwards
    fixes = [  # (position, heading, segment, distance by hand, zone)
        (east, 90.0, "SEG-0207", 0.0, "Z05"),  # on the road, driving east: the eastbound segment
        (east, 270.0, "SEG-0212", 0.0, "Z05"),  # same place, driving west: the westbound one
        (moved(*east, north_m=20), 85.0, "SEG-0207", 20.0, "Z05"),
        (moved(*east, north_m=-30), 265.0, "SEG-0212", 30.0, "Z05"),
        (moved(*east, north_m=49), 90.0, "SEG-0207", 49.0, "Z05"),  # inside the 50 m radius
        (moved(*east, north_m=60), 90.0, None, None, "Z05"),  # 60 m from the road (the next is 340 m away)
        # 5 m east, 3 m north of the junction heading 10 degrees: SEG-0207 at 3 m (80 degrees off) beats the
        # westbound SEG-0212 (also 3 m, but 100 degrees off) and the northbound SEG-0209 (5 m)
        (moved(*node, east_m=5, north_m=3), 10.0, "SEG-0207", 3.0, "Z05"),
        (north, 359.0, "SEG-0209", 0.0, "Z05"),  # 359 is 1 degree from north: northbound, not SEG-0260
        (moved(*north, east_m=10), 180.0, "SEG-0260", 10.0, "Z05"),  # southbound
        (moved(*south_ring, north_m=-30), 90.0, "SEG-0001", 30.0, "Z01"),  # just outside the city, on the ring
        ((52.30, 4.80), 90.0, None, None, "Z01"),  # far outside: no road near, the corner zone
    ]
    rows = [{**gps_raw(i, latitude=lat, longitude=lon, heading_deg=heading, event_time=T0 + timedelta(seconds=i)),
             "zone_id": "Z99", "zone_name": "stale"}  # the upstream gps table's zone, recomputed
            for i, ((lat, lon), heading, *_) in enumerate(fixes)]
    # a later copy of the first fix (other heading), listed first: dropped before matching
    rows.insert(0, {**rows[0], "heading_deg": 270.0, "kafka_offset": 100})
    got = run(spark, "gps_matched", transformed_frame(spark, "gps", rows))
    want = []
    for row, ((lat, lon), heading, segment, distance, zone_id) in zip(rows[1:], fixes):
        assert brute_force_match(lat, lon, heading) == (segment, distance), (lat, lon, heading)
        s = SEGMENTS.get(segment, {})
        want.append({**row, "segment_id": segment, "match_distance_m": distance, "road_class": s.get("road_class"),
                     "speed_limit_kmh": s.get("speed_limit_kmh"), **zone(zone_id)})
    assert_rows(got, want)


def test_gps_matched_of_an_hour_without_gps_is_empty(spark):
    empty = spark.createDataFrame(RAW_FILE_SCHEMAS["gps"].empty_table())
    assert run(spark, "gps_matched", empty) == []


@pytest.mark.parametrize("table", [t.name for t in tables.TABLES])
def test_each_table_has_its_source_raw_schema(table):
    """The raw rows built here carry exactly the raw file columns of each source."""
    contract = tables.BY_NAME[table].contract.name
    builder = {"vehicle": vehicle_raw, "gps": gps_raw, "traffic_camera": camera_raw, "weather": weather_raw,
               "emergency": emergency_raw}[contract]
    assert list(builder(1)) == RAW_FILE_SCHEMAS[contract].names
