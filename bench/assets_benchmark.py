"""Dagster asset benchmarks.

1. Wall time of one run that materializes one hourly partition of every transformed table (what the
   sensor requests), in a fresh process so it includes run overhead (Python start, one JVM), at 100k,
   1M and 5M raw rows in that hour. Raw data is written by the streaming sink's own code (parse ->
   files -> manifest) without Kafka, so the benchmark measures Dagster + Spark, not the producer.
   Baseline in the same run: the same hour read and deduplicated with pyarrow alone (no Spark, no
   checks, no enrichment): the cost of just touching the data.
2. Sensor tick time: 10 new manifests when the lake holds 10 versus 10,000 manifests (cost should
   follow the new batches), and a first tick that reads all 10,000.

    .venv/bin/python bench/assets_benchmark.py [--sizes 100000,1000000,5000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
from dagster_run import RUN  # bench/ is on sys.path when run as a script

from smartcity.lake import Lake, layout, manifests
from smartcity.lake.manifests import DataFile, Manifest
from smartcity.lake.reader import LakeReader
from smartcity.simulator.run import EventStream, SimulationConfig
from streaming.lake_sink import _split_by_partition
from streaming.parse import parse_batch
from streaming.schemas import KAFKA_RECORD

HOUR = "2026-11-28-10:00"


def write_raw_hour(lake: Lake, events: int) -> int:
    """`events` simulated events of 10:00-11:00 landed the way the streaming sink lands them."""
    vehicles = max(2000, events // 550)  # enough traffic to fit the events into one hour of city time
    stream = EventStream(SimulationConfig(events=events, seed=11, vehicles=vehicles, speed=0.0,
                                          start=datetime(2026, 11, 28, 10, tzinfo=timezone.utc)))
    stream_id, batch, offsets, landed = uuid.uuid4().hex[:16], 0, {}, 0
    now = datetime.now(timezone.utc)
    while stream.generated < events:
        messages = []
        while len(messages) < 200_000 and stream.generated < events:
            messages += stream.tick(events - stream.generated)
        rows = {"topic": [], "partition": [], "offset": [], "timestamp": [], "key": [], "value": []}
        for m in messages:
            offsets[m.topic] = offsets.get(m.topic, -1) + 1
            for k, v in (("topic", m.topic), ("partition", 0), ("offset", offsets[m.topic]), ("timestamp", now),
                         ("key", m.key), ("value", m.value)):
                rows[k].append(v)
        files = []
        for parsed in parse_batch(pa.RecordBatch.from_pydict(rows, schema=KAFKA_RECORD), now):
            for part, table in _split_by_partition(pa.Table.from_batches([parsed])):
                if part.zone != layout.RAW or part.hour_key != HOUR:
                    continue  # the few events past 11:00 are not part of this hour
                rel = f"{part.directory}/{layout.data_file_name(stream_id, batch, uuid.uuid4().hex)}"
                size = lake.write_parquet(table, lake.path(rel))
                files.append(DataFile(rel, part.zone, part.source, part.date, part.hour, table.num_rows, size))
                landed += table.num_rows
        manifests.commit(lake, Manifest(stream_id, batch, manifests.now_iso(), files, []))
        batch += 1
    return landed




def materialize_in_fresh_process(home: str) -> dict:
    env = {"SMARTCITY_HOME": home, "PATH": "/usr/bin:/bin", "SMARTCITY_SPARK_DRIVER_MEMORY": "6g"}
    out = subprocess.run([sys.executable, "-c", RUN, HOUR, "transformed"], capture_output=True, text=True, env=env,
                         timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def pyarrow_baseline(lake: Lake) -> float:
    started = time.perf_counter()
    reader = LakeReader(lake)
    for source in ("vehicle", "gps", "traffic_camera", "weather", "emergency"):
        table = reader.read_partition(layout.PartitionKey("raw", source, HOUR[:10], 10))
        if table.num_rows:
            first = table.group_by("event_id").aggregate([("kafka_offset", "min")])
            pc.sort_indices(first, [("event_id", "ascending")])
    return time.perf_counter() - started


def sensor_ticks() -> None:
    import dagster as dg

    from smartcity_assets.defs.sensors import raw_manifest_sensor
    from smartcity_assets.resources import LakeResource

    def fill(lake: Lake, n: int, stream: str) -> None:
        for b in range(n):
            f = DataFile(f"raw/source=gps/event_date=2026-11-28/event_hour=10/{layout.data_file_name(stream, b, 'a' * 32)}",
                         "raw", "gps", "2026-11-28", 10, 100, 1000)
            manifests.commit(lake, Manifest(stream, b, manifests.now_iso(), [f], []))

    def tick(lake: Lake, cursor: manifests.Cursor) -> float:
        context = dg.build_sensor_context(cursor=cursor.dumps(), resources={"lake": LakeResource(uri=lake.uri)})
        started = time.perf_counter()
        raw_manifest_sensor(context)
        return time.perf_counter() - started

    for total in (10, 10_000):
        with tempfile.TemporaryDirectory() as home:
            lake = Lake(f"file://{home}/lake")
            stream = "cd" * 8
            fill(lake, total, stream)
            new_ten = manifests.Cursor({stream: total - 11})
            best = min(tick(lake, new_ten) for _ in range(5))
            print(f"sensor tick, 10 new manifests, lake holds {total:>6,}: {best * 1000:7.1f} ms")
            if total == 10_000:
                print(f"sensor tick, first tick reading all {total:,} (capped at 500 per tick): "
                      f"{tick(lake, manifests.Cursor()) * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    args = parser.parse_args()
    sensor_ticks()
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as home:
            lake = Lake(f"file://{home}/lake")
            started = time.perf_counter()
            landed = write_raw_hour(lake, size)
            prepared = time.perf_counter() - started
            baseline = pyarrow_baseline(lake)
            run = materialize_in_fresh_process(home)
            steps = ", ".join(f"{k.replace('transformed__', '')} {v:.1f}s" for k, v in sorted(run["steps"].items()))
            print(f"{landed:>9,} raw rows in the hour (landed in {prepared:.0f} s): run {run['seconds']:.1f} s "
                  f"[{steps}]; pyarrow read+dedup baseline {baseline:.1f} s; success={run['success']}")


if __name__ == "__main__":
    main()
