"""Commit manifests: the unit of visibility of the raw zone.

Executors write data files; then the driver writes one manifest per micro-batch naming those files and
the partitions they touch. Readers trust only files named in a manifest, so files of a batch that crashed
before its commit (or was replayed under the same batch id) are never read. A manifest is created only if
absent: a replayed batch (same id, same Kafka offsets) never duplicates data, and the same id for other offsets
stops the stream instead of losing them (`commit`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from smartcity.errors import SmartcityError
from smartcity.lake import layout
from smartcity.lake.storage import Lake


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the lake root
    zone: str
    source: str
    date: str
    hour: int
    rows: int
    bytes: int

    @property
    def partition(self) -> layout.PartitionKey:
        return layout.PartitionKey(self.zone, self.source, self.date, self.hour)


@dataclass(frozen=True)
class OffsetRange:
    topic: str
    partition: int
    first: int  # first and last Kafka offset in the batch (inclusive)
    last: int
    rows: int


@dataclass
class Manifest:
    stream_id: str
    batch_id: int
    committed_at: str
    files: list[DataFile]
    offsets: list[OffsetRange]
    quarantine_reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> reason -> n

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def partitions(self) -> dict[layout.PartitionKey, dict[str, int]]:
        """Rows, files and bytes this batch added to each partition."""
        out: dict[layout.PartitionKey, dict[str, int]] = defaultdict(lambda: {"rows": 0, "files": 0, "bytes": 0})
        for f in self.files:
            p = out[f.partition]
            p["rows"] += f.rows
            p["files"] += 1
            p["bytes"] += f.bytes
        return dict(out)

    def to_json(self) -> bytes:
        body = asdict(self)
        body["rows"] = self.rows
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        body = json.loads(data)
        return cls(body["stream_id"], body["batch_id"], body["committed_at"],
                   [DataFile(**f) for f in body["files"]], [OffsetRange(**o) for o in body["offsets"]],
                   body.get("quarantine_reasons", {}))


class ManifestConflict(SmartcityError):
    """A batch id committed before for other Kafka offsets: not a replay (see `commit`)."""


def commit(lake: Lake, manifest: Manifest) -> bool:
    """Publish a manifest; it is created only if none exists for its stream and batch (two writers cannot both
    win). True when this batch is committed with these files — now, or by an earlier attempt of this very call
    whose answer was lost (the manifest found names exactly these files and offsets: the caller keeps them). False
    (nothing written) when the batch was committed before for the same Kafka offsets: a replay after a
    restart, whose new files the caller may remove.

    The same batch id for other offsets is no replay: the checkpoint was reset, lost or restored from a backup
    while the stream id stayed, or two deployments share one. Keeping the first manifest would silently drop
    the new rows once Spark records their offsets as done, so this raises `ManifestConflict` and the stream
    stops with nothing of the batch visible.
    """
    path = lake.path(layout.manifest_path(manifest.stream_id, manifest.batch_id))
    existing = read(lake, manifest.stream_id, manifest.batch_id)
    if existing is None:
        if lake.create_bytes(path, manifest.to_json()):
            return True
        existing = read(lake, manifest.stream_id, manifest.batch_id)  # created meanwhile, or our lost answer
    same_offsets = sorted(existing.offsets, key=_order) == sorted(manifest.offsets, key=_order)
    if same_offsets:
        return existing.files == manifest.files
    raise ManifestConflict(
        f"micro-batch {manifest.batch_id} of stream {manifest.stream_id} was committed before for other Kafka "
        f"offsets ({_ranges(existing.offsets)}; now {_ranges(manifest.offsets)}): the streaming checkpoint was "
        "reset, lost or restored from a backup while the stream id stayed the same, or two deployments share "
        "the id. Nothing of this batch is visible and no offset is marked done. Give this checkpoint a stream id "
        "of its own (unset SMARTCITY_STREAM_ID for a local checkpoint folder, or set a new 16-hex-digit one) and "
        "start the stream again, or restore the checkpoint that belongs to this lake")


def _order(o: OffsetRange) -> tuple:
    return o.topic, o.partition, o.first, o.last, o.rows


def _ranges(offsets: list[OffsetRange]) -> str:
    shown = ", ".join(f"{o.topic}/{o.partition} {o.first}..{o.last}" for o in sorted(offsets, key=_order)[:3])
    return (shown + (f" and {len(offsets) - 3} more" if len(offsets) > 3 else "")) or "no offsets"


def read(lake: Lake, stream_id: str, batch_id: int) -> Manifest | None:
    path = lake.path(layout.manifest_path(stream_id, batch_id))
    try:
        return Manifest.from_json(lake.read_bytes(path))
    except FileNotFoundError:
        return None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Cursor(dict):
    """Last manifest seen per stream: {stream id: batch id}. Serialises to a short JSON string."""

    def dumps(self) -> str:
        return json.dumps(dict(sorted(self.items())), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> "Cursor":
        return cls(json.loads(text)) if text else cls()


def head(lake: Lake) -> Cursor:
    """The cursor just past every manifest committed so far (lists names, reads no manifest)."""
    cursor = Cursor()
    for stream_id in filter(layout.is_stream_id, lake.list_subdirs(lake.path(layout.MANIFESTS))):
        names = [n for n in lake.list_names_after(lake.path(layout.MANIFESTS, stream_id), "")
                 if n.endswith(".json") and n[:-5].isdigit()]
        if names:
            cursor[stream_id] = int(names[-1][:-5])
    return cursor


def list_after(lake: Lake, cursor: Cursor, limit: int | None = None) -> tuple[list[Manifest], Cursor]:
    """Manifests committed after `cursor`, oldest first per stream, and the cursor that follows them.

    Cost grows with the number of new manifests (and streams), not with the history: each stream's
    folder is listed starting after the cursor's file name.
    """
    found: list[Manifest] = []
    new_cursor = Cursor(cursor)
    for stream_id in filter(layout.is_stream_id, lake.list_subdirs(lake.path(layout.MANIFESTS))):  # not ours: skip
        after = cursor.get(stream_id, -1)
        directory = lake.path(layout.MANIFESTS, stream_id)
        names = lake.list_names_after(directory, f"{after:012d}.json" if after >= 0 else "")
        for name in names:
            if not name.endswith(".json") or not name[:-5].isdigit():
                continue
            if limit is not None and len(found) >= limit:
                break
            manifest = Manifest.from_json(lake.read_bytes(f"{directory}/{name}"))
            found.append(manifest)
            new_cursor[stream_id] = manifest.batch_id
    return found, new_cursor
