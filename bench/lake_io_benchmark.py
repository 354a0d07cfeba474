"""Lake I/O benchmark: one transformed GPS hour (~1M rows) read and written through the lake by Spark.

In one run, on one local Spark session, each case `--repeat` times after a warm-up, the cases taking turns
(medians printed):

    baseline   spark.read.parquet on the local folder (Spark's own Parquet reader, no Hadoop S3 connector exists
               here), collected to the driver and sorted in Arrow, written by the driver: what the assets did
    local      the `smartcity_lake_files` data source (executors read through pyarrow), one task writes the
               sorted file: what the assets do now, on the local folder
    s3 (moto)  the same code on S3 (a moto server in this process, endpoint override)

Two figures per case: `read` (every column of every row reaches Spark: count and a hash over all columns) and
`read + write` (the I/O of a transformed asset: the hour read and cached, one job over it standing in for the
checks, then written back sorted as one file). Ratios are against the baseline. moto is a Python server in this same process: its S3 is much slower than AWS's,
so the S3 figures are an upper bound on the cost of the S3 code path, not a forecast of S3.

    .venv/bin/python bench/lake_io_benchmark.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

# moto's S3 takes any keys; executors inherit them from this process (set before Spark starts)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from smartcity.lake import Lake, layout  # noqa: E402
from smartcity.lake.layout import Hour  # noqa: E402
from smartcity.settings import load_settings  # noqa: E402
from smartcity.spark.inputs import lake_frame  # noqa: E402
from smartcity.spark.session import spark_session  # noqa: E402
from smartcity.spark.transform import collect_sorted, write_sorted  # noqa: E402
from smartcity.spark.types import spark_from_arrow  # noqa: E402
from smartcity_commands.stack import free_port  # noqa: E402
from smartcity.tables import BY_NAME  # noqa: E402

HOUR = Hour("2026-11-28", 10)


def gps_hour(rows: int) -> pa.Table:
    """A transformed GPS hour in the table's schema, rows in random order (so the sort has work to do)."""
    rng = np.random.default_rng(7)
    start = int(datetime(2026, 11, 28, 10, tzinfo=timezone.utc).timestamp() * 1e6)
    order = rng.permutation(rows)
    micros = start + (order * (3_600_000_000 // rows))
    vehicles = rng.integers(0, 2000, rows)
    zones = rng.integers(1, 10, rows)
    columns = {
        "event_id": pa.array([f"{i:08x}-0000-4000-8000-{i:012x}" for i in order]),
        "vehicle_id": pa.array([f"VEH-{v:05d}" for v in vehicles]),
        "event_time": pa.array(micros, pa.timestamp("us", tz="UTC")),
        "latitude": rng.uniform(52.30, 52.40, rows), "longitude": rng.uniform(4.80, 4.95, rows),
        "speed_kmh": rng.uniform(0, 90, rows), "heading_deg": rng.uniform(0, 360, rows),
        "accuracy_m": rng.uniform(2, 10, rows), "satellites": pa.array(rng.integers(4, 14, rows), pa.int32()),
        "zone_id": pa.array([f"Z{z:02d}" for z in zones]), "zone_name": pa.array([f"Zone {z}" for z in zones]),
        "kafka_topic": pa.array(["smartcity.gps"] * rows), "kafka_partition": pa.array(order % 3, pa.int32()),
        "kafka_offset": pa.array(order, pa.int64()),
        "kafka_timestamp": pa.array(micros, pa.timestamp("us", tz="UTC")),
        "ingest_time": pa.array(micros + 2_000_000, pa.timestamp("us", tz="UTC")),
    }
    schema = pa.schema([c.arrow_field() for c in BY_NAME["gps"].columns])
    return pa.table(columns).select(schema.names).cast(schema)


def timed(cases: dict, repeat: int) -> dict[str, float]:
    """Median seconds of each case; the cases take turns (a, b, c, a, b, c, ...), so a change in the machine's
    load during the run falls on all of them alike."""
    for what in cases.values():
        what()  # warm-up: Python workers, JIT
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, what in cases.items():
            start = time.perf_counter()
            what()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def touch_all(frame) -> None:
    frame.selectExpr("count(*)", "sum(hash(*))").collect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per S3 request otherwise
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    home = tempfile.mkdtemp(prefix="lake-io-bench-")
    local = Lake(f"file://{home}/lake")
    s3 = Lake("s3://bench-lake/smartcity", endpoint)
    s3.s3_client().create_bucket(Bucket="bench-lake")
    spark = spark_session(load_settings(home=home, spark_master="local[2]"), "lake-io-bench")
    try:
        table = gps_hour(args.rows)
        source, target = layout.transformed_file("gps", HOUR), layout.transformed_file("gps_copy", HOUR)
        sizes = {name: lake.write_parquet(table, lake.path(source)) for name, lake in (("local", local), ("s3", s3))}
        schema = spark_from_arrow(table.schema)
        print(f"one transformed GPS hour: {args.rows:,} rows, {sizes['local'] / 1e6:.1f} MB of zstd Parquet; "
              f"local[2] Spark, median of {args.repeat} after a warm-up")

        def baseline_read():
            touch_all(spark.read.parquet(local.path(source)))

        def baseline_cycle():  # as a transformed asset did: cached rows, the checks' job, collect, driver write
            frame = spark.read.parquet(local.path(source)).cache()
            touch_all(frame)
            local.write_parquet(collect_sorted(frame), local.path(target))
            frame.unpersist()

        def read(lake: Lake):
            return lambda: touch_all(lake_frame(spark, lake, {lake.path(source): args.rows}, schema))

        def cycle(lake: Lake):  # as a transformed asset does: cached rows, the checks' job, one task writes
            def run():
                frame = lake_frame(spark, lake, {lake.path(source): args.rows}, schema).cache()
                touch_all(frame)
                write_sorted(frame, lake, lake.path(target))
                frame.unpersist()
            return run

        names = ("baseline (spark.read.parquet, driver write), local", "data source + executor write, local",
                 "data source + executor write, S3 (moto)")
        reads = timed(dict(zip(names, (baseline_read, read(local), read(s3)))), args.repeat)
        cycles = timed(dict(zip(names, (baseline_cycle, cycle(local), cycle(s3)))), args.repeat)
        results = {name: (reads[name], cycles[name]) for name in names}
        for lake in (local, s3):  # the written file is the hour, sorted
            assert lake.parquet_rows(lake.path(target)) == args.rows
        base_read, base_cycle = next(iter(results.values()))
        print(f"{'case':<52} {'read s':>7} {'rows/s':>11} {'ratio':>6}   {'read+write s':>12} {'rows/s':>11} "
              f"{'ratio':>6}")
        for name, (r, c) in results.items():
            print(f"{name:<52} {r:7.2f} {args.rows / r:11,.0f} {r / base_read:5.2f}x   {c:12.2f} "
                  f"{args.rows / c:11,.0f} {c / base_cycle:5.2f}x")
        print("ratio: time against the baseline (below 1 = faster). The baseline cannot read S3 here (s3a needs "
              "hadoop-aws); the data source reads both with the same code.")
    finally:
        spark.stop()
        moto.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
