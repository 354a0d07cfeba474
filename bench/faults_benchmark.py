"""What faults cost: poison messages and kill -9 recovery, each beside a baseline measured in the same run.

1. Poison: the same number of messages with 0 % and with 20 % malformed (so 20 % of them go to the
   quarantine with their raw payload and reason), each landed by the streaming job (available-now,
   maxOffsetsPerTrigger = N/4) from a fresh broker into a fresh lake. Rows/s over the whole run and after
   the first batch, and what was written (files, bytes). Runs alternate (0, 20, 0, 20, ...) so that a
   change in the load of the shared machine hits both alike.
2. Recovery: `smartcity stream` (a process of its own, 1 s trigger) runs while the simulator produces at a
   steady rate. It is stopped and restarted repeatedly, alternating a graceful stop (SIGINT: the query
   stops between batches; the baseline) and kill -9 (of the driver, its JVM and Python workers, at a random
   moment). Recovery time = restart to the first newly committed manifest (JVM start, Spark start, replay
   of the batch in flight, then a new batch of at most 10,000 records). p50 / max of each. At the end
   everything must have landed exactly once (manifests against the Kafka end offsets).

    .venv/bin/python bench/faults_benchmark.py [--events 300000] [--repeats 2] [--restarts 4] [--rate 3000]
                                               [--only poison|recovery]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from smartcity import contracts
from smartcity_commands import stack
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.summary import summarize
from smartcity.settings import load_settings
from smartcity.simulator.run import SimulationConfig, run_simulation
from smartcity_commands.stack import free_port

ROOT = Path(__file__).parents[1]


def private_settings(home: str, **overrides):
    return load_settings(home=home, broker_port=free_port(), postgres_port=free_port(), kafka_bootstrap_servers=None,
                         lake_uri=None, warehouse_url=None, spark_master="local[2]", **overrides)


def land(spark, events: int, malformed: float) -> dict:
    """Produce `events` messages to a fresh broker, then time the streaming job landing them."""
    from streaming.job import StreamRun, start_query

    with tempfile.TemporaryDirectory() as home:
        settings = private_settings(home, max_offsets_per_trigger=events // 4)
        broker = stack.Broker()
        state = broker.start(settings)
        try:
            report = run_simulation(settings, SimulationConfig(events=events, seed=5, malformed_share=malformed,
                                                               late_share=0.02, progress=False))
            assert report.failed == 0
            started = time.perf_counter()
            query = start_query(spark, settings, StreamRun(available_now=True, progress=False))
            query.awaitTermination()
            seconds = time.perf_counter() - started
            progress = query.recentProgress
            steady = progress[1:]
            steady_rate = (sum(p["numInputRows"] for p in steady)
                           / (sum(p["durationMs"]["triggerExecution"] for p in steady) / 1000)) if steady else 0.0
            lake = Lake.from_settings(settings)
            found, _ = manifests.list_after(lake, manifests.Cursor())
            files = [f for m in found for f in m.files]
            summary = summarize(lake)
            assert summary.landed + summary.quarantined_total == events, "not every message landed once"
        finally:
            broker.stop(settings, state)
    return {"rows": events, "seconds": seconds, "rate": events / seconds, "steady": steady_rate,
            "quarantined": summary.quarantined_total,
            "files": sum(1 for f in files if f.zone == layout.RAW),
            "q_files": sum(1 for f in files if f.zone == layout.QUARANTINE),
            "q_bytes": sum(f.bytes for f in files if f.zone == layout.QUARANTINE),
            "bytes": sum(f.bytes for f in files)}


def poison(events: int, repeats: int) -> None:
    from streaming.spark import streaming_session as spark_session

    with tempfile.TemporaryDirectory() as home:
        spark = spark_session(private_settings(home), "faults-bench")
    land(spark, 20_000, 0.0)  # warm-up: Python workers, JIT
    results = {0.0: [], 0.2: []}
    for _ in range(repeats):
        for share in (0.0, 0.2):
            results[share].append(land(spark, events, share))
    spark.stop()
    print(f"\n1. poison messages: {events:,} messages per run, {repeats} runs each (median shown)")
    base = statistics.median(r["rate"] for r in results[0.0])
    for share, runs in results.items():
        rate = statistics.median(r["rate"] for r in runs)
        steady = statistics.median(r["steady"] for r in runs)
        last = runs[-1]
        print(f"  {share:4.0%} malformed: {rate:>9,.0f} rows/s overall ({rate / base:.2f} x baseline), "
              f"{steady:>9,.0f} rows/s after the first batch | quarantined {last['quarantined']:,} in "
              f"{last['q_files']} files ({last['q_bytes'] / 1e6:.1f} MB); raw {last['files']} files; "
              f"total written {last['bytes'] / 1e6:.1f} MB | runs: "
              + ", ".join(f"{r['seconds']:.1f} s" for r in runs))


def _first_new_manifest(lake: Lake, proc: subprocess.Popen, timeout: float = 300) -> float:
    start_head, started = manifests.head(lake), time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError("the streaming process died on its own")
        if manifests.head(lake) != start_head:
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError("no batch committed in time")


def _cli(settings, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "SMARTCITY_HOME": str(settings.home_dir), "SMARTCITY_BROKER_PORT": str(settings.broker_port),
           "SMARTCITY_SPARK_MASTER": "local[2]", "SMARTCITY_TRIGGER_INTERVAL_S": "1", "PYTHONPATH": str(ROOT),
           "SMARTCITY_MAX_OFFSETS_PER_TRIGGER": "10000"}  # the first batch after a restart stays small
    return subprocess.Popen([sys.executable, "-m", "smartcity_commands.cli", *args], env=env, start_new_session=True,
                            **popen)


def _in_kafka(settings) -> int:
    from streaming.kafka_source import KafkaStreamReader

    reader = KafkaStreamReader({**{f"kafka.{k}": v for k, v in settings.kafka_config().items()},
                                "topics": ",".join(c.topic for c in contracts.CONTRACTS)})
    marks = reader.watermarks()
    reader.stop()
    return sum(high - low for low, high in marks.values())


def recovery(restarts: int, rate: int) -> None:
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as home:
        settings = private_settings(home)
        lake = Lake.from_settings(settings)
        broker = stack.Broker()
        state = broker.start(settings)
        times = {"graceful stop (SIGINT)": [], "kill -9": []}
        log = open(Path(home) / "stream.log", "ab")
        try:
            producer = _cli(settings, "simulate", "--duration", "3600", "--rate", str(rate), "--speed", "0",
                            "--malformed-share", "0.01", "--no-progress", stdout=subprocess.DEVNULL)
            proc = _cli(settings, "stream", stdout=log, stderr=subprocess.STDOUT)
            cold = _first_new_manifest(lake, proc)
            for i in range(2 * restarts):
                how = "kill -9" if i % 2 else "graceful stop (SIGINT)"
                _first_new_manifest(lake, proc)  # running steadily
                time.sleep(rng.uniform(0.0, 1.0))
                if how == "kill -9":
                    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its JVM and Python workers
                else:
                    os.kill(proc.pid, signal.SIGINT)  # Ctrl-C: the job stops its query between batches
                proc.wait()
                proc = _cli(settings, "stream", stdout=log, stderr=subprocess.STDOUT)
                times[how].append(_first_new_manifest(lake, proc))
            os.kill(proc.pid, signal.SIGINT)
            os.kill(producer.pid, signal.SIGINT)  # flushes what it produced
            proc.wait()
            producer.wait()
            _cli(settings, "stream", "--available-now", stdout=log, stderr=subprocess.STDOUT).wait()
            produced = _in_kafka(settings)
            summary = summarize(lake)
        finally:
            broker.stop(settings, state)
    print(f"\n2. recovery: restart -> first new committed batch, producer at {rate:,} events/s, 1 s trigger, "
          f"at most 10,000 records per batch (cold start of the first process: {cold:.1f} s)")
    for how, values in times.items():
        print(f"  after {how:<24} p50 {statistics.median(values):5.1f} s, max {max(values):5.1f} s  "
              f"({', '.join(f'{v:.1f}' for v in values)})")
    total = summary.landed + summary.quarantined_total
    print(f"  landed {summary.landed:,} + quarantined {summary.quarantined_total:,} = {total:,} of {produced:,} "
          f"messages in Kafka: {'exactly once' if total == produced else 'MISMATCH'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--restarts", type=int, default=4, help="restarts of each kind")
    parser.add_argument("--rate", type=int, default=3_000)
    parser.add_argument("--only", choices=["poison", "recovery"], help="run one part only")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if args.only != "recovery":
        poison(args.events, args.repeats)
    if args.only != "poison":
        recovery(args.restarts, args.rate)


if __name__ == "__main__":
    main()
