"""The lake's Iceberg tables (`smartcity.lake.iceberg`) on the embedded catalog (pyiceberg's SQL catalog on the
session's PostgreSQL): one commit per replacement, time travel, concurrent commits from two processes, schema
evolution in place, and clear errors for broken metadata. Rows are hand-built; expectations are counted here."""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg2
import pyarrow as pa
import pytest

from smartcity.contracts import Field, FieldType
from smartcity.lake import Lake
from smartcity.lake.iceberg import CATALOG_SCHEMA, LakeTable, LakeTables, TableError
from smartcity.lake.layout import Hour

H10, H11 = Hour("2026-11-29", 10), Hour("2026-11-29", 11)
READINGS = LakeTable("transformed_readings", "transformed/readings", "Readings of a test sensor.", (
    Field("event_id", FieldType.UUID, "event id"),
    Field("event_time", FieldType.TIMESTAMP, "when"),
    Field("value", FieldType.DOUBLE, "a reading", unit="km/h")), "event_time")


def rows(hour: Hour, n: int, first: int = 0, **extra) -> pa.Table:
    times = [hour.start + timedelta(seconds=i) for i in range(n)]
    return pa.table({"event_id": [f"e-{hour.hour}-{first + i}" for i in range(n)],
                     "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
                     "value": [float(first + i) for i in range(n)], **extra})


def open_tables(settings) -> LakeTables:
    return LakeTables.open(Lake.from_settings(settings), "sql", uri=settings.iceberg_catalog_dsn)


def test_an_hour_replaced_is_one_commit_and_both_snapshots_read(lakehouse):
    tables = open_tables(lakehouse)
    first = tables.replace_hours(READINGS, {H10: [tables.write_hour(READINGS, H10, rows(H10, 5))],
                                            H11: [tables.write_hour(READINGS, H11, rows(H11, 3))]})
    assert (first.files_added, first.files_removed, first.rows_added) == (2, 0, 8)
    second = tables.replace_hours(READINGS, {H10: [tables.write_hour(READINGS, H10, rows(H10, 7, first=100))]})
    assert (second.files_added, second.files_removed, second.rows_added, second.rows_removed) == (1, 1, 7, 5)
    table = tables.table(READINGS, refresh=True)
    assert [s.snapshot_id for s in table.snapshots()][-2:] == [first.snapshot_id, second.snapshot_id]
    assert table.current_snapshot().summary["smartcity.hours"] == H10.key
    now = tables.read(READINGS, [H10, H11])
    assert sorted(now.column("value").to_pylist()) == [0.0, 1.0, 2.0] + [float(v) for v in range(100, 107)]
    before = tables.read(READINGS, [H10], snapshot_id=first.snapshot_id)
    assert sorted(before.column("event_id").to_pylist()) == [f"e-10-{i}" for i in range(5)]
    assert tables.hours(READINGS) == [H10, H11]
    # an hour computed with no rows is kept apart from one never computed
    empty = tables.replace_hours(READINGS, {H11: [tables.write_hour(READINGS, H11, rows(H11, 0))]})
    assert empty.rows_added == 0 and tables.hours(READINGS) == [H10, H11]
    assert tables.read(READINGS, [H11]).num_rows == 0
    # committing exactly what an hour holds changes nothing and removes nothing
    same = tables.replace_hours(READINGS, {H10: list(tables.hour_files(READINGS, [H10]))})
    assert (same.files_added, same.files_removed) == (0, 0)


def _commit_rounds(dsn: str, lake_uri: str, hours: list[str], barrier, results) -> None:
    """One contender: for each round, write a file of its hour, wait for the other, commit at the same moment."""
    from smartcity.lake import Lake

    tables = LakeTables.open(Lake(lake_uri), "sql", uri=dsn)
    done = []
    for n, key in enumerate(hours):
        hour = Hour.parse(key)
        path = tables.write_hour(READINGS, hour, rows(hour, 2, first=1000 * n))
        barrier.wait(timeout=60)
        commit = tables.replace_hours(READINGS, {hour: [path]})
        done.append((key, path, commit.snapshot_id, commit.attempts))
    results.put(done)


def test_two_processes_committing_at_the_same_moment_lose_nothing_and_duplicate_nothing(lakehouse):
    tables = open_tables(lakehouse)
    tables.table(READINGS)  # created once, before the race
    rounds = 12
    one = [H10.key] * rounds  # the same hour as the other every other round
    other = [H10.key if n % 2 else H11.key for n in range(rounds)]
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(2), spawn.Queue()
    workers = [spawn.Process(target=_commit_rounds, args=(lakehouse.iceberg_catalog_dsn, lakehouse.lake, hours,
                                                          barrier, results)) for hours in (one, other)]
    for w in workers:
        w.start()
    done = [c for _ in workers for c in results.get(timeout=300)]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    table = tables.table(READINGS, refresh=True)
    made = {c[2] for c in done}
    assert len(made) == 2 * rounds and made <= {s.snapshot_id for s in table.snapshots()}  # no commit lost
    assert max(c[3] for c in done) > 1  # the race was real: some commit had to plan again
    # every hour holds exactly one file: the one of the last commit that replaced it, in commit order
    order = {s.snapshot_id: i for i, s in enumerate(table.snapshots())}
    for hour in (H10, H11):
        last = max((c for c in done if c[0] == hour.key), key=lambda c: order[c[2]])
        assert list(tables.hour_files(READINGS, [hour])) == [last[1]]
        assert tables.read(READINGS, [hour]).num_rows == 2


def test_a_contract_that_gains_an_optional_field_evolves_the_table_in_place(lakehouse):
    tables = open_tables(lakehouse)
    old = tables.replace_hours(READINGS, {H10: [tables.write_hour(READINGS, H10, rows(H10, 4))]})
    old_file = list(tables.hour_files(READINGS, [H10]))
    evolved = replace(READINGS, fields=(*READINGS.fields, Field("firmware", FieldType.STRING, "firmware version",
                                                                  nullable=True)))
    new = tables.replace_hours(evolved, {H11: [tables.write_hour(evolved, H11, rows(H11, 2, firmware=["v2", "v3"]))]})
    table = tables.table(evolved, refresh=True)
    assert [f.name for f in table.schema().fields] == ["event_id", "event_time", "value", "firmware"]
    assert list(tables.hour_files(evolved, [H10])) == old_file  # no rewrite: hour 10's file stays as it was
    both = tables.read(evolved, [H10, H11]).to_pandas().sort_values("event_id")
    assert both.firmware.tolist() == [None] * 4 + ["v2", "v3"]
    at_old = tables.read(evolved, [H10, H11], snapshot_id=old.snapshot_id)
    assert at_old.num_rows == 4 and "firmware" not in at_old.column_names
    assert new.snapshot_id != old.snapshot_id
    # a changed type or a lost column is refused: nothing changes, the table still reads
    retyped = replace(READINGS, fields=(*READINGS.fields[:2], Field("value", FieldType.STRING, "now text")))
    with pytest.raises(TableError, match=r"smartcity\.transformed_readings no longer matches its spec: types changed: "
                                         r"value \(double in the table, string in the spec\)") as err:
        LakeTables.open(tables.lake, "sql", uri=lakehouse.iceberg_catalog_dsn).table(retyped)
    assert "\n" not in str(err.value)
    with pytest.raises(TableError, match="columns no longer in the spec: firmware"):
        LakeTables.open(tables.lake, "sql", uri=lakehouse.iceberg_catalog_dsn).table(READINGS)
    assert tables.read(evolved, [H10, H11]).num_rows == 6


def test_broken_metadata_and_a_missing_snapshot_are_one_line_errors_naming_the_table(lakehouse):
    tables = open_tables(lakehouse)
    good = tables.replace_hours(READINGS, {H10: [tables.write_hour(READINGS, H10, rows(H10, 3))]})
    with pytest.raises(TableError, match=r"smartcity\.transformed_readings has no snapshot 12345"):
        tables.read(READINGS, [H10], snapshot_id=12345)
    current = tables.table(READINGS, refresh=True).metadata_location
    with psycopg2.connect(lakehouse.iceberg_catalog_dsn) as con, con.cursor() as cur:
        cur.execute(f"SELECT metadata_location FROM {CATALOG_SCHEMA}.iceberg_tables WHERE table_name = %s",
                    (READINGS.name,))
        assert cur.fetchone()[0] == current
    path = tables.lake_path(current)
    intact = tables.lake.read_bytes(path)
    for damage in (b"{ not json", None):  # corrupt, then missing
        if damage is None:
            tables.lake.delete(path)
        else:
            tables.lake.write_bytes(path, damage)
        fresh = LakeTables.open(tables.lake, "sql", uri=lakehouse.iceberg_catalog_dsn)
        with pytest.raises(TableError, match=r"the Iceberg table smartcity\.transformed_readings cannot be loaded: "
                                             r"(its metadata cannot be read|a metadata file is missing)") as err:
            fresh.replace_hours(READINGS, {H10: [fresh.write_hour(READINGS, H10, rows(H10, 9))]})
        assert "\n" not in str(err.value) and "Nothing was written" in str(err.value)
    # the files of the last good snapshot are untouched; put the metadata back and it reads as before
    tables.lake.write_bytes(path, intact)
    fresh = LakeTables.open(tables.lake, "sql", uri=lakehouse.iceberg_catalog_dsn)
    assert fresh.table(READINGS).current_snapshot().snapshot_id == good.snapshot_id
    assert fresh.read(READINGS, [H10]).num_rows == 3


def test_held_back_hours_are_recorded_on_the_table_and_cleared_when_the_hour_passes(lakehouse):
    tables = open_tables(lakehouse)
    tables.replace_hours(READINGS, {H10: [tables.write_hour(READINGS, H10, rows(H10, 2))]}, held_back=[H11])
    assert tables.held_back(READINGS) == {H11.key}
    assert json.loads(tables.table(READINGS, refresh=True).properties["smartcity.held-back-hours"]) == [H11.key]
    tables.replace_hours(READINGS, {H11: [tables.write_hour(READINGS, H11, rows(H11, 1))]})
    assert tables.held_back(READINGS) == set()
    assert tables.hours(READINGS) == [H10, H11]


def test_the_embedded_catalog_lives_in_postgresql(lakehouse):
    tables = open_tables(lakehouse)
    tables.replace_hours(READINGS, {H10: [tables.write_hour(READINGS, H10, rows(H10, 1))]})
    with psycopg2.connect(lakehouse.iceberg_catalog_dsn) as con, con.cursor() as cur:
        cur.execute(f"SELECT table_namespace, table_name, metadata_location FROM {CATALOG_SCHEMA}.iceberg_tables")
        (namespace, name, location), = cur.fetchall()
    assert (namespace, name) == ("smartcity", "transformed_readings")
    assert location.startswith(Lake.from_settings(lakehouse).uri_of(
        Lake.from_settings(lakehouse).path("transformed/readings/metadata/")))
    moment = datetime.now(timezone.utc)
    assert tables.snapshot_for(READINGS, moment).snapshot_id == tables.snapshot_for(READINGS, None).snapshot_id


def test_maintenance_expires_old_snapshots_and_removes_only_unreferenced_files(lakehouse):
    import os

    from smartcity.lake.table_maintenance import maintain

    tables = open_tables(lakehouse)
    commits = [tables.replace_hours(READINGS, {H10: [tables.write_hour(READINGS, H10, rows(H10, 2, first=10 * n))]})
               for n in range(6)]
    stray = tables.write_hour(READINGS, H11, rows(H11, 1))  # written, never committed (a crashed run)
    fresh = tables.write_hour(READINGS, H11, rows(H11, 1))  # as if a run were about to commit it
    past = datetime.now(timezone.utc) - timedelta(days=3)
    folder = tables.lake.path(READINGS.folder)
    for info in tables.lake.list_dir(folder, recursive=True):
        if info.path != fresh:
            os.utime(info.path, (past.timestamp(), past.timestamp()))
    before = {i.path for i in tables.lake.list_dir(folder, recursive=True)}
    done = maintain(tables, READINGS, retention=timedelta(0), keep_last=2, orphan_age=timedelta(days=1))
    table = tables.table(READINGS, refresh=True)
    assert [s.snapshot_id for s in table.snapshots()] == [c.snapshot_id for c in commits[-2:]]
    assert done.snapshots_expired == 4 and done.snapshots_left == 2
    after = {i.path for i in tables.lake.list_dir(folder, recursive=True)}
    data_before = {p for p in before if "/data/" in p}
    data_after = {p for p in after if "/data/" in p}
    # the data files of the two kept snapshots and the fresh file stay; the stray and the expired ones go
    kept = {p for c in commits[-2:] for p in tables.hour_files(READINGS, [H10], c.snapshot_id)}
    assert data_after == kept | {fresh} and stray not in after and len(data_before - data_after) == 5
    assert done.files_removed >= 5
    assert tables.read(READINGS, [H10]).column("value").to_pylist() == [50.0, 51.0]
    assert tables.read(READINGS, [H10], snapshot_id=commits[-2].snapshot_id).num_rows == 2
    with pytest.raises(TableError, match=f"has no snapshot {commits[0].snapshot_id}"):
        tables.read(READINGS, [H10], snapshot_id=commits[0].snapshot_id)


def test_maintenance_keeps_at_most_the_newest_snapshots_however_young(lakehouse):
    from smartcity.lake.table_maintenance import maintain

    tables = open_tables(lakehouse)
    commits = [tables.replace_hours(READINGS, {H10: [tables.write_hour(READINGS, H10, rows(H10, 1, first=n))]})
               for n in range(7)]
    done = maintain(tables, READINGS, retention=timedelta(days=7), keep_last=1, max_snapshots=3)
    assert [s.snapshot_id for s in tables.table(READINGS, refresh=True).snapshots()] == \
        [c.snapshot_id for c in commits[-3:]]
    assert (done.snapshots_expired, done.snapshots_left) == (4, 3)
    assert tables.read(READINGS, [H10]).column("value").to_pylist() == [6.0]


def test_the_maintenance_job_runs_over_every_existing_table(lakehouse):
    from smartcity.catalog.tables import transformed_table
    from smartcity.tables import BY_NAME
    from smartcity_assets.defs.maintenance import iceberg_table_maintenance
    from smartcity_assets.resources import resources_for

    tables = open_tables(lakehouse)
    weather = transformed_table(BY_NAME["weather"])
    for n in range(3):
        tables.replace_hours(weather, {H10: [tables.write_hour(weather, H10, pa.table({"event_id": [f"w{n}"]}))]})
    result = iceberg_table_maintenance.execute_in_process(
        resources={"tables": resources_for(lakehouse)["tables"]},
        run_config={"ops": {"maintain_tables": {"config": {"retention_days": 0, "keep_last": 1}}}})
    assert result.success
    assert len(tables.table(weather, refresh=True).snapshots()) == 1
    assert tables.read(weather, [H10]).column("event_id").to_pylist() == ["w2"]
