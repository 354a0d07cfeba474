"""Freshness of the marts, measured: for each event, the time from being produced (its Kafka timestamp)
to its effect being visible in a mart (the end of the first mart run of its hour that started after the
micro-batch carrying it was committed).

Reads the commit manifests, the raw files' Kafka timestamps and the mart's materializations in the
Dagster instance, so it measures the live platform as it ran, with nothing added to the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow.parquet as pq

from smartcity.lake import Lake, layout, manifests


@dataclass
class Freshness:
    mart: str
    events: int  # events whose effect is visible in the mart
    pending: int  # committed events no mart run has picked up yet
    p50_s: float | None
    p95_s: float | None
    max_s: float | None
    runs: int  # mart materializations considered

    def summary(self) -> str:
        if not self.events:
            return f"{self.mart}: no event visible yet ({self.pending:,} waiting for a run)"
        return (f"{self.mart}: produced -> visible p50 {self.p50_s:.1f} s, p95 {self.p95_s:.1f} s, max {self.max_s:.1f} s "
                f"over {self.events:,} events and {self.runs} runs ({self.pending:,} still waiting)")


def measure(lake: Lake, instance, mart: str = "traffic_congestion", since: datetime | None = None,
            produced_at: dict[str, np.ndarray] | None = None) -> Freshness:
    """Latency distribution of one mart; `since` limits it to micro-batches committed after that time.
    `produced_at` caches each raw file's Kafka timestamps across calls (files never change once committed)."""
    produced_at = {} if produced_at is None else produced_at
    import dagster as dg

    records, cursor = [], None
    while True:  # the event log hands out at most 10,000 records at a time
        page = instance.fetch_materializations(dg.AssetKey(["marts", mart]), limit=10_000, cursor=cursor)
        records += page.records
        if not page.has_more:
            break
        cursor = page.cursor
    runs: dict[str, list[tuple[float, float]]] = {}  # hour -> [(run start, materialized at)]
    for record in records:
        run = instance.get_run_record_by_id(record.run_id)
        if record.partition_key and run is not None and run.start_time is not None:
            runs.setdefault(record.partition_key, []).append((run.start_time, record.timestamp))
    found, _ = manifests.list_after(lake, manifests.Cursor())
    latencies, pending = [], 0
    for m in found:
        committed = datetime.fromisoformat(m.committed_at).timestamp()
        if since is not None and committed < since.timestamp():
            continue
        for f in m.files:
            if f.partition.zone != layout.RAW:
                continue
            visible = [done for start, done in runs.get(f.partition.hour_key, []) if start >= committed]
            if f.path not in produced_at:
                produced = pq.read_table(lake.path(f.path), columns=["kafka_timestamp"], filesystem=lake.fs)
                produced_at[f.path] = produced.column(0).drop_null().cast("int64").to_numpy() / 1e6  # us -> s
            stamps = produced_at[f.path]
            if not visible:
                pending += len(stamps)
                continue
            latencies.append(min(visible) - stamps)
    values = np.concatenate(latencies) if latencies else np.array([])
    pick = (lambda q: float(np.percentile(values, q))) if len(values) else (lambda q: None)
    return Freshness(mart, len(values), pending, pick(50), pick(95), float(values.max()) if len(values) else None,
                     sum(len(v) for v in runs.values()))
