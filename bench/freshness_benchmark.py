"""Event -> mart freshness on the live platform: `smartcity up` (stack, stream, simulator, Dagster daemon and
sensor) from a cold start for `--minutes` at `--vehicles`, once per Spark mode in one run of this script —
the warm embedded Spark Connect server (the default) and, as the baseline, Spark started inside each run
(`SMARTCITY_SPARK_REMOTE=in-process`). Then `smartcity freshness`'s measure over the whole run (cold start)
and over the micro-batches committed in its second half (steady state), and how many sensor runs finished.

    .venv/bin/python bench/freshness_benchmark.py [--minutes 10] [--vehicles 1000] [--modes warm,in-process]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from smartcity_commands.freshness import measure
from smartcity.lake import Lake
from smartcity.settings import load_settings
from smartcity_commands.stack import free_port

ROOT = Path(__file__).resolve().parents[1]


def run_platform(home: str, mode: str, minutes: float, vehicles: int) -> tuple[datetime, datetime]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
    env.update(SMARTCITY_HOME=home, SMARTCITY_BROKER_PORT=str(free_port()), SMARTCITY_POSTGRES_PORT=str(free_port()),
               SMARTCITY_SPARK_CONNECT_PORT=str(free_port()))
    if mode == "in-process":
        env["SMARTCITY_SPARK_REMOTE"] = "in-process"
    began = datetime.now(timezone.utc)
    with open(Path(home) / "up.log", "w") as log:
        subprocess.run([sys.executable, "-m", "smartcity_commands.cli", "up", "--ui-port", str(free_port()), "--vehicles",
                        str(vehicles), "--duration", str(minutes * 60), "--status-every", "60"],
                       stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, check=True, timeout=minutes * 60 + 600)
    print((Path(home) / "up.log").read_text(), flush=True)
    return began, datetime.now(timezone.utc)


def report(home: str, began: datetime, minutes: float) -> list[str]:
    settings = load_settings(home=home)
    lake = Lake.from_settings(settings)
    lines = []
    with dg.DagsterInstance.from_config(str(Path(home) / "dagster")) as instance:
        runs = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        durations = sorted(r.end_time - r.start_time for r in runs if r.start_time and r.end_time)
        if durations:
            lines.append(f"{len(durations)} runs succeeded, run time median {durations[len(durations) // 2]:.1f} s, "
                         f"max {durations[-1]:.1f} s")
        cache: dict = {}
        for label, since in (("cold start", began), ("steady state", began + timedelta(minutes=minutes / 2))):
            lines.append(f"{label}: {measure(lake, instance, since=since, produced_at=cache).summary()}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--modes", default="warm,in-process")
    args = parser.parse_args()
    results = {}
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory() as home:
            print(f"== {mode}: smartcity up for {args.minutes:g} min at {args.vehicles} vehicles", flush=True)
            started = time.perf_counter()
            began, _ = run_platform(home, mode, args.minutes, args.vehicles)
            results[mode] = report(home, began, args.minutes)
            print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    for mode, lines in results.items():
        print(f"{mode}:")
        for line in lines:
            print(f"  {line}")


if __name__ == "__main__":
    main()
