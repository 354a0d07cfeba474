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

from smartcity import names

RAW = "raw"
QUARANTINE = "quarantine"
MANIFESTS = "_manifests/raw"
SYMLINKS = "_symlinks"  # per raw partition, the list of its committed files (Hive symlink manifests)

_FILE_RE = re.compile(r"^part-(?P<stream>[0-9a-f]{16})-(?P<batch>\d{12})-(?P<task>[0-9a-f]{32})\.parquet$")
_STREAM_ID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, order=True)
class PartitionKey:
    """One hourly partition of one source in one zone (raw or quarantine)."""

    zone: str
    source: str
    date: str  # YYYY-MM-DD (UTC)
    hour: int  # 0..23 (UTC)

    def __post_init__(self) -> None:
        if self.zone not in (RAW, QUARANTINE):
            raise ValueError(f"invalid partition zone {self.zone!r} (raw or quarantine)")
        names.identifier(self.source, "source name")
        names.partition_date(self.date)
        names.partition_hour(self.hour)

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


def is_stream_id(name: str) -> bool:
    return bool(_STREAM_ID.fullmatch(name))


def _stream(stream_id: str) -> str:
    if not is_stream_id(stream_id):
        raise ValueError(f"not a stream id (16 lowercase hex characters): {stream_id!r}")
    return stream_id


def data_file_name(stream_id: str, batch_id: int, task_id: str) -> str:
    return f"part-{_stream(stream_id)}-{batch_id:012d}-{task_id}.parquet"


def parse_data_file_name(name: str) -> tuple[str, int] | None:
    """(stream id, batch id) of a data file written by the streaming sink, None for anything else."""
    m = _FILE_RE.match(name)
    return (m["stream"], int(m["batch"])) if m else None


def manifest_path(stream_id: str, batch_id: int) -> str:
    return f"{MANIFESTS}/{_stream(stream_id)}/{batch_id:012d}.json"
