"""The Dagster asset graph on real Spark and a real lake folder: definitions, sensor, transforms, checks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa

from smartcity import contracts, reference
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.manifests import DataFile, Manifest
from smartcity.lake.reader import LakeReader
from smartcity.simulator.run import SimulationConfig, run_simulation
from smartcity_assets.catalog import CATALOG
from smartcity_assets.marts import MARTS
from smartcity_assets.partitions import HOURLY
from smartcity_assets.raw import RAW_SPECS
from smartcity_assets.resources import LakeResource, resources_for
from smartcity_assets.sensors import evaluate, raw_manifest_sensor
from smartcity_assets.transformed import (
    TABLES,
    TRANSFORMED,
    read_transformed,
    transformed_key,
    transformed_path,
)
from streaming.job import StreamRun, run_stream
from streaming.schemas import RAW_FILE_SCHEMAS

HOUR_10, HOUR_11 = "2026-11-29-10:00", "2026-11-29-11:00"
ROOT = Path(__file__).parents[1]


def land(settings, spark, events: int, start: datetime, seed: int = 1, **extra):
    config = SimulationConfig(events=events, seed=seed, start=start, progress=False, **extra)
    assert run_simulation(settings, config).failed == 0
    run_stream(settings, StreamRun(available_now=True, progress=False), spark=spark)


def materialize(settings, partition_key: str, selection=None, extra_assets=()):
    return dg.materialize([*RAW_SPECS, *TRANSFORMED, *CATALOG, *MARTS, *extra_assets], partition_key=partition_key,
                          resources=resources_for(settings),
                          selection=selection or dg.AssetSelection.groups("transformed"), raise_on_error=False)


def sensor_tick(settings, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"lake": LakeResource(uri=settings.lake)})
    return raw_manifest_sensor(context)


def test_definitions_load_and_validate():
    from smartcity_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == ({f"raw/{c.name}" for c in contracts.CONTRACTS} | {f"transformed/{t.name}" for t in TABLES}
                    | {f"catalog/transformed_{t.name}" for t in TABLES} | {f"catalog/raw_{c.name}" for c in contracts.CONTRACTS}
                    | {f"marts/{m}" for m in ("traffic_congestion", "environment", "weather_impact", "incident_response",
                                              "public_transport")} | {"report/city_report"})
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == key.path[0] and node.description and node.owners
        if key.path[0] != "report":  # the report spans hours: unpartitioned, charts rather than a table
            assert node.partitions_def == HOURLY and "dagster/column_schema" in node.metadata
    specs = {s.name for a in TRANSFORMED for s in a.check_specs if s.asset_key == transformed_key("traffic_camera")}
    assert {"event_id_unique", "counts_add_up", "event_time_in_partition", "vehicle_count_in_range"} <= specs
    assert {k.name for k in defs.resolve_asset_graph().asset_check_keys
            if k.asset_key == transformed_key("traffic_camera")} == specs
    assert raw_manifest_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.sensors == [raw_manifest_sensor]
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"})
    assert result.returncode == 0, result.stderr[-2000:]


def test_sensor_reports_partitions_and_requests_affected_hours_once(broker_only, spark):
    # 30 s before 11:00 with late events: batches touch hour 10 and hour 11
    land(broker_only, spark, 30_000, datetime(2026, 11, 29, 10, 59, 30, tzinfo=timezone.utc),
         late_share=0.05, max_lateness_s=200, malformed_share=0.01)
    first = sensor_tick(broker_only)
    assert isinstance(first, dg.SensorResult)
    raw_events = {(e.asset_key.path[1], e.partition) for e in first.asset_events}
    lake = Lake.from_settings(broker_only)
    reader = LakeReader(lake)
    on_disk = {(p.source, f"{p.date}-{p.hour:02d}:00") for c in contracts.CONTRACTS
               for p in reader.partitions("raw", c.name)}
    assert raw_events == on_disk and {h for _, h in raw_events} == {HOUR_10, HOUR_11}
    for e in first.asset_events:  # offset ranges are those of the event's own topic, and non-empty
        ranges = e.metadata["kafka_offset_ranges"].value
        assert ranges and all(k.startswith(contracts.BY_NAME[e.asset_key.path[1]].topic + "/") for k in ranges)
    rows = sum(e.metadata["rows_added"].value for e in first.asset_events)
    assert rows == sum(reader.read_partition(p).num_rows for c in contracts.CONTRACTS
                       for p in reader.partitions("raw", c.name))
    main = [r for r in first.run_requests if transformed_key("gps") in r.asset_selection]
    by_partition = {r.partition_key: r for r in main}
    assert set(by_partition) == {HOUR_10, HOUR_11} and len(main) == 2
    sources_10 = {s for s, h in raw_events if h == HOUR_10}
    marts = {("marts", m) for m in ("traffic_congestion", "environment", "weather_impact", "incident_response",
                                    "public_transport")}
    assert {tuple(k.path) for k in by_partition[HOUR_10].asset_selection} == {
        ("transformed", t) for t in sources_10 | {"gps_matched"}} | {
        ("catalog", f"transformed_{t}") for t in sources_10 | {"gps_matched"}} | {
        ("catalog", f"raw_{s}") for s in sources_10} | marts
    # the incident mart reads the next hour too: new emergency updates of hour H make its hour H-1 stale
    # when that was built before; then it is requested again, after hour H's own run
    incident = dg.AssetKey(["marts", "incident_response"])
    assert [r for r in first.run_requests if r not in main] == []  # no mart hour was built yet
    found, cursor = manifests.list_after(lake, manifests.Cursor())
    built = evaluate(found, cursor, computed=lambda key, hour: True)
    follow_ups = [(r.partition_key, r.asset_selection) for r in built.run_requests
                  if transformed_key("gps") not in r.asset_selection]
    previous = {HOUR_10: "2026-11-29-09:00", HOUR_11: HOUR_10}
    assert follow_ups == [(previous[h], [incident]) for h in (HOUR_10, HOUR_11) if ("emergency", h) in raw_events]
    assert follow_ups, "the landed events include incident updates"
    keys = [r.run_key for r in built.run_requests]
    for r in built.run_requests:
        if "after:" in r.run_key:  # after the run of the hour whose change it follows
            after = r.run_key.split("|")[1].removeprefix("after:")
            assert keys.index(next(k for k in keys if k.startswith(after + "|") and "after:" not in k)) < \
                keys.index(r.run_key)

    # runs not started yet already cover hour 10: the tick coalesces into them instead of queueing more
    pending = {HOUR_10: set(by_partition[HOUR_10].asset_selection)}
    coalesced = evaluate(found, cursor, pending)
    assert [r.partition_key for r in coalesced.run_requests if transformed_key("gps") in r.asset_selection] == [
        HOUR_11]
    assert len(coalesced.asset_events) == len(first.asset_events)  # landings are still recorded

    # nothing new: nothing requested
    second = sensor_tick(broker_only, first.cursor)
    assert isinstance(second, dg.SkipReason)

    # a late event for hour 10 arrives: hour 10 is requested again, with a new run key
    land(broker_only, spark, 2_000, datetime(2026, 11, 29, 10, 30, tzinfo=timezone.utc), seed=2)
    third = sensor_tick(broker_only, first.cursor)
    assert [r.partition_key for r in third.run_requests][0] == HOUR_10
    assert third.run_requests[0].run_key != by_partition[HOUR_10].run_key
    # the same tick evaluated again (e.g. the cursor was not saved) asks for the same run key: deduplicated
    assert [r.run_key for r in sensor_tick(broker_only, first.cursor).run_requests] == \
        [r.run_key for r in third.run_requests]


def _expected(lake: Lake, source: str, partition_key: str) -> pd.DataFrame:
    """Independent computation in pandas: first copy of each event_id by Kafka coordinates, plus zone."""
    raw = LakeReader(lake).read_partition(layout.PartitionKey("raw", source, partition_key[:10],
                                                              int(partition_key[11:13]))).to_pandas()
    raw = raw.sort_values(["event_id", "kafka_topic", "kafka_partition", "kafka_offset"])
    first = raw.drop_duplicates("event_id", keep="first")
    zones = reference.zones().to_pandas()

    def zone(lat, lon):
        hit = zones[(zones.min_lat <= lat) & (lat < zones.max_lat) & (zones.min_lon <= lon) & (lon < zones.max_lon)]
        return hit.zone_id.iloc[0]

    first = first.assign(zone_id=[zone(a, b) for a, b in zip(first.latitude, first.longitude)])
    return first.sort_values("event_id").reset_index(drop=True)


def _nearest_segment(lat: float, lon: float, heading: float) -> str | None:
    import math

    lat0, lon0 = reference.origin()
    to_x, to_y = reference.metres_per_degree()
    px, py = (lon - lon0) * to_x, (lat - lat0) * to_y
    best = None
    for s in reference.segments().to_pylist():
        x0, y0 = (s["start_lon"] - lon0) * to_x, (s["start_lat"] - lat0) * to_y
        x1, y1 = (s["end_lon"] - lon0) * to_x, (s["end_lat"] - lat0) * to_y
        t = max(0.0, min(1.0, ((px - x0) * (x1 - x0) + (py - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2)))
        d = math.hypot(px - x0 - t * (x1 - x0), py - y0 - t * (y1 - y0))
        if d > 50:
            continue
        turn = abs(((heading - s["heading_deg"] + 540) % 360) - 180)
        score = d + (1000 if turn > 90 else 0)
        if best is None or (score, s["segment_id"]) < best:
            best = (score, s["segment_id"])
    return best[1] if best else None


def test_transform_deduplicates_enriches_and_is_idempotent(broker_only, spark):
    start = datetime(2026, 11, 29, 10, 20, tzinfo=timezone.utc)
    land(broker_only, spark, 8_000, start)
    land(broker_only, spark, 3_000, start)  # the same seed again: 3,000 events delivered twice
    lake = Lake.from_settings(broker_only)
    result = materialize(broker_only, HOUR_10)
    assert result.success
    counts = {e.asset_key.path[1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert sum(m["duplicates_removed"].value for m in counts.values()) == 3_000
    assert all(ev.passed for ev in result.get_asset_check_evaluations())

    for source in ("gps", "vehicle"):
        got = read_transformed(lake, source, HOUR_10).to_pandas().sort_values("event_id").reset_index(drop=True)
        want = _expected(lake, source, HOUR_10)
        assert len(got) == len(want) and got.event_id.is_unique
        assert got.event_id.tolist() == want.event_id.tolist()
        assert got.kafka_offset.tolist() == want.kafka_offset.tolist()  # the first delivery was kept
        assert got.zone_id.tolist() == want.zone_id.tolist()
        assert got.speed_kmh.tolist() == want.speed_kmh.tolist()
    # map matching against a brute-force search over every segment (no grid cells)
    matched = read_transformed(lake, "gps_matched", HOUR_10).to_pandas()
    assert len(matched) == len(read_transformed(lake, "gps", HOUR_10))
    sample = matched.sample(300, random_state=1)
    assert (sample.segment_id.tolist() == [_nearest_segment(r.latitude, r.longitude, r.heading_deg)
                                          for r in sample.itertuples()])
    assert matched.segment_id.notna().mean() > 0.99 and matched.match_distance_m.max() <= 50

    camera = read_transformed(lake, "traffic_camera", HOUR_10).to_pandas()
    segments = reference.segments().to_pandas().set_index("segment_id")
    assert (camera.zone_id == segments.loc[camera.segment_id, "zone_id"].values).all()
    ratio = (camera.mean_speed_kmh / camera.speed_limit_kmh).round(3)
    assert ((camera.speed_ratio == ratio) | camera.speed_ratio.isna()).all()

    digests = {t.name: hashlib.sha256(Path(lake.path(transformed_path(t.name, HOUR_10))).read_bytes()).hexdigest()
               for t in TABLES}
    assert materialize(broker_only, HOUR_10).success
    assert digests == {t.name: hashlib.sha256(Path(lake.path(transformed_path(t.name, HOUR_10))).read_bytes())
                       .hexdigest() for t in TABLES}


def _commit_raw(lake: Lake, source: str, rows: list[dict], batch: int, hour: int = 10) -> None:
    """Write raw rows the way the streaming sink does (file + manifest), bypassing contract validation."""
    schema = RAW_FILE_SCHEMAS[source]
    table = pa.Table.from_pylist(rows, schema=schema)
    part = layout.PartitionKey("raw", source, "2026-11-29", hour)
    stream = "ab" * 8
    rel = f"{part.directory}/{layout.data_file_name(stream, batch, uuid.uuid4().hex)}"
    size = lake.write_parquet(table, lake.path(rel))
    manifests.commit(lake, Manifest(stream, batch, manifests.now_iso(),
                                    [DataFile(rel, "raw", source, part.date, part.hour, len(rows), size)], []))


def _camera_row(i: int, **overrides) -> dict:
    t = datetime(2026, 11, 29, 10, 5, tzinfo=timezone.utc)
    row = {"event_id": str(uuid.UUID(int=i, version=4)), "camera_id": "CAM-0001", "event_time": t,
           "segment_id": "SEG-0001", "latitude": 52.34, "longitude": 4.86, "window_seconds": 60,
           "vehicle_count": 3, "car_count": 2, "bus_count": 1, "truck_count": 0, "emergency_count": 0,
           "mean_speed_kmh": 30.0, "kafka_topic": contracts.TRAFFIC_CAMERA.topic, "kafka_partition": 0,
           "kafka_offset": i, "kafka_timestamp": t, "ingest_time": t}
    row.update(overrides)
    return row


@dg.asset(key=["test", "downstream_of_camera"], deps=[transformed_key("traffic_camera")], partitions_def=HOURLY)
def downstream_of_camera() -> None:
    """Stands in for a mart: must not run when a blocking check of its input fails."""


def test_checks_fail_with_counts_and_block_downstream(tmp_path, spark):
    from .conftest import embedded_settings

    settings = embedded_settings(tmp_path)
    lake = Lake.from_settings(settings)
    bad = ([_camera_row(i) for i in range(20)]
           + [_camera_row(100 + i, vehicle_count=9) for i in range(4)]  # counts do not add up
           + [_camera_row(200 + i, event_time=datetime(2026, 11, 29, 11, 1, tzinfo=timezone.utc),
                          ingest_time=datetime(2026, 11, 29, 11, 2, tzinfo=timezone.utc)) for i in range(3)]
           + [_camera_row(300 + i, segment_id="SEG-9999") for i in range(2)]  # unknown segment
           + [_camera_row(400, vehicle_count=0, car_count=0, bus_count=0, mean_speed_kmh=None),
              _camera_row(401, mean_speed_kmh=200.0)])  # implausible speed: warning only
    _commit_raw(lake, "traffic_camera", bad, batch=0)
    selection = dg.AssetSelection.assets(transformed_key("traffic_camera"), downstream_of_camera.key)
    result = materialize(settings, HOUR_10, selection=selection, extra_assets=[downstream_of_camera])
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = {n: e.metadata["failing_rows"].value for n, e in evaluations.items() if not e.passed}
    assert failed == {"counts_add_up": 4, "event_time_in_partition": 3, "known_segment": 2, "plausible_speed": 1}
    assert evaluations["plausible_speed"].severity == dg.AssetCheckSeverity.WARN
    assert len(evaluations["counts_add_up"].metadata["sample_failing_rows"].value) == 4
    assert evaluations["mean_speed_only_with_traffic"].passed and evaluations["event_id_unique"].passed
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert transformed_key("traffic_camera") in materialized and downstream_of_camera.key not in materialized

    # a clean partition passes every check and lets downstream run
    clean = tmp_path / "clean"
    settings = embedded_settings(clean)
    _commit_raw(Lake.from_settings(settings), "traffic_camera", [_camera_row(i) for i in range(20)], batch=0)
    result = materialize(settings, HOUR_10, selection=selection, extra_assets=[downstream_of_camera])
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    assert downstream_of_camera.key in {e.asset_key for e in result.get_asset_materialization_events()}


def test_full_chain_simulate_stream_sensor_transform(broker_only, live_stack, spark):
    from pydantic import SecretStr

    broker_only = broker_only.model_copy(update={"warehouse_url": SecretStr(live_stack.warehouse_dsn)})
    land(broker_only, spark, 20_000, datetime(2026, 11, 29, 10, 59, tzinfo=timezone.utc), late_share=0.03,
         malformed_share=0.02)
    tick = sensor_tick(broker_only)
    assert tick.run_requests
    for request in tick.run_requests:
        result = materialize(broker_only, request.partition_key, selection=dg.AssetSelection.assets(
            *request.asset_selection))
        assert result.success
        # every blocking check passes (a warning, e.g. a GPS fix too far from any road, may not)
        assert all(e.passed for e in result.get_asset_check_evaluations()
                   if e.severity == dg.AssetCheckSeverity.ERROR)
    lake = Lake.from_settings(broker_only)
    landed = sum(e.metadata["rows_added"].value for e in tick.asset_events)
    per_table = {(k.path[1], r.partition_key): read_transformed(lake, k.path[1], r.partition_key).num_rows
                 for r in tick.run_requests for k in r.asset_selection if k.path[0] == "transformed"}
    # one simulation, no duplicates: every landed row is in its transformed table, every GPS fix matched
    assert sum(n for (t, _), n in per_table.items() if t != "gps_matched") == landed
    assert all(n == per_table[("gps", h)] for (t, h), n in per_table.items() if t == "gps_matched")
