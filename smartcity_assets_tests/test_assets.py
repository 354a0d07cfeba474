"""The Dagster assets on real Spark and a real lake folder: the manifest sensor, the transforms end to end
(deduplication, enrichment, map matching, a re-materialization that is a new Iceberg snapshot of the same rows), checks that block downstream, the full chain."""

from __future__ import annotations

import math
from contextlib import ExitStack
from datetime import datetime, timezone

import dagster as dg
import pandas as pd
from pydantic import SecretStr

from smartcity import contracts, reference, tables
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.layout import Hour
from smartcity.lake.manifests import DataFile, Manifest, OffsetRange
from smartcity_assets.defs.sensors import RANGE_END, RANGE_START, plan_runs
from smartcity_assets.keys import transformed_key
from smartcity_assets.partitions import HOURLY

from .helpers import (
    HOUR_10,
    HOUR_11,
    camera_row,
    commit_raw,
    embedded_settings,
    land,
    materialize,
    read_raw,
    read_transformed,
    run_requested,
    sensor_tick,
    temporary_database,
)

STREAM = "0123456789abcdef"
MARTS = {"traffic_congestion", "environment", "weather_impact", "incident_response", "public_transport"}


def commit_batch(lake: Lake, batch: int, landed: dict[tuple[str, str], int]) -> Manifest:
    """A committed micro-batch that landed `rows` per (source, hour key), read from Kafka partition 0 of each
    source's topic at offsets batch*1000.. (the sensor reads manifests only)."""
    files, offsets = [], []
    for (source, key), rows in sorted(landed.items()):
        hour = Hour.parse(key)
        path = f"{layout.PartitionKey.raw(source, hour).directory}/{layout.data_file_name(STREAM, batch, 'f' * 32)}"
        files.append(DataFile(path, "raw", source, hour.date, hour.hour, rows, 100 * rows))
    for source in sorted({s for s, _ in landed}):
        rows = sum(n for (s, _), n in landed.items() if s == source)
        offsets.append(OffsetRange(contracts.BY_NAME[source].topic, 0, batch * 1000, batch * 1000 + rows - 1, rows))
    manifest = Manifest(STREAM, batch, manifests.now_iso(), files, offsets, {"gps": {"invalid_json": 2}})
    assert manifests.commit(lake, manifest)
    return manifest


def test_sensor_records_landings_and_requests_what_they_affect_once(lakehouse):
    settings = lakehouse
    lake = Lake.from_settings(settings)
    commit_batch(lake, 0, {("gps", HOUR_10): 700, ("weather", HOUR_10): 9, ("emergency", HOUR_11): 2})
    commit_batch(lake, 1, {("gps", HOUR_10): 300, ("gps", HOUR_11): 500})  # a late fix for hour 10
    first = sensor_tick(settings)
    landed = {(e.asset_key.to_user_string(), e.partition): e.metadata for e in first.asset_events}
    assert {k: m["rows_added"].value for k, m in landed.items()} == {
        ("raw/gps", HOUR_10): 1000, ("raw/weather", HOUR_10): 9, ("raw/emergency", HOUR_11): 2,
        ("raw/gps", HOUR_11): 500}
    assert landed[("raw/gps", HOUR_10)]["micro_batches"].value == [f"{STREAM}:0", f"{STREAM}:1"]
    assert landed[("raw/gps", HOUR_10)]["kafka_offset_ranges"].value == {"smartcity.gps/0": "0..1799"}
    assert landed[("raw/weather", HOUR_10)]["kafka_offset_ranges"].value == {"smartcity.weather/0": "0..8"}
    assert landed[("raw/gps", HOUR_10)]["quarantined_in_same_batches"].value == 4

    def planned(result) -> list[tuple[str, set[str]]]:
        """(hour or range, assets) of each run requested, in order."""
        return [(r.partition_key or f"{r.tags[RANGE_START]}..{r.tags[RANGE_END]}",
                 {k.to_user_string() for k in r.asset_selection}) for r in result.run_requests]

    hour_10 = {"catalog/raw_gps", "catalog/raw_weather", "transformed/gps", "transformed/gps_matched",
               "transformed/weather", "catalog/transformed_gps", "catalog/transformed_gps_matched",
               "catalog/transformed_weather", *(f"marts/{m}" for m in MARTS)}
    hour_11 = {"catalog/raw_gps", "catalog/raw_emergency", "transformed/gps", "transformed/gps_matched",
               "transformed/emergency", "catalog/transformed_gps", "catalog/transformed_gps_matched",
               "catalog/transformed_emergency", *(f"marts/{m}" for m in MARTS - {"environment"})}
    # each hour's run; then, after both, hour 10 of the incident mart again: it follows its incidents into
    # hour 11's updates, which hour 10's run ran before (nothing was built earlier, so nothing else is stale)
    assert planned(first) == [(HOUR_10, hour_10), (HOUR_11, hour_11),
                              (f"{HOUR_10}..{HOUR_10}", {"marts/incident_response"})]

    # had the marts been built before: every earlier hour of the incident mart that follows hour 11's updates
    # (6 hours back), and the bus mart of hour 12, whose first headways start from hour 11's buses
    found, cursor = manifests.list_after(lake, manifests.Cursor())
    built = plan_runs(found, cursor, computed=lambda mart, hour: True)
    assert planned(built) == [(HOUR_10, hour_10), (HOUR_11, hour_11),
                              ("2026-11-29-05:00..2026-11-29-10:00", {"marts/incident_response"}),
                              ("2026-11-29-12:00..2026-11-29-12:00", {"marts/public_transport"})]

    # runs not started yet already cover hour 10 and the follow-up: the tick coalesces into them
    pending = [({HOUR_10}, {dg.AssetKey.from_user_string(k) for k in hour_10}),
               ({HOUR_10}, {dg.AssetKey(["marts", "incident_response"])})]
    coalesced = plan_runs(found, cursor, pending, computed=lambda mart, hour: False)
    assert planned(coalesced) == [(HOUR_11, hour_11)]
    assert len(coalesced.asset_events) == len(first.asset_events)  # landings are still recorded

    # nothing new: nothing requested; the same tick again (cursor not saved): the same run keys (deduplicated)
    assert isinstance(sensor_tick(settings, first.cursor), dg.SkipReason)
    assert [r.run_key for r in sensor_tick(settings).run_requests] == [r.run_key for r in first.run_requests]
    # a late event for hour 10 arrives: hour 10 is requested again, with a new run key
    commit_batch(lake, 2, {("gps", HOUR_10): 1})
    third = sensor_tick(settings, first.cursor)
    assert [r.partition_key for r in third.run_requests] == [HOUR_10]
    assert third.run_requests[0].run_key not in {r.run_key for r in first.run_requests}


def expected_transformed(lake: Lake, source: str, partition_key: str) -> pd.DataFrame:
    """Independent computation in pandas: the first copy of each event_id by Kafka coordinates, plus its zone."""
    raw = read_raw(lake, source, partition_key).to_pandas()
    first = raw.sort_values(["event_id", "kafka_topic", "kafka_partition", "kafka_offset"]).drop_duplicates("event_id")
    zones = reference.zones().to_pandas()

    def zone(lat, lon):
        hit = zones[(zones.min_lat <= lat) & (lat < zones.max_lat) & (zones.min_lon <= lon) & (lon < zones.max_lon)]
        return hit.zone_id.iloc[0]

    first = first.assign(zone_id=[zone(a, b) for a, b in zip(first.latitude, first.longitude)])
    return first.sort_values("event_id").reset_index(drop=True)


def nearest_segment(lat: float, lon: float, heading: float) -> str | None:
    """Brute force over every segment (no grid cells): the nearest within 50 m, driven the right way round
    when one is (a wrong-way segment only wins when nothing else is near)."""
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
        wrong_way = abs(((heading - s["heading_deg"] + 540) % 360) - 180) > 90
        if best is None or (wrong_way, d, s["segment_id"]) < best:
            best = (wrong_way, d, s["segment_id"])
    return best[2] if best else None


def test_transform_deduplicates_enriches_and_is_idempotent(broker_only, warehouse, spark):
    settings = broker_only.model_copy(update={"warehouse_url": SecretStr(warehouse)})  # the Iceberg catalog's home
    start = datetime(2026, 11, 29, 10, 20, tzinfo=timezone.utc)
    land(settings, spark, 6_000, start)
    land(settings, spark, 2_000, start)  # the same seed again: 2,000 events delivered twice
    lake = Lake.from_settings(settings)
    result = materialize(settings, HOUR_10)
    assert result.success
    counts = {e.asset_key.path[1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert sum(m["duplicates_removed"].value for m in counts.values()) == 2_000
    assert all(ev.passed for ev in result.get_asset_check_evaluations() if ev.severity == dg.AssetCheckSeverity.ERROR)

    for source in ("gps", "vehicle"):
        got = read_transformed(settings, source, HOUR_10).to_pandas().sort_values("event_id").reset_index(drop=True)
        want = expected_transformed(lake, source, HOUR_10)
        assert got.event_id.is_unique and got.event_id.tolist() == want.event_id.tolist()
        assert got.kafka_offset.tolist() == want.kafka_offset.tolist()  # the first delivery was kept
        assert got.zone_id.tolist() == want.zone_id.tolist()
        for column in contracts.BY_NAME[source].field_names:  # every contract field as it arrived
            assert got[column].equals(want[column]), column
    matched = read_transformed(settings, "gps_matched", HOUR_10).to_pandas()
    assert len(matched) == len(read_transformed(settings, "gps", HOUR_10))
    sample = matched.sample(300, random_state=1)
    assert sample.segment_id.tolist() == [nearest_segment(r.latitude, r.longitude, r.heading_deg)
                                          for r in sample.itertuples()]
    assert matched.segment_id.notna().mean() > 0.99 and matched.match_distance_m.max() <= 50

    camera = read_transformed(settings, "traffic_camera", HOUR_10).to_pandas()
    segments = reference.segments().to_pandas().set_index("segment_id")
    assert (camera.zone_id == segments.loc[camera.segment_id, "zone_id"].values).all()
    assert (camera.speed_limit_kmh == segments.loc[camera.segment_id, "speed_limit_kmh"].values).all()

    # Materialized again: a new snapshot per table with the very same rows; the first snapshot still reads
    first = {t.name: int(counts[t.name]["snapshot_id"].value) for t in tables.TABLES}
    before = {t.name: read_transformed(settings, t.name, HOUR_10) for t in tables.TABLES}
    again = materialize(settings, HOUR_10)
    assert again.success
    second = {e.asset_key.path[1]: e.materialization.metadata for e in again.get_asset_materialization_events()}
    for t in tables.TABLES:
        assert int(second[t.name]["snapshot_id"].value) != first[t.name]
        assert (second[t.name]["files_added"].value, second[t.name]["files_removed"].value) == (1, 1)
        assert read_transformed(settings, t.name, HOUR_10).equals(before[t.name])
        assert read_transformed(settings, t.name, HOUR_10, snapshot_id=first[t.name]).equals(before[t.name])


@dg.asset(key=["test", "downstream_of_camera"], deps=[transformed_key("traffic_camera")], partitions_def=HOURLY)
def downstream_of_camera() -> None:
    """Stands in for a mart: must not run when a blocking check of its input fails."""


def test_checks_fail_with_counts_and_block_downstream(tmp_path, live_stack, spark):
    def lakehouse(folder):  # a lake and an Iceberg catalog of its own
        return embedded_settings(tmp_path / folder, warehouse_url=SecretStr(stack.enter_context(
            temporary_database(live_stack.warehouse_dsn))))

    stack = ExitStack()
    settings = lakehouse("bad")
    lake = Lake.from_settings(settings)
    bad = ([camera_row(i) for i in range(20)]
           + [camera_row(100 + i, vehicle_count=9) for i in range(4)]  # counts do not add up
           + [camera_row(200 + i, event_time=datetime(2026, 11, 29, 11, 1, tzinfo=timezone.utc),
                         ingest_time=datetime(2026, 11, 29, 11, 2, tzinfo=timezone.utc)) for i in range(3)]
           + [camera_row(300 + i, segment_id="SEG-9999") for i in range(2)]  # unknown segment
           + [camera_row(400, vehicle_count=0, car_count=0, bus_count=0, mean_speed_kmh=None),
              camera_row(401, mean_speed_kmh=200.0)])  # implausible speed: warning only
    commit_raw(lake, "traffic_camera", bad, batch=0)
    selection = dg.AssetSelection.assets(transformed_key("traffic_camera"), downstream_of_camera.key)
    result = materialize(settings, HOUR_10, selection=selection, extra_assets=[downstream_of_camera])
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = {n: e.metadata["failing_rows"].value for n, e in evaluations.items() if not e.passed}
    assert failed == {"counts_add_up": 4, "event_time_in_partition": 3, "known_segment": 2, "plausible_speed": 1}
    assert evaluations["plausible_speed"].severity == dg.AssetCheckSeverity.WARN
    assert evaluations["counts_add_up"].severity == dg.AssetCheckSeverity.ERROR
    samples = evaluations["counts_add_up"].metadata["sample_failing_rows"].value
    assert sorted(r["event_id"] for r in samples) == sorted(camera_row(100 + i)["event_id"] for i in range(4))
    assert evaluations["mean_speed_only_with_traffic"].passed and evaluations["event_id_unique"].passed
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert transformed_key("traffic_camera") in materialized and downstream_of_camera.key not in materialized

    # a clean partition passes every check and lets downstream run
    with stack:
        settings = lakehouse("clean")
        commit_raw(Lake.from_settings(settings), "traffic_camera", [camera_row(i) for i in range(20)], batch=0)
        result = materialize(settings, HOUR_10, selection=selection, extra_assets=[downstream_of_camera])
        assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
        assert downstream_of_camera.key in {e.asset_key for e in result.get_asset_materialization_events()}


def test_full_chain_simulate_stream_sensor_transform(pipeline, spark):
    land(pipeline, spark, 12_000, datetime(2026, 11, 29, 10, 59, 50, tzinfo=timezone.utc), late_share=0.03,
         malformed_share=0.02)
    tick = sensor_tick(pipeline)
    assert [r.partition_key for r in tick.run_requests][:2] == [HOUR_10, HOUR_11]
    for request in tick.run_requests:
        result = run_requested(pipeline, request)
        assert result.success
        # every blocking check passes (a warning, e.g. a GPS fix too far from any road, may not)
        assert all(e.passed for e in result.get_asset_check_evaluations()
                   if e.severity == dg.AssetCheckSeverity.ERROR)
    landed = {(e.asset_key.path[1], e.partition): e.metadata["rows_added"].value for e in tick.asset_events}
    # one simulation, no duplicates: every landed row is in its transformed table, every GPS fix matched
    for (source, hour), rows in landed.items():
        assert read_transformed(pipeline, source, hour).num_rows == rows
        if source == "gps":
            assert read_transformed(pipeline, "gps_matched", hour).num_rows == rows


def _planned(result) -> list[tuple[str, set[str]]]:
    return [(r.partition_key or f"{r.tags[RANGE_START]}..{r.tags[RANGE_END]}",
             {k.to_user_string() for k in r.asset_selection}) for r in result.run_requests]


def test_a_tick_that_only_landed_weather_requests_no_gps_or_camera_work(tmp_path):
    lake = Lake.from_settings(embedded_settings(tmp_path))
    commit_batch(lake, 0, {("weather", HOUR_10): 9})
    found, cursor = manifests.list_after(lake, manifests.Cursor())
    weather = {"catalog/raw_weather", "transformed/weather", "catalog/transformed_weather",
               "marts/environment", "marts/weather_impact", "marts/incident_response"}
    assert _planned(plan_runs(found, cursor, computed=lambda mart, hour: False)) == [(HOUR_10, weather)]
    # had hour 11 been built: its incidents took their weather from hour 10's last readings, so it is redone
    assert _planned(plan_runs(found, cursor, computed=lambda mart, hour: True)) == [
        (HOUR_10, weather), (f"{HOUR_11}..{HOUR_11}", {"marts/incident_response"})]


def test_hours_no_partition_has_are_reported_and_skipped_not_a_stalled_sensor(lakehouse):
    """Raw hours landed before event times were bounded (a far-future or pre-2026 clock) are no Dagster partition:
    the tick skips them with a warning, plans the real hours (one range over them, not over decades), and moves on."""
    settings = lakehouse
    lake = Lake.from_settings(settings)
    bad = ["2099-12-31-23:00", "9999-12-31-23:00", "1999-08-21-10:00"]
    good = [f"2026-11-29-{h:02d}:00" for h in (8, 9, 10)]
    commit_batch(lake, 0, {("gps", h): 5 for h in bad + good})
    result = sensor_tick(settings)
    assert _planned(result) == [(f"{good[0]}..{good[-1]}", {"catalog/raw_gps", "transformed/gps",
                                 "transformed/gps_matched", "catalog/transformed_gps", "catalog/transformed_gps_matched",
                                 "marts/traffic_congestion", "marts/weather_impact", "marts/public_transport"})]
    assert sorted(e.partition for e in result.asset_events) == good
    warnings: list[str] = []
    found, cursor = manifests.list_after(lake, manifests.Cursor())
    assert _planned(plan_runs(found, cursor, computed=lambda mart, hour: False, warn=warnings.append)) == _planned(result)
    assert [w.split(" (")[0] for w in warnings] == [f"skipped raw/gps partition {k}: no hourly partition has that hour"
                                                     for k in sorted(bad)]
    assert manifests.Cursor.loads(result.cursor) == {STREAM: 0}  # consumed: the next tick starts after it
    commit_batch(lake, 1, {("gps", "2099-12-31-23:00"): 1})
    assert _planned(sensor_tick(settings, result.cursor)) == []


def test_a_backlog_of_hours_is_one_run_over_their_range(tmp_path):
    lake = Lake.from_settings(embedded_settings(tmp_path))
    hours = [f"2026-11-29-{h:02d}:00" for h in (8, 9, 10, 11)]
    commit_batch(lake, 0, {("weather", h): 9 for h in hours} | {("traffic_camera", hours[1]): 40})
    found, cursor = manifests.list_after(lake, manifests.Cursor())
    one = {"catalog/raw_weather", "catalog/raw_traffic_camera", "transformed/weather", "transformed/traffic_camera",
           "catalog/transformed_weather", "catalog/transformed_traffic_camera", "marts/environment",
           "marts/weather_impact", "marts/incident_response", "marts/traffic_congestion"}
    assert _planned(plan_runs(found, cursor, computed=lambda mart, hour: False)) == [(f"{hours[0]}..{hours[-1]}", one)]
    # marts built before outside the range still follow: hour 12's incidents took hour 11's weather
    assert _planned(plan_runs(found, cursor, computed=lambda mart, hour: True)) == [
        (f"{hours[0]}..{hours[-1]}", one), ("2026-11-29-12:00..2026-11-29-12:00", {"marts/incident_response"})]
