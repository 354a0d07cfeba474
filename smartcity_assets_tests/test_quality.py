"""Data quality: the pandera schema of each transformed table is the real declaration; the one-pass Spark
evaluation that the assets report as Dagster checks finds exactly what pandera's own validation finds —
same failing checks, same counts — on a partition the asset wrote and on hand-built frames with duplicates,
nulls and columns of the wrong type."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pandas as pd
import pandera.pandas as pan
import pyarrow as pa
import pytest

from smartcity import tables
from smartcity.lake import Lake
from smartcity.lake.layout import Hour
from smartcity.quality.pandera_schemas import failing_rows, frame_of, schema_for
from smartcity.quality.rules import rules_for
from smartcity.quality.spark_checks import evaluate
from smartcity_assets.keys import transformed_key

from .helpers import HOUR_10, camera_row, commit_raw, materialize, read_transformed

HOUR = Hour.parse(HOUR_10)
CAMERA = tables.BY_NAME["traffic_camera"]


def spark_counts(spark, table, rows: pa.Table) -> dict[str, int]:
    """The Spark evaluation of an Arrow table's rows (as the asset sees its frame): failing rules only."""
    return {o.rule.name: o.failing for o in evaluate(spark.createDataFrame(rows), table, HOUR) if not o.passed}


def camera_rows(rows: list[dict], **types: pa.DataType) -> pa.Table:
    """Transformed camera rows (enrichment filled in as for SEG-0001), columns typed as the table says unless
    `types` overrides one."""
    filled = [{"zone_id": "Z01", "road_class": "arterial", "speed_limit_kmh": 50.0,
               "speed_ratio": None if r["mean_speed_kmh"] is None else round(r["mean_speed_kmh"] / 50, 3), **r}
              for r in rows]
    schema = pa.schema([pa.field(c.name, types.get(c.name, c.arrow_field().type)) for c in CAMERA.columns])
    return pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in filled], schema=schema)


def test_spark_and_pandera_agree_on_a_partition_the_asset_wrote(lakehouse, spark):
    settings = lakehouse
    lake = Lake.from_settings(settings)
    late = datetime(2026, 11, 29, 11, 1, tzinfo=timezone.utc)
    commit_raw(lake, "traffic_camera", [camera_row(i) for i in range(30)]
               + [camera_row(100 + i, vehicle_count=9) for i in range(4)]  # counts do not add up
               + [camera_row(200 + i, event_time=late, ingest_time=late) for i in range(3)]  # another hour
               + [camera_row(300 + i, segment_id="SEG-9999") for i in range(2)]  # unknown segment
               + [camera_row(400 + i, mean_speed_kmh=None) for i in range(5)]  # traffic without a speed
               + [camera_row(500, mean_speed_kmh=200.0), camera_row(501, window_seconds=0)], batch=0)
    result = materialize(settings, HOUR_10, selection=dg.AssetSelection.assets(transformed_key("traffic_camera")))
    reported = {e.check_name: e.metadata["failing_rows"].value for e in result.get_asset_check_evaluations()}
    assert set(reported) == {r.name for r in rules_for(CAMERA)}  # every rule reported
    # blocking checks failed: the hour is held back, its rows in the file the metadata names (never committed)
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["held_back_hours"].value == [HOUR_10]
    held = event.materialization.metadata["held_back_files"].value[HOUR_10]
    written = lake.read_parquet([held.removeprefix("file://")])
    assert read_transformed(settings, "traffic_camera", HOUR_10).num_rows == 0  # nothing of it was published
    by_pandera = failing_rows(CAMERA, frame_of(written), HOUR)
    assert {name: n for name, n in reported.items() if n} == by_pandera == {
        "counts_add_up": 4, "event_time_in_partition": 3, "known_segment": 2, "mean_speed_only_with_traffic": 5,
        "plausible_speed": 1, "window_seconds_in_range": 1}


def test_they_agree_on_duplicates_nulls_and_wrong_types(spark):
    base = [camera_row(i) for i in range(10)]
    rows = base + [base[0], base[0], base[1]]  # three extra copies of two events
    rows += [camera_row(50, camera_id=None), camera_row(51, segment_id=None, event_id=None)]  # missing values
    clean_types = camera_rows(rows)
    wrong_types = camera_rows(rows, vehicle_count=pa.int64(), window_seconds=pa.float64())
    found = {}
    for name, data in (("clean", clean_types), ("wrong", wrong_types)):
        found[name] = failing_rows(CAMERA, frame_of(data), HOUR)
        assert spark_counts(spark, CAMERA, data) == found[name], name
    missing = {"event_id_unique": 3, "event_id_not_null": 1, "camera_id_not_null": 1, "segment_id_not_null": 1}
    assert found == {"clean": missing, "wrong": {**missing, "columns_and_types": 2}}


@pytest.mark.parametrize("table", [t.name for t in tables.TABLES])
def test_an_empty_partition_of_every_table_passes_both(spark, table):
    spec = tables.BY_NAME[table]
    empty = pa.schema([c.arrow_field() for c in spec.columns]).empty_table()
    assert spark_counts(spark, spec, empty) == {} == failing_rows(spec, frame_of(empty), HOUR)


def test_the_schema_is_what_a_user_runs_on_a_frame():
    good = frame_of(camera_rows([camera_row(i) for i in range(5)]))
    schema = schema_for("traffic_camera", HOUR)
    assert schema.validate(good, lazy=True) is not None
    assert list(schema.columns) == CAMERA.column_names
    assert "unit: km/h" in schema.columns["mean_speed_kmh"].description
    bad = good.assign(car_count=pd.Series([9] * 5, dtype=good.car_count.dtype))
    with pytest.raises(pan.errors.SchemaErrors) as err:
        schema.validate(bad, lazy=True)
    assert set(err.value.failure_cases.check) == {"counts_add_up"}
    # without an hour the partition rule is left out: a frame from any hour validates
    later = datetime(2026, 11, 29, 13, 5, tzinfo=timezone.utc)
    other_hour = frame_of(camera_rows([camera_row(i, event_time=later, ingest_time=later) for i in range(5)]))
    with pytest.raises(pan.errors.SchemaErrors):
        schema.validate(other_hour, lazy=True)
    assert schema_for("traffic_camera").validate(other_hour, lazy=True) is not None
