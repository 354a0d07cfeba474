"""Local Spark (`local[2]`) against the 2-worker standalone cluster of `smartcity cluster`, in the same run.

This machine has 2 cores, and so has the cluster (2 workers, 1 core each): the cluster cannot be faster, and
the figures show the overhead it adds (executors in JVMs of their own, tasks and results over RPC).

1. Streaming throughput: N simulated events are produced to a private embedded broker once; then
   `smartcity stream --available-now` (maxOffsetsPerTrigger = N/4) lands them into a fresh lake, once with
   SMARTCITY_SPARK_MASTER=local[2] and once with the cluster's spark:// master, each in a process of its own.
   Rows/s over the whole process (JVM and executors started included) and over the batches after the first.
2. One transformed hour: ~1M GPS rows (and the other sources of that hour) landed the way the stream lands them,
   then one Dagster run of the transformed group for that hour in a fresh process (`dagster_run.RUN`), on
   local[2] and on the cluster (SMARTCITY_SPARK_REMOTE=in-process: the run's own Spark is a cluster client); both
   must write the same bytes.

    .venv/bin/python bench/cluster_benchmark.py [--events 200000] [--hour-events 1500000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assets_benchmark import HOUR, write_raw_hour  # bench/ is on sys.path when run as a script
from dagster_run import RUN

from smartcity_commands import cluster, stack
from smartcity.lake import Lake, layout
from smartcity.lake.layout import Hour
from smartcity.settings import load_settings
from smartcity.simulator.run import SimulationConfig, run_simulation
from smartcity_commands.stack import free_port
from smartcity.tables import TABLES

ROOT = Path(__file__).resolve().parents[1]
BATCH = re.compile(r"batch\s+(\d+):\s+([\d,]+) rows in\s+([\d.]+) s")


def environment(home: str, master: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCITY_", "PYSPARK_"))}
    env.update(SMARTCITY_HOME=home, SMARTCITY_SPARK_MASTER=master, SMARTCITY_LIVE_LAYER="false",
               PYTHONPATH=str(ROOT), **extra)
    return env


def stream(home: str, broker_port: int, master: str, events: int) -> dict:
    """`smartcity stream --available-now` in a fresh process: rows/s overall and after the first batch."""
    env = environment(home, master, SMARTCITY_BROKER_PORT=str(broker_port),
                      SMARTCITY_MAX_OFFSETS_PER_TRIGGER=str(events // 4))
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "smartcity_commands.cli", "stream", "--available-now"], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=3600)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(out.stdout[-2000:] + out.stderr[-3000:])
    batches = [(int(b), int(rows.replace(",", "")), float(s)) for b, rows, s in BATCH.findall(out.stdout)]
    rows = sum(r for _, r, _ in batches)
    steady = batches[1:]
    return {"rows": rows, "seconds": seconds, "overall": rows / seconds, "batches": len(batches),
            "first_batch_s": batches[0][2] if batches else 0.0,
            "steady": sum(r for _, r, _ in steady) / sum(s for _, _, s in steady) if steady else 0.0}


def transformed_hour(home: str, master: str) -> dict:
    """One run of the transformed group for the hour in a fresh process, the run's Spark on `master`."""
    env = environment(home, master, SMARTCITY_SPARK_REMOTE="in-process", SMARTCITY_SPARK_DRIVER_MEMORY="4g")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", RUN, HOUR, "transformed"], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    run = json.loads(out.stdout.strip().splitlines()[-1])
    if not run["success"]:
        raise RuntimeError(f"the run failed:\n{out.stderr[-3000:]}")
    run["seconds"] = time.perf_counter() - started
    run["steps_s"] = sum(run["steps"].values())
    return run


def transformed_files(lake: Lake) -> dict[str, bytes]:
    hour = Hour.parse(HOUR)
    return {t.name: lake.read_bytes(lake.path(layout.transformed_file(t.name, hour))) for t in TABLES}


def ratio_line(what: str, local: float, on_cluster: float, unit: str) -> str:
    return (f"{what}: local[2] {local:,.1f} {unit}, cluster {on_cluster:,.1f} {unit}, "
            f"cluster / local = {on_cluster / local if local else float('nan'):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000, help="events streamed (default 200,000)")
    parser.add_argument("--hour-events", type=int, default=1_500_000,
                        help="raw events in the transformed hour (default 1.5M: ~1M of them GPS fixes)")
    parser.add_argument("--worker-memory", default="1g", help="memory of each worker's executors (default 1g)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = load_settings(home=f"{tmp}/cluster", broker_port=free_port())
        port = free_port()
        spec = cluster.ClusterSpec(workers=2, cores=1, memory=args.worker_memory, port=port,
                                   ui_port=next(p for p in iter(free_port, None) if p != port))
        broker = stack.Broker()
        broker_state = broker.start(base)
        try:
            print("\n".join(cluster.up(base, spec)), flush=True)
            master = cluster.master_url(spec.port)

            report = run_simulation(base, SimulationConfig(events=args.events, speed=0.0, progress=False,
                                                           malformed_share=0.01, late_share=0.02))
            print(f"\n1. streaming: {report.sent:,} events produced once; smartcity stream --available-now, "
                  f"{args.events // 4:,} records per micro-batch", flush=True)
            runs = {}
            for name, where in (("local[2]", "local[2]"), ("cluster", master)):
                runs[name] = stream(f"{tmp}/stream-{name[:5]}", base.broker_port, where, args.events)
                r = runs[name]
                print(f"  {name:9}: {r['rows']:,} rows in {r['batches']} batches, process {r['seconds']:.1f} s "
                      f"= {r['overall']:,.0f} rows/s overall; first batch {r['first_batch_s']:.1f} s; "
                      f"{r['steady']:,.0f} rows/s after it", flush=True)
            assert runs["local[2]"]["rows"] == runs["cluster"]["rows"]
            print("  " + ratio_line("overall", runs["local[2]"]["overall"], runs["cluster"]["overall"], "rows/s"))
            print("  " + ratio_line("after the first batch", runs["local[2]"]["steady"], runs["cluster"]["steady"],
                                    "rows/s"), flush=True)

            home = f"{tmp}/hour"
            lake = Lake(f"file://{home}/lake")
            started = time.perf_counter()
            landed = write_raw_hour(lake, args.hour_events)
            print(f"\n2. one transformed hour: {landed:,} raw rows landed in {time.perf_counter() - started:.0f} s; "
                  "a Dagster run of the transformed group in a fresh process", flush=True)
            hours, written = {}, {}
            for name, where in (("local[2]", "local[2]"), ("cluster", master)):
                hours[name] = transformed_hour(home, where)
                written[name] = transformed_files(lake)
                h = hours[name]
                print(f"  {name:9}: run {h['seconds']:.1f} s (Spark up after {h['first_step_at'] - h['loaded_at']:.1f} s; "
                      f"steps {h['steps_s']:.1f} s); transformed gps rows {h['rows'].get('gps', 0):,}", flush=True)
            print("  " + ratio_line("run", hours["local[2]"]["seconds"], hours["cluster"]["seconds"], "s"))
            print("  " + ratio_line("steps", hours["local[2]"]["steps_s"], hours["cluster"]["steps_s"], "s"))
            print(f"  identical transformed files: {written['local[2]'] == written['cluster']}")
        finally:
            print("\n".join(cluster.down(base)))
            broker.stop(base, broker_state)


if __name__ == "__main__":
    main()
