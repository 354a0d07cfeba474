"""Where things live in the lake (paths relative to the lake root).

    raw/source=<source>/event_date=YYYY-MM-DD/event_hour=HH/part-<stream>-<batch>-<task>.parquet
    quarantine/source=<source>/ingest_date=YYYY-MM-DD/ingest_hour=HH/part-<stream>-<batch>-<task>.parquet
    _manifests/raw/<stream>/<batch:012d>.json       one commit manifest per streaming micro-batch
    _symlinks/raw/source=<source>/event_date=YYYY-MM-DD/event_hour=HH/symlink.txt
                                                    committed files of a raw partition, for the catalog

Raw partitions use the *event* time (late events land in the hour they belong to); quarantined messages
have no trustworthy event time, so they are partitioned by the time they were ingested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RAW = "raw"
QUARANTINE = "quarantine"
MANIFESTS = "_manifests/raw"
SYMLINKS = "_symlinks"  # per raw partition, the list of its committed files (Hive symlink manifests)

_FILE_RE = re.compile(r"^part-(?P<stream>[0-9a-f]{16})-(?P<batch>\d{12})-(?P<task>[0-9a-f]{32})\.parquet$")
_SAFE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True, order=True)
class PartitionKey:
    """One hourly partition of one source in one zone (raw or quarantine)."""

    zone: str
    source: str
    date: str  # YYYY-MM-DD (UTC)
    hour: int  # 0..23 (UTC)

    def __post_init__(self) -> None:
        if self.zone not in (RAW, QUARANTINE) or not _SAFE.match(self.source):
            raise ValueError(f"invalid partition {self}")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.date) or not 0 <= self.hour <= 23:
            raise ValueError(f"invalid partition date/hour {self.date} {self.hour}")

    @property
    def directory(self) -> str:
        time_cols = ("event_date", "event_hour") if self.zone == RAW else ("ingest_date", "ingest_hour")
        return f"{self.zone}/source={self.source}/{time_cols[0]}={self.date}/{time_cols[1]}={self.hour:02d}"

    @property
    def symlink_file(self) -> str:
        """Hive symlink manifest listing the partition's committed files (what Athena and DuckDB read)."""
        return f"{SYMLINKS}/{self.directory}/symlink.txt"

    @property
    def hour_key(self) -> str:
        """The matching Dagster hourly partition key, e.g. 2026-11-29-07:00."""
        return f"{self.date}-{self.hour:02d}:00"


def data_file_name(stream_id: str, batch_id: int, task_id: str) -> str:
    return f"part-{stream_id}-{batch_id:012d}-{task_id}.parquet"


def parse_data_file_name(name: str) -> tuple[str, int] | None:
    """(stream id, batch id) of a data file written by the streaming sink, None for anything else."""
    m = _FILE_RE.match(name)
    return (m["stream"], int(m["batch"])) if m else None


def manifest_path(stream_id: str, batch_id: int) -> str:
    return f"{MANIFESTS}/{stream_id}/{batch_id:012d}.json"
