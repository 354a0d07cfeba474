"""The streaming job: throughput beside a single-process baseline, and latency at a steady rate, to the lake
and to the live tables.

1. Throughput over a backlog. N simulated events are produced to a private embedded broker first. The
   baseline reads them in one Python process with confluent-kafka (assign/seek), parses them with the same
   contract code and writes Parquet per source/date/hour with pyarrow: no Spark, the "physical limit". Then the
   Spark job (available-now, maxOffsetsPerTrigger = N/4) lands the same events three times, each into a lake,
   checkpoint and database of its own:
     a. a task per Kafka partition (15 per batch: what Spark's kafka source plans, and this job did before),
     b. a task per core (the default, SMARTCITY_STREAM_TASKS unset),
     c. b with the live layer (each batch's events applied to the warehouse's live.* tables).
   Throughput is taken over the batches after the first (the first pays Python worker start-up).
2. Latency at a steady rate (default 5,000 events/s, the default 1 s trigger, live layer on): for every landed
   row, from its Kafka timestamp (producer create time) to (a) its batch's manifest commit (visible in the
   lake) and (b) its batch becoming visible in the live tables, as a reader polling live.stream_progress every
   50 ms sees it (what the dashboard sees). p50 / p95 / max of each, from the same rows.

    .venv/bin/python bench/streaming_throughput.py [--events 1000000] [--rate 5000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone

import numpy as np
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import SecretStr

from smartcity import contracts
from smartcity_commands import stack
from smartcity.kafka import partitions_of
from smartcity.lake import Lake, manifests
from smartcity.settings import load_settings
from smartcity.simulator.run import SimulationConfig, run_simulation
from smartcity_commands.stack import free_port
from streaming.job import StreamRun, prepare_live_tables, start_query, stream_id
from streaming.kafka_source import KafkaStreamReader, read_range
from streaming.lake_sink import _split_by_partition
from streaming.parse import parse_batch


def baseline(settings, lake: Lake) -> tuple[int, float]:
    """consume -> parse -> Parquet in one process, every partition in turn."""
    reader = KafkaStreamReader({**{f"kafka.{k}": v for k, v in settings.kafka_config().items()},
                                "topics": ",".join(c.topic for c in contracts.CONTRACTS)})
    marks = reader.watermarks()
    reader.stop()
    started, rows = time.perf_counter(), 0
    for key, (low, high) in sorted(marks.items()):
        topic, _, partition = key.rpartition("/")
        for raw in read_range(settings.kafka_config(), topic, int(partition), low, high):
            for parsed in parse_batch(raw, datetime.now(timezone.utc)):
                for part, table in _split_by_partition(pa.Table.from_batches([parsed])):
                    lake.write_parquet(table, lake.path(part.directory, f"baseline-{rows}.parquet"))
                    rows += table.num_rows
    return rows, time.perf_counter() - started


def fresh(settings, name: str, admin_dsn: str, **update):
    """The settings with a lake, checkpoint and warehouse database of their own."""
    database = f"bench_{name}_{uuid.uuid4().hex[:6]}"
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {database}")
    conn.close()
    folder = settings.home_dir / name
    return settings.model_copy(update={
        "lake_uri": f"file://{folder}/lake", "checkpoint_location": str(folder / "checkpoint"),
        "warehouse_url": SecretStr(admin_dsn.rsplit("/", 1)[0] + f"/{database}"), **update})


def backlog_run(spark, settings, events: int) -> tuple[int, float, float]:
    """(rows, seconds, rows/s after the first batch) of the job landing the whole backlog."""
    settings = settings.model_copy(update={"max_offsets_per_trigger": events // 4})
    if settings.live_layer:
        prepare_live_tables(settings)
    started = time.perf_counter()
    query = start_query(spark, settings, StreamRun(available_now=True))
    query.awaitTermination()
    total = time.perf_counter() - started
    progress = [p for p in query.recentProgress if p["numInputRows"]]
    steady = progress[1:]
    rate = (sum(p["numInputRows"] for p in steady) /
            (sum(p["durationMs"]["triggerExecution"] for p in steady) / 1000)) if steady else 0.0
    return sum(p["numInputRows"] for p in progress), total, rate


def watch_live(dsn: str, stream: str, stop: threading.Event, seen: dict[int, float]) -> None:
    """When each batch id of `stream` becomes visible in live.stream_progress (polled every 50 ms)."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        while not stop.is_set():
            cur.execute("SELECT batch_id FROM live.stream_progress WHERE stream_id = %s", (stream,))
            row = cur.fetchone()
            if row and row[0] not in seen:
                seen[row[0]] = time.time()
            time.sleep(0.05)
    conn.close()


def latency(spark, settings, rate: int, seconds: int) -> tuple[list[float], list[float]]:
    """Per landed row: seconds from its Kafka timestamp to its batch's lake commit, and to the live tables."""
    lake = Lake.from_settings(settings)
    settings = settings.model_copy(update={"starting_offsets": "latest"})
    prepare_live_tables(settings)
    query = start_query(spark, settings, StreamRun())
    seen: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_live, args=(settings.warehouse_dsn, stream_id(settings), stop, seen))
    watcher.start()
    time.sleep(5)  # the query's start and its Python workers
    run_simulation(settings, SimulationConfig(duration_s=seconds, rate=rate, speed=0.0, progress=False, seed=7))
    time.sleep(8)  # the last batches
    query.stop()
    stop.set()
    watcher.join()
    to_lake, to_live = [], []
    found, _ = manifests.list_after(lake, manifests.Cursor())
    for m in found:
        committed = datetime.fromisoformat(m.committed_at).timestamp()
        visible = min((t for b, t in seen.items() if b >= m.batch_id), default=None)  # polls may skip a batch
        for f in m.files:
            if f.zone != "raw":
                continue
            produced = pc.cast(lake.read_parquet([lake.path(f.path)]).column("kafka_timestamp"),
                               "int64").to_numpy() / 1e6
            to_lake.extend((committed - produced).tolist())
            if visible is not None:
                to_live.extend((visible - produced).tolist())
    return to_lake, to_live


def percentiles(values: list[float]) -> str:
    p50, p95 = np.percentile(values, [50, 95])
    return f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(values):.2f} s ({len(values):,} rows)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    from streaming.spark import streaming_session

    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home=home, broker_port=free_port(), postgres_port=free_port(),
                                 kafka_bootstrap_servers=None, lake_uri=None, warehouse_url=None, live_layer=False)
        services = [stack.Broker(), stack.Postgres()]
        states = [s.start(settings) for s in services]
        try:
            admin = settings.warehouse_dsn
            report = run_simulation(settings, SimulationConfig(events=args.events, speed=0.0, progress=False,
                                                               malformed_share=0.01, late_share=0.02))
            print(f"produced {report.sent:,} events to {len(contracts.CONTRACTS)} topics "
                  f"x {len(partitions_of(settings, contracts.GPS.topic))} partitions")
            rows, seconds = baseline(settings, Lake(f"file://{home}/baseline-lake"))
            base = rows / seconds
            print(f"baseline (1 process: consume -> parse -> Parquet): {rows:,} rows in {seconds:.1f} s "
                  f"= {base:,.0f} rows/s")
            spark = streaming_session(settings, "bench")
            cores = spark.sparkContext.defaultParallelism
            steady = {}
            for name, label, update in (
                    ("per_partition", "a task per Kafka partition", {"stream_tasks": 0}),
                    ("per_core", f"a task per core ({cores})", {}),
                    ("live", f"a task per core ({cores}) + live layer", {"live_layer": True})):
                rows, total, steady[name] = backlog_run(spark, fresh(settings, name, admin, **update), args.events)
                print(f"spark job, {label}: {rows:,} rows in {total:.1f} s = {rows / total:,.0f} rows/s overall, "
                      f"{steady[name]:,.0f} rows/s after the first batch = {steady[name] / base:.2f} x baseline")
            print(f"live layer cost: {1 - steady['live'] / steady['per_core']:.0%} of the stream's throughput")

            to_lake, to_live = latency(spark, fresh(settings, "latency", admin, live_layer=True), args.rate,
                                       args.seconds)
            print(f"latency at {args.rate:,} events/s, 1 s trigger, a task per core, live layer on:")
            print(f"  Kafka timestamp -> committed in the lake:      {percentiles(to_lake)}")
            print(f"  Kafka timestamp -> visible in the live tables: {percentiles(to_live)}")
            spark.stop()
        finally:
            for service, state in reversed(list(zip(services, states))):
                service.stop(settings, state)


if __name__ == "__main__":
    main()
