"""Freshness of the marts, measured: for each event, the time from being produced (its Kafka timestamp)
to its effect being visible in a mart (the end of the first mart run of its hour that started after the
micro-batch carrying it was committed).

Reads the commit manifests, the raw files' Kafka timestamps and the mart's materializations in the
Dagster instance, so it measures the live platform as it ran, with nothing added to the hot path. `smartcity up`
records when it started and stopped (`PlatformRun`, in the home folder), and `smartcity freshness` measures the
micro-batches of that run only, not those of an earlier demo or platform run in the same home.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

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


@dataclass(frozen=True)
class PlatformRun:
    """When the last `smartcity up` of a home started and (once it has) stopped."""

    started_at: datetime
    stopped_at: datetime | None = None

    @staticmethod
    def path(home: Path) -> Path:
        return home / "platform-run.json"

    @classmethod
    def load(cls, home: Path) -> "PlatformRun | None":
        path = cls.path(home)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(datetime.fromisoformat(data["started_at"]),
                   datetime.fromisoformat(data["stopped_at"]) if data.get("stopped_at") else None)

    def save(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.path(home).write_text(json.dumps({"started_at": self.started_at.isoformat(), "stopped_at":
                                               self.stopped_at.isoformat() if self.stopped_at else None}))

    @classmethod
    def begin(cls, home: Path) -> "PlatformRun":
        run = cls(datetime.now(timezone.utc))
        run.save(home)
        return run

    def end(self, home: Path) -> None:
        PlatformRun(self.started_at, datetime.now(timezone.utc)).save(home)

    def describe(self) -> str:
        until = f"{self.stopped_at:%Y-%m-%d %H:%M:%S} UTC" if self.stopped_at else "now (still running)"
        return f"the last `smartcity up`, {self.started_at:%Y-%m-%d %H:%M:%S} UTC to {until}"


def measure(lake: Lake, instance, mart: str = "traffic_congestion", since: datetime | None = None,
            produced_at: dict[str, np.ndarray] | None = None, until: datetime | None = None) -> Freshness:
    """Latency distribution of one mart over the micro-batches committed from `since` to `until` (either open).
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
        if (since is not None and committed < since.timestamp()) or (until is not None and committed > until.timestamp()):
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
