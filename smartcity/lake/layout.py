"""Where things live in the lake (paths relative to the lake root), and the hour that partitions them.

    raw/source=<source>/event_date=YYYY-MM-DD/event_hour=HH/part-<stream>-<batch>-<task>.parquet
    quarantine/source=<source>/ingest_date=YYYY-MM-DD/ingest_hour=HH/part-<stream>-<batch>-<task>.parquet
    _manifests/raw/<stream>/<batch:012d>.json       one commit manifest per streaming micro-batch
    _symlinks/raw/source=<source>/event_date=YYYY-MM-DD/event_hour=HH/symlink.txt
                                                    committed files of a raw partition, for the catalog
    transformed/<table>/event_date=YYYY-MM-DD/event_hour=HH/data.parquet
    marts/<mart>/event_date=YYYY-MM-DD/event_hour=HH/data.parquet
    report/<last hour>Z-<hours>h/index.html, report/latest/index.html

Raw partitions use the *event* time (late events land in the hour they belong to); quarantined messages
have no trustworthy event time, so they are partitioned by the time they were ingested. Every path of the
project is built here: no other module joins zone, table and partition names itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from smartcity import names
from smartcity.contracts.event_time import FIRST_DATE  # noqa: F401  (re-exported: the first hour of every table)

RAW = "raw"
QUARANTINE = "quarantine"
TRANSFORMED = "transformed"
MARTS = "marts"
REPORT = "report"
MANIFESTS = "_manifests/raw"
# The raw zone's Iceberg tables (their metadata; the data files are the stream's own, where it wrote them)
RAW_TABLES = "_raw_tables"
PARTITION_COLUMNS = ("event_date", "event_hour")  # of every hourly table: lake folders, catalog, warehouse

_FILE_RE = re.compile(r"^part-(?P<stream>[0-9a-f]{16})-(?P<batch>\d{12})-(?P<task>[0-9a-f]{32})\.parquet$")
_STREAM_ID = re.compile(r"[0-9a-f]{16}")
_KEY_FORMAT = "%Y-%m-%d-%H:%M"  # Dagster's hourly partition keys: 2026-11-29-07:00


@dataclass(frozen=True, order=True)
class Hour:
    """One UTC hour of event time: the partition of every hourly table (lake folders, catalog and warehouse
    partitions, Dagster partition keys)."""

    date: str  # YYYY-MM-DD (UTC)
    hour: int  # 0..23 (UTC)

    def __post_init__(self) -> None:
        names.partition_date(self.date)
        names.partition_hour(self.hour)

    @classmethod
    def parse(cls, key: str) -> "Hour":
        """'2026-11-29-07:00' -> Hour('2026-11-29', 7); anything else is refused (it ends up in paths and SQL)."""
        if not isinstance(key, str) or len(key) != 16 or key[10] != "-" or key[13:] != ":00" \
                or not key[11:13].isascii() or not key[11:13].isdigit():
            raise ValueError(f"not an hourly partition key (YYYY-MM-DD-HH:00): {key!r}")
        return cls(key[:10], int(key[11:13]))

    @classmethod
    def of(cls, moment: datetime) -> "Hour":
        """The hour a (timezone-aware) moment falls in."""
        utc = moment.astimezone(timezone.utc)
        return cls(f"{utc:%Y-%m-%d}", utc.hour)

    @property
    def key(self) -> str:
        return f"{self.date}-{self.hour:02d}:00"

    @property
    def start(self) -> datetime:
        return datetime.strptime(self.key, _KEY_FORMAT).replace(tzinfo=timezone.utc)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=1)

    def shifted(self, hours: int) -> "Hour":
        return Hour.of(self.start + timedelta(hours=hours))

    @property
    def folder(self) -> str:
        return f"event_date={self.date}/event_hour={self.hour:02d}"

    @property
    def values(self) -> dict[str, str | int]:
        """The partition columns' values: {"event_date": "2026-11-29", "event_hour": 7}."""
        return dict(zip(PARTITION_COLUMNS, (self.date, self.hour)))


def hour_of_folders(date_dir: str, hour_dir: str) -> Hour | None:
    """The hour of a partition's folder names (`event_date=...`, `event_hour=..`), None if they are not."""
    date, hour = date_dir.removeprefix("event_date="), hour_dir.removeprefix("event_hour=")
    if date == date_dir or hour == hour_dir or not hour.isdigit():
        return None
    try:
        return Hour(date, int(hour))
    except ValueError:
        return None


@dataclass(frozen=True, order=True)
class PartitionKey:
    """One hourly partition of one source in the raw zone (event time) or the quarantine (ingest time)."""

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

    @classmethod
    def raw(cls, source: str, hour: Hour) -> "PartitionKey":
        return cls(RAW, source, hour.date, hour.hour)

    @property
    def directory(self) -> str:
        if self.zone == RAW:
            return partition_folder(raw_folder(self.source), self.event_hour)
        return f"{QUARANTINE}/source={self.source}/ingest_date={self.date}/ingest_hour={self.hour:02d}"

    @property
    def event_hour(self) -> Hour:
        return Hour(self.date, self.hour)

    @property
    def hour_key(self) -> str:
        """The matching Dagster hourly partition key, e.g. 2026-11-29-07:00."""
        return self.event_hour.key


# -- tables of the pipeline: one folder per table, one folder per hour --------------------------------------

HOUR_FOLDER_PATTERN = "event_date=YYYY-MM-DD/event_hour=HH"  # how docs and metadata show `Hour.folder`


def raw_folder(source: str) -> str:
    return f"{RAW}/source={names.identifier(source, 'source name')}"


def transformed_folder(table: str) -> str:
    return f"{TRANSFORMED}/{names.identifier(table, 'table name')}"


def mart_folder(mart: str) -> str:
    return f"{MARTS}/{names.identifier(mart, 'mart name')}"


def raw_table_folder(source: str) -> str:
    """The location of a source's raw Iceberg table (its metadata; it names the stream's committed files)."""
    return f"{RAW_TABLES}/source={names.identifier(source, 'source name')}"


def partition_folder(table_folder: str, hour: Hour) -> str:
    return f"{table_folder}/{hour.folder}"


def report_folder(last_hour: Hour, hours: int) -> str:
    return f"{REPORT}/{last_hour.date}T{last_hour.hour:02d}Z-{hours}h"


LATEST_REPORT = f"{REPORT}/latest/index.html"


# -- the streaming job's files ------------------------------------------------------------------------------

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
