"""Iceberg tables on the embedded catalog: the latency of committing an hour (one OVERWRITE of one hour's file)
beside writing that file alone (the baseline, same run), and the cost of planning a read of one hour as the
table's commit count grows, with the size of its metadata.

Maintenance (`smartcity.lake.table_maintenance.maintain` with its defaults, what the hourly job runs: at most
500 snapshots) runs every `--maintain-every` commits, standing in for an hour of commits at one a minute or
more; `--maintain-every 0` shows the table without maintenance, where every commit rewrites a metadata file
listing every snapshot so far (slow beyond a few hundred commits).

    .venv/bin/python bench/iceberg_benchmark.py [--commits 10,100,1000,10000] [--rows 20000] [--maintain-every 100]

Needs a PostgreSQL: it starts the embedded one in a temporary home (stopped at the end).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from smartcity.contracts import Field, FieldType
from smartcity.lake import Lake
from smartcity.lake.iceberg import LakeTable, LakeTables
from smartcity.lake.layout import Hour
from smartcity.lake.table_maintenance import maintain
from smartcity.settings import load_settings
from smartcity_commands import stack

TABLE = LakeTable("transformed_bench", "transformed/bench", "benchmark table", (
    Field("event_id", FieldType.STRING, "id"), Field("event_time", FieldType.TIMESTAMP, "when"),
    Field("value", FieldType.DOUBLE, "value")), "event_time")


def rows(hour: Hour, n: int) -> pa.Table:
    return pa.table({"event_id": [f"e{i}" for i in range(n)],
                     "event_time": pa.array([hour.start + timedelta(seconds=i % 3600) for i in range(n)],
                                            pa.timestamp("us", tz="UTC")),
                     "value": [float(i) for i in range(n)]})


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", default="10,100,1000,10000")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--maintain-every", type=int, default=100)
    args = parser.parse_args()
    marks = sorted(int(c) for c in args.commits.split(","))
    home = Path(tempfile.mkdtemp(prefix="iceberg-bench-"))
    settings = load_settings(home=home, postgres_port=stack.free_port(), broker_port=stack.free_port(),
                             spark_connect_port=stack.free_port(), warehouse_url=None, lake_uri=None)
    postgres = stack.Postgres()
    state = postgres.start(settings)
    try:
        lake = Lake.from_settings(settings)
        tables = LakeTables.open(lake, "sql", uri=settings.iceberg_catalog_dsn)
        hours = [Hour("2026-11-29", 0).shifted(n) for n in range(48)]
        data = rows(hours[0], args.rows)
        write_s, commit_s, plan = [], [], []
        done = 0
        print(f"{'commits':>8} {'write file ms':>14} {'commit ms':>10} {'plan one hour ms':>17} {'metadata MB':>12} {'snapshots':>10}")
        for mark in marks:
            while done < mark:
                hour = hours[done % len(hours)]
                began = time.perf_counter()
                path = tables.write_hour(TABLE, hour, data if done < 20 else data.slice(0, 10))
                wrote = time.perf_counter()
                tables.replace_hours(TABLE, {hour: [path]})
                write_s.append(wrote - began)
                commit_s.append(time.perf_counter() - wrote)
                done += 1
                if args.maintain_every and done % args.maintain_every == 0:
                    maintain(tables, TABLE, orphan_age=timedelta(0))
            fresh = LakeTables.open(lake, "sql", uri=settings.iceberg_catalog_dsn)
            timings = []
            for _ in range(5):
                began = time.perf_counter()
                assert len(fresh.hour_files(TABLE, [hours[7]])) == 1
                timings.append(time.perf_counter() - began)
            plan.append(statistics.median(timings))
            recent = slice(-min(50, len(commit_s)), None)
            print(f"{mark:>8} {statistics.median(write_s[recent]) * 1e3:>14.1f} "
                  f"{statistics.median(commit_s[recent]) * 1e3:>10.1f} {plan[-1] * 1e3:>17.1f} "
                  f"{folder_bytes(home / 'lake' / 'transformed' / 'bench' / 'metadata') / 1e6:>12.2f} "
                  f"{len(fresh.table(TABLE).snapshots()):>10}", flush=True)
        first = statistics.median(commit_s[:10])
        print(f"\ncommit of an hour ({args.rows:,} rows, first 10): median {first * 1e3:.1f} ms against "
              f"{statistics.median(write_s[:10]) * 1e3:.1f} ms to write its file (baseline, same run)")
        print(f"planning one hour: {plan[0] * 1e3:.1f} ms at {marks[0]} commits, {plan[-1] * 1e3:.1f} ms at "
              f"{marks[-1]} ({plan[-1] / plan[0]:.2f}x)")
    finally:
        postgres.stop(settings, state)


if __name__ == "__main__":
    main()
