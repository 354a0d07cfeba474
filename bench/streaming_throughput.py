"""Streaming job throughput beside a single-process baseline, and produce -> commit latency.

1. Throughput: N simulated events are produced to a private embedded broker first. The baseline reads
   them in one Python process with confluent-kafka (assign/seek), parses them with the same contract
   code and writes Parquet per source/date/hour with pyarrow: no Spark, the "physical limit". Then the
   Spark job (`smartcity stream --available-now`, maxOffsetsPerTrigger = N/4) lands the same events;
   its throughput is taken over the batches after the first (the first pays Python worker start-up),
   and over the whole run.
2. Latency: the simulator produces at a steady rate while the job runs continuously with a 1 s
   trigger; for every committed row, latency = manifest commit time - Kafka timestamp (producer create
   time). p50 / p95 / max reported.

    .venv/bin/python bench/streaming_throughput.py [--events 1000000] [--rate 5000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import datetime, timezone

import numpy as np
import pyarrow.compute as pc

from smartcity import contracts, stack
from smartcity.kafka import partitions_of
from smartcity.lake import Lake, manifests
from smartcity.lake.reader import LakeReader
from smartcity.settings import load_settings
from smartcity.simulator.run import SimulationConfig, run_simulation
from smartcity.stack import free_port
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
            now = datetime.now(timezone.utc)
            for parsed in parse_batch(raw, now):
                import pyarrow as pa

                for part, table in _split_by_partition(pa.Table.from_batches([parsed])):
                    lake.write_parquet(table, lake.path(part.directory, f"baseline-{rows}.parquet"))
                    rows += table.num_rows
    return rows, time.perf_counter() - started


def spark_job(settings, events: int):
    from streaming.job import StreamRun, start_query
    from streaming.spark import streaming_session as spark_session

    spark = spark_session(settings, "bench")
    started = time.perf_counter()
    query = start_query(spark, settings.model_copy(update={"max_offsets_per_trigger": events // 4}),
                        StreamRun(available_now=True))
    query.awaitTermination()
    total = time.perf_counter() - started
    progress = query.recentProgress
    rows = sum(p["numInputRows"] for p in progress)
    steady = progress[1:]
    steady_rate = (sum(p["numInputRows"] for p in steady) /
                   (sum(p["durationMs"]["triggerExecution"] for p in steady) / 1000)) if steady else 0.0
    return spark, rows, total, steady_rate, progress


def latency(settings, spark, rate: int, seconds: int) -> list[float]:
    from streaming.job import StreamRun, start_query

    lake = Lake.from_settings(settings)
    _, cursor = manifests.list_after(lake, manifests.Cursor())
    query = start_query(spark, settings.model_copy(update={"trigger_interval_s": 1.0,
                                                           "starting_offsets": "latest"}),
                        StreamRun())
    time.sleep(5)  # let the first (cold) micro-batch pass
    sim = SimulationConfig(duration_s=seconds, rate=rate, speed=0.0, progress=False, seed=7)
    producer = threading.Thread(target=run_simulation, args=(settings, sim))
    producer.start()
    producer.join()
    time.sleep(5)
    query.stop()
    found, _ = manifests.list_after(lake, cursor)
    reader_ = LakeReader(lake)
    latencies = []
    for m in found:
        committed = datetime.fromisoformat(m.committed_at).timestamp()
        for f in m.files:
            if f.zone != "raw":
                continue
            ts = lake.read_parquet([lake.path(f.path)]).column("kafka_timestamp")
            produced = pc.cast(ts, "int64").to_numpy() / 1e6
            latencies.extend((committed - produced).tolist())
    del reader_
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home=home, broker_port=free_port(), postgres_port=free_port(),
                                 kafka_bootstrap_servers=None, lake_uri=None)
        broker = stack.Broker()
        state = broker.start(settings)
        try:
            report = run_simulation(settings, SimulationConfig(events=args.events, speed=0.0, progress=False,
                                                               malformed_share=0.01, late_share=0.02))
            print(f"produced {report.sent:,} events to {len(contracts.CONTRACTS)} topics "
                  f"x {len(partitions_of(settings, contracts.GPS.topic))} partitions")
            rows, seconds = baseline(settings, Lake(f"file://{home}/baseline-lake"))
            print(f"baseline (1 process: consume -> parse -> Parquet): {rows:,} rows in {seconds:.1f} s "
                  f"= {rows / seconds:,.0f} rows/s")
            spark, rows, total, steady, progress = spark_job(settings, args.events)
            for p in progress:
                print(f"  batch {p['batchId']}: {p['numInputRows']:,} rows in "
                      f"{p['durationMs']['triggerExecution'] / 1000:.2f} s")
            print(f"spark job (available-now): {rows:,} rows in {total:.1f} s = {rows / total:,.0f} rows/s overall, "
                  f"{steady:,.0f} rows/s after the first batch")
            base_rate = report.sent / seconds
            print(f"ratio spark / baseline: {steady / base_rate:.2f} (steady), {rows / total / base_rate:.2f} (overall)")

            lat = latency(settings, spark, args.rate, args.seconds)
            if lat:
                p50, p95 = np.percentile(lat, [50, 95])
                print(f"latency produce -> committed manifest at {args.rate:,} events/s, 1 s trigger, "
                      f"{len(lat):,} rows: p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(lat):.2f} s")
            spark.stop()
        finally:
            broker.stop(settings, state)


if __name__ == "__main__":
    main()
