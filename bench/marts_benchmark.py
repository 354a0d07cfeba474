"""Marts and warehouse benchmark: one UTC day of a busy city (>= 10M raw events).

Preparation (not measured; cached under .smartcity/bench/marts-<params>/, reused by later runs): the
simulator's World drives 24 h of city time; its events are encoded as the simulator encodes them, parsed
and validated by the streaming job's own code (`parse_batch`: contract `validate_batch`) and landed as the
lake sink lands them (raw Parquet per source/date/hour with Kafka coordinates, one commit manifest per
5 simulated minutes); Kafka partitions (crc32 of the key over 3) and offsets are synthetic but consistent.
The transformed layer of the 24 hours is then built with the project's transforms (`read_input` +
`transform` per table, in one Spark session; the pandera checks are left out).

Measured, on a private embedded PostgreSQL:
1. Mart build for the whole day: each of the 5 marts' Spark frame for the 24 hours + `toArrow`, one
   Spark session (per-mart seconds; the session start and a warm-up job are reported apart).
2. Warehouse load of all those rows with the project's loader `PostgresWarehouse.replace_partition`
   (COPY into a staging table + DELETE/INSERT, one transaction per partition): seconds and rows/s.
3. Baseline in the same run: the same rows loaded with one `INSERT ... VALUES` per row (psycopg2,
   one commit per partition) into copies of the tables; both loads must give identical contents (row
   counts and an md5 over the sorted rows).
   Then the same comparison at scale: the traffic_congestion day replicated over many days (~1M rows);
   the row-by-row baseline runs on a sample of whole days when it would take over 2 minutes, and its
   full-size figure is extrapolated (labelled as such).
4. One Dagster run materializing the marts group for one hour in a fresh process (Python start, JVM,
   run overhead included), which must leave the warehouse contents unchanged.

    .venv/bin/python bench/marts_benchmark.py [--vehicles 650] [--date 2026-11-26] [--scale-rows 1000000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from datetime import date as Date
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
import pyarrow as pa
from dagster_run import RUN  # bench/ is on sys.path when run as a script
from tqdm import tqdm

from smartcity_commands import stack
from smartcity.console import table as text_table
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.layout import Hour
from smartcity.lake.manifests import DataFile, Manifest, OffsetRange
from smartcity.marts import MARTS as MART_SPECS
from smartcity.marts import TRAFFIC_CONGESTION, Mart
from smartcity.settings import load_settings
from smartcity.simulator.run import EventStream, SimulationConfig
from smartcity.spark.inputs import mart_inputs
from smartcity.spark.marts import FRAMES
from smartcity_commands.stack import free_port
from smartcity.warehouse.base import PartitionData
from smartcity.warehouse.postgres import PostgresWarehouse
from streaming.lake_sink import _split_by_partition
from streaming.parse import parse_batch
from streaming.schemas import KAFKA_RECORD

ROOT = Path(__file__).resolve().parent.parent
MARTS = [(m, FRAMES[m.name]) for m in MART_SPECS]
KAFKA_PARTITIONS = 3
BATCH_SIM_S = 300  # one manifest per 5 simulated minutes
NAIVE_BUDGET_S = 120.0  # longer than this, the row-by-row baseline at scale runs on a sample


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def hour_keys(day: str) -> list[str]:
    return [f"{day}-{h:02d}:00" for h in range(24)]


# -- preparation (cached) ------------------------------------------------------------------------------

def write_raw_day(lake: Lake, day: str, vehicles: int, seed: int) -> dict[str, int]:
    """24 h of simulated events landed in the raw zone the way the streaming sink lands them."""
    start = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
    stream = EventStream(SimulationConfig(duration_s=86_400, seed=seed, vehicles=vehicles, start=start))
    stream_id, offsets, landed = uuid.uuid4().hex[:16], {}, {}
    bar = tqdm(total=86_400, unit="sim s", desc="raw day", file=sys.stderr, mininterval=2)
    for batch_id in range(86_400 // BATCH_SIM_S):
        cols = {k: [] for k in KAFKA_RECORD.names}
        ranges: dict[tuple[str, int], list[int]] = {}
        for _ in range(BATCH_SIM_S):
            messages = stream.tick()
            created = stream.world.sim_time + timedelta(seconds=1)  # producer create time, as if in real time
            for m in messages:
                partition = zlib.crc32(m.key) % KAFKA_PARTITIONS
                offset = offsets[(m.topic, partition)] = offsets.get((m.topic, partition), -1) + 1
                r = ranges.setdefault((m.topic, partition), [offset, offset, 0])
                r[1], r[2] = offset, r[2] + 1
                for k, v in (("topic", m.topic), ("partition", partition), ("offset", offset),
                             ("timestamp", created), ("key", m.key), ("value", m.value)):
                    cols[k].append(v)
        bar.update(BATCH_SIM_S)
        ingested = stream.world.sim_time + timedelta(seconds=2)
        files = []
        for parsed in parse_batch(pa.RecordBatch.from_pydict(cols, schema=KAFKA_RECORD), ingested):
            if parsed.column("reason").null_count != parsed.num_rows:
                raise RuntimeError("the simulator produced events its contracts reject: "
                                   f"{set(parsed.column('reason').drop_null().to_pylist())}")
            for part, rows in _split_by_partition(pa.Table.from_batches([parsed])):
                if part.date != day:
                    continue  # the events of the day's last second that carry the next day's date
                rel = f"{part.directory}/{layout.data_file_name(stream_id, batch_id, uuid.uuid4().hex)}"
                size = lake.write_parquet(rows, lake.path(rel))
                files.append(DataFile(rel, part.zone, part.source, part.date, part.hour, rows.num_rows, size))
                landed[part.source] = landed.get(part.source, 0) + rows.num_rows
        manifests.commit(lake, Manifest(stream_id, batch_id, manifests.now_iso(), files,
                                        [OffsetRange(t, p, *r) for (t, p), r in sorted(ranges.items())]))
    bar.close()
    return landed


def build_transformed_day(spark, lake: Lake, day: str) -> dict[str, int]:
    from smartcity.spark.inputs import table_input
    from smartcity.spark.transform import collect_sorted, transform
    from smartcity.tables import TABLES

    rows: dict[str, int] = {}
    for key in hour_keys(day):
        started = time.perf_counter()
        hour = Hour.parse(key)
        for table in TABLES:  # gps before gps_matched, which reads it
            data = collect_sorted(transform(spark, table_input(spark, lake, table, hour).frame, table))
            lake.write_parquet(data, lake.path(layout.transformed_file(table.name, hour)))
            rows[table.name] = rows.get(table.name, 0) + data.num_rows
        print(f"  transformed {key}: {time.perf_counter() - started:5.1f} s (load {load()})", flush=True)
    return rows


def prepare(folder: Path, day: str, vehicles: int, seed: int, spark) -> dict:
    marker = folder / "prepared.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        print(f"prepared lake reused from {folder} (prepared in {info['seconds']['total']:.0f} s)")
        return info
    shutil.rmtree(folder, ignore_errors=True)  # an interrupted preparation
    lake = Lake((folder / "lake").as_uri())
    print(f"preparing {day}: {vehicles} vehicles, 24 h of city time -> raw zone -> transformed layer, "
          f"cached in {folder}")
    started = time.perf_counter()
    raw = write_raw_day(lake, day, vehicles, seed)
    raw_s = time.perf_counter() - started
    print(f"  raw zone: {sum(raw.values()):,} events in {raw_s:.0f} s {raw}", flush=True)
    transformed = build_transformed_day(spark, lake, day)
    total = time.perf_counter() - started
    info = {"day": day, "vehicles": vehicles, "seed": seed, "raw_rows": raw, "transformed_rows": transformed,
            "seconds": {"raw": raw_s, "transformed": total - raw_s, "total": total}}
    marker.write_text(json.dumps(info, indent=1))
    return info


# -- measured ---------------------------------------------------------------------------------------------

def build_marts(spark, lake: Lake, day: str) -> tuple[dict[str, list[tuple[str, pa.Table]]], dict[str, float]]:
    """Every mart for the 24 hours: {mart: [(hour key, rows)]} and seconds per mart."""
    out, seconds = {}, {}
    for table, compute in MARTS:
        started, parts = time.perf_counter(), []
        for key in hour_keys(day):
            hour = Hour.parse(key)
            frame = compute(spark, hour, mart_inputs(spark, lake, table, hour))
            data = frame.toArrow() if frame is not None else pa.schema([c.arrow_field() for c in table.columns]).empty_table()
            parts.append((key, data))
        seconds[table.name] = time.perf_counter() - started
        out[table.name] = parts
        print(f"  {table.name:<18} {sum(p.num_rows for _, p in parts):>7,} rows in {seconds[table.name]:6.1f} s "
              f"(load {load()})", flush=True)
    return out, seconds


def partition_of(key: str, rows: pa.Table) -> PartitionData:
    return PartitionData(Hour.parse(key), rows, "")


def naive_replace(dsn: str, table: Mart, qualified: str, partition: dict, rows: pa.Table) -> None:
    """The baseline: delete the partition, then one INSERT ... VALUES per row; one commit."""
    columns = [c.name for c in table.columns]
    insert = f"INSERT INTO {qualified} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"DELETE FROM {qualified} WHERE event_date = %(event_date)s AND event_hour = %(event_hour)s",
                        partition)
            for row in rows.select(columns).to_pylist():
                cur.execute(insert, [row[c] for c in columns])
    finally:
        conn.close()


def sql(dsn: str, statement: str):
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def fingerprint(dsn: str, qualified: str, where: str = "TRUE") -> tuple[int, str]:
    """Row count and md5 of the table's rows as text, sorted: equal for equal contents."""
    return tuple(sql(dsn, f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                          f"FROM {qualified} t WHERE {where}")[0])


def copy_of(dsn: str, table: Mart, schema: str) -> str:
    """An empty table with the same columns and indexes as the mart's, in another schema."""
    qualified = f"{schema}.{table.name}"
    sql(dsn, f"CREATE SCHEMA IF NOT EXISTS {schema}; DROP TABLE IF EXISTS {qualified}; "
             f"CREATE TABLE {qualified} (LIKE {table.qualified} INCLUDING INDEXES)")
    return qualified


def load_day(dsn: str, marts: dict[str, list[tuple[str, pa.Table]]]) -> list[list]:
    warehouse = PostgresWarehouse(dsn)
    tables = {t.name: t for t, _ in MARTS}
    naive_tables = {}
    for t in tables.values():
        warehouse.ensure_table(t)
        naive_tables[t.name] = copy_of(dsn, t, "naive")
    rows = sum(d.num_rows for parts in marts.values() for _, d in parts)
    partitions = sum(len(parts) for parts in marts.values())
    print(f"warehouse load of the day: {rows:,} rows in {partitions} partitions")
    started = time.perf_counter()
    for name, parts in marts.items():
        for key, data in parts:
            warehouse.replace_partition(tables[name], partition_of(key, data))
    copy_s = time.perf_counter() - started
    print(f"  replace_partition (COPY + DELETE/INSERT): {copy_s:6.2f} s = {rows / copy_s:>9,.0f} rows/s "
          f"(load {load()})", flush=True)
    started = time.perf_counter()
    for name, parts in marts.items():
        for key, data in parts:
            naive_replace(dsn, tables[name], naive_tables[name], Hour.parse(key).values, data)
    naive_s = time.perf_counter() - started
    print(f"  row-by-row INSERT baseline:               {naive_s:6.2f} s = {rows / naive_s:>9,.0f} rows/s "
          f"(load {load()})", flush=True)
    for name, t in tables.items():
        loaded, naive = fingerprint(dsn, t.qualified), fingerprint(dsn, naive_tables[name])
        expected = sum(d.num_rows for _, d in marts[name])
        if loaded != naive or loaded[0] != expected:
            raise RuntimeError(f"{name}: COPY load {loaded} and row-by-row load {naive} differ "
                               f"(expected {expected:,} rows)")
    print("  both loads hold identical contents (row counts and md5 of sorted rows, per mart)")
    return [["mart load, replace_partition (COPY)", rows, partitions, copy_s, rows / copy_s, ""],
            ["mart load, row-by-row INSERT baseline", rows, partitions, naive_s, rows / naive_s,
             f"x{naive_s / copy_s:.1f} slower"]]


def load_at_scale(dsn: str, parts: list[tuple[str, pa.Table]], target_rows: int, naive_rate: float) -> list[list]:
    """The traffic_congestion day replicated over as many days as make ~target_rows rows."""
    day_rows = sum(d.num_rows for _, d in parts)
    days = max(1, round(target_rows / day_rows))
    first = Date.fromisoformat(parts[0][0][:10])

    def replicas(n_days: int):
        for d in range(n_days):
            new_date = first + timedelta(days=d)
            for key, data in parts:
                column = data.schema.get_field_index("event_date")
                shifted = data.set_column(column, data.schema.field(column),
                                          pa.array([new_date] * data.num_rows, data.schema.field(column).type))
                yield Hour(new_date.isoformat(), Hour.parse(key).hour), shifted

    table = TRAFFIC_CONGESTION
    copy_table = dataclasses.replace(table, name="scale_copy_traffic_congestion", views=())
    naive_q = copy_of(dsn, table, "scale_naive")
    rows, partitions = day_rows * days, 24 * days
    print(f"at scale: traffic_congestion day x {days} days = {rows:,} rows in {partitions:,} partitions")
    warehouse = PostgresWarehouse(dsn)
    warehouse.ensure_table(copy_table)
    per_partition = []  # seconds of each partition's load: flat if cost follows the new rows, not the table
    for hour, data in replicas(days):
        started = time.perf_counter()
        warehouse.replace_partition(copy_table, PartitionData(hour, data, ""))
        per_partition.append(time.perf_counter() - started)
    copy_s = sum(per_partition)
    print(f"  replace_partition (COPY + DELETE/INSERT): {copy_s:6.1f} s = {rows / copy_s:>9,.0f} rows/s "
          f"(load {load()}); {sum(per_partition[:24]) / 24 * 1000:.0f} ms per partition on the first day, "
          f"{sum(per_partition[-24:]) / 24 * 1000:.0f} ms on the last", flush=True)
    sample_days = days if rows / naive_rate <= NAIVE_BUDGET_S else max(1, int(NAIVE_BUDGET_S * naive_rate / day_rows))
    sample_rows = sample_days * day_rows
    started = time.perf_counter()
    for hour, data in replicas(sample_days):
        naive_replace(dsn, table, naive_q, hour.values, data)
    naive_sample_s = time.perf_counter() - started
    rate = sample_rows / naive_sample_s
    until = (first + timedelta(days=sample_days)).isoformat()
    copied, naive = (fingerprint(dsn, q, f"event_date < DATE '{until}'") for q in (copy_table.qualified, naive_q))
    if copied != naive or naive[0] != sample_rows:
        raise RuntimeError(f"at scale: COPY load {copied} and row-by-row load {naive} differ over {sample_days} days")
    if sample_days == days:
        naive_s, label = naive_sample_s, "measured"
    else:
        naive_s, label = rows / rate, f"EXTRAPOLATED from {sample_days} days ({sample_rows:,} rows) in {naive_sample_s:.1f} s"
    print(f"  row-by-row INSERT baseline:               {naive_s:6.1f} s = {rate:>9,.0f} rows/s ({label}; "
          f"load {load()}); identical contents over the rows both loaded", flush=True)
    return [["scale load, replace_partition (COPY)", rows, partitions, copy_s, rows / copy_s, ""],
            ["scale load, row-by-row INSERT baseline", rows, partitions, naive_s, rate,
             f"x{naive_s / copy_s:.1f} slower; {label}"]]




def dagster_hour(home: str, lake_uri: str, postgres_port: int, key: str) -> dict:
    """One run of the marts group for one hour, in a fresh process (what the sensor's run pays)."""
    env = {**os.environ, "SMARTCITY_HOME": home, "SMARTCITY_LAKE_URI": lake_uri,
           "SMARTCITY_POSTGRES_PORT": str(postgres_port), "SMARTCITY_ENV": "embedded",
           "SMARTCITY_SPARK_DRIVER_MEMORY": "4g", "PYTHONPATH": str(ROOT)}
    for name in ("SMARTCITY_WAREHOUSE_URL", "SMARTCITY_KAFKA_BOOTSTRAP_SERVERS"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", RUN, key, "marts"], check=False, capture_output=True, text=True, env=env,
                         cwd=home, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vehicles", type=int, default=650, help="fleet size (650 gives ~10.2M events a day)")
    parser.add_argument("--date", default="2026-11-26", help="the UTC day simulated")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale-rows", type=int, default=1_000_000)
    parser.add_argument("--dagster-hour", type=int, default=8, help="hour of the Dagster run; -1 to skip it")
    parser.add_argument("--fresh", action="store_true", help="prepare the lake again even if cached")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress lines show up at once when piped
    folder = ROOT / ".smartcity" / "bench" / f"marts-{args.date}-v{args.vehicles}-s{args.seed}"
    if args.fresh:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"load average (1/5 min) at start: {load()} on {os.cpu_count()} cores")
    figures: list[list] = []
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home=home, broker_port=free_port(), postgres_port=free_port(),
                                 kafka_bootstrap_servers=None, warehouse_url=None, lake_uri=None,
                                 spark_driver_memory="4g")
        from streaming.spark import streaming_session as spark_session

        started = time.perf_counter()
        spark = spark_session(settings, "marts-benchmark")
        session_s = time.perf_counter() - started
        info = prepare(folder, args.date, args.vehicles, args.seed, spark)
        events = sum(info["raw_rows"].values())
        if events < 10_000_000:
            print(f"WARNING: {events:,} raw events, fewer than the 10M asked for: raise --vehicles")
        lake = Lake((folder / "lake").as_uri())

        print(f"mart build for {args.date} (24 hourly partitions, {events:,} raw events; "
              f"transformed rows {info['transformed_rows']}):")
        started = time.perf_counter()
        noon = Hour(args.date, 12)
        warm = FRAMES["traffic_congestion"](spark, noon, mart_inputs(spark, lake, TRAFFIC_CONGESTION, noon)).toArrow()
        warm_s = time.perf_counter() - started
        print(f"  Spark session start {session_s:.1f} s; warm-up job (one hour of traffic_congestion, "
              f"{warm.num_rows} rows) {warm_s:.1f} s, not counted below")
        marts, seconds = build_marts(spark, lake, args.date)
        spark.stop()
        mart_rows = {name: sum(d.num_rows for _, d in parts) for name, parts in marts.items()}
        for name, s in seconds.items():
            figures.append([f"mart build, {name} (24 h)", mart_rows[name], 24, s, None, f"{s / 24:.2f} s per hour"])
        total_s = sum(seconds.values())
        figures.append(["mart build, all 5 marts (24 h)", sum(mart_rows.values()), 120, total_s, None,
                        f"from {events:,} raw events = {events / total_s:,.0f} raw events/s"])

        postgres = stack.Postgres()
        state = postgres.start(settings)
        try:
            dsn = settings.warehouse_dsn
            figures += load_day(dsn, marts)
            naive_rate = figures[-1][4]
            figures += load_at_scale(dsn, marts[TRAFFIC_CONGESTION.name], args.scale_rows, naive_rate)
            if args.dagster_hour >= 0:
                key = f"{args.date}-{args.dagster_hour:02d}:00"
                before = {t.name: fingerprint(dsn, t.qualified) for t, _ in MARTS}
                run = dagster_hour(home, lake.uri, settings.postgres_port, key)
                after = {t.name: fingerprint(dsn, t.qualified) for t, _ in MARTS}
                same = "unchanged" if before == after else "CHANGED (a mart is not reproducible!)"
                steps = ", ".join(f"{k.replace('marts__', '')} {v:.1f}s" for k, v in sorted(run["steps"].items()))
                print(f"Dagster run of the marts group for {key} (fresh process): {run['seconds']:.1f} s "
                      f"[{steps}]; success={run['success']}; warehouse contents {same} (load {load()})")
                figures.append([f"Dagster run, marts group, hour {args.dagster_hour:02d} (fresh process)",
                                sum(run["rows"].values()), 5, run["seconds"], None,
                                f"success={run['success']}, warehouse {same}"])
        finally:
            postgres.stop(settings, state)

    print()
    print(f"prepared lake: {events:,} raw events ({args.vehicles} vehicles, {args.date}), "
          f"preparation took {info['seconds']['total']:.0f} s (raw {info['seconds']['raw']:.0f} s, "
          f"transformed {info['seconds']['transformed']:.0f} s) - not measured")
    print(text_table(["figure", "rows", "partitions", "seconds", "rows/s", "note"],
                     [[f, r, p, round(s, 2), None if rate is None else round(rate), n]
                      for f, r, p, s, rate, n in figures]))
    print(f"load average (1/5 min) at the end: {load()} on {os.cpu_count()} cores (machine shared with "
          "other Spark jobs)")


if __name__ == "__main__":
    main()
