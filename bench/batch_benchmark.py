"""Batch layer: one hour of every layer (transformed, catalog, marts) in a fresh Dagster run process, with
Spark started inside the run (cold, `SMARTCITY_SPARK_REMOTE=in-process`: what every run cost before) and on
the warm embedded Spark Connect server (the default), measured in one run of this script.

For each size: the run's start-up (process start -> code location loaded -> first step started, i.e. Spark
ready) and its total wall time; the warm runs twice (the first one also warms the server's code paths).
The outputs of both paths are compared row for row. Raw data is landed by the streaming sink's own code
(`assets_benchmark.write_raw_hour`), so no broker is involved.

    .venv/bin/python bench/batch_benchmark.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assets_benchmark import HOUR, write_raw_hour  # bench/ is on sys.path when run as a script
from dagster_run import RUN

from smartcity_commands import stack
from smartcity.lake import Lake, layout
from smartcity.lake.layout import Hour
from smartcity.marts import MARTS
from smartcity.settings import load_settings
from smartcity.tables import TABLES

ROOT = Path(__file__).resolve().parents[1]


def run_in_fresh_process(settings, remote: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
    env.update({"SMARTCITY_HOME": str(settings.home_dir), "SMARTCITY_POSTGRES_PORT": str(settings.postgres_port),
                "SMARTCITY_SPARK_CONNECT_PORT": str(settings.spark_connect_port), "SMARTCITY_SPARK_REMOTE": remote,
                "SMARTCITY_SPARK_DRIVER_MEMORY": settings.spark_driver_memory, "PYTHONPATH": str(ROOT)})
    if remote == "":
        env.pop("SMARTCITY_SPARK_REMOTE")
    spawned = time.time()
    out = subprocess.run([sys.executable, "-c", RUN, HOUR, "transformed,catalog,marts"], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    run = json.loads(out.stdout.strip().splitlines()[-1])
    if not run["success"]:
        raise RuntimeError(f"the run failed:\n{out.stderr[-3000:]}")
    run["loaded_s"] = run["loaded_at"] - spawned
    run["to_first_step_s"] = run["first_step_at"] - spawned
    run["seconds"] = time.time() - spawned
    return run


def outputs(lake: Lake) -> dict:
    """Every table the run wrote for the hour, as Arrow tables."""
    hour = Hour.parse(HOUR)
    files = {t.name: layout.transformed_file(t.name, hour) for t in TABLES}
    files.update({m.name: layout.mart_file(m.name, hour) for m in MARTS})
    return {name: lake.read_parquet([lake.path(f)]) for name, f in files.items() if lake.exists(lake.path(f))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as home:
            settings = load_settings(home=home, broker_port=stack.free_port(), postgres_port=stack.free_port(),
                                     spark_connect_port=stack.free_port(), spark_driver_memory="4g",
                                     kafka_bootstrap_servers=None, warehouse_url=None, lake_uri=None, spark_remote=None)
            lake = Lake.from_settings(settings)
            landed = write_raw_hour(lake, size)
            began = time.perf_counter()
            for line in stack.up(settings):
                print("  " + line, flush=True)
            print(f"  stack up in {time.perf_counter() - began:.1f} s", flush=True)
            try:
                cold = run_in_fresh_process(settings, "in-process")
                cold_out = outputs(lake)
                warm = [run_in_fresh_process(settings, "") for _ in range(2)]
                warm_out = outputs(lake)
            finally:
                stack.down(settings)
            differ = sorted(n for n in cold_out.keys() | warm_out.keys() if n not in cold_out or n not in warm_out
                            or not cold_out[n].equals(warm_out[n]))
            print(f"{landed:,} raw rows in the hour; tables of cold and warm runs identical: "
                  f"{'yes' if not differ else 'NO, ' + ', '.join(differ) + ' differ'}")
            for name in differ:
                if name in cold_out and name in warm_out and cold_out[name].schema != warm_out[name].schema:
                    print(f"  {name}: schemas differ:\n{cold_out[name].schema}\n-- vs --\n{warm_out[name].schema}")
                elif name in cold_out and name in warm_out:
                    merged = cold_out[name].to_pandas().merge(warm_out[name].to_pandas(), how="outer", indicator=True)
                    print(f"  {name}: rows only in one of them:\n{merged[merged._merge != 'both'].head(6).to_string()}")
            for name, run in (("cold in-process", cold), ("warm #1", warm[0]), ("warm #2", warm[1])):
                slow = sorted(run["steps"].items(), key=lambda kv: -kv[1])[:3]
                print(f"  {name:16} code location loaded {run['loaded_s']:5.1f} s, "
                      f"first step {run['to_first_step_s']:5.1f} s,"
                      f" run {run['seconds']:6.1f} s  (slowest: {', '.join(f'{k} {v:.1f}s' for k, v in slow)})")
            print("  warm #2 steps: " + ", ".join(f"{k.split('__')[-1]} {v:.1f}" for k, v in warm[1]["steps"].items()))
            print(f"  warm / cold run time: {warm[1]['seconds'] / cold['seconds']:.2f}x, "
                  f"start-up {warm[1]['to_first_step_s'] / cold['to_first_step_s']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
