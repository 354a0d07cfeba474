"""Keeping the lake's Iceberg tables bounded: every commit adds a snapshot, a manifest list and manifests, and a
replaced hour leaves its old data file behind for time travel. Maintenance expires snapshots older than the
retention or beyond a count (always keeping the newest few, so `--as-of` still has something to go back to; the
count because every commit rewrites a metadata file that lists every snapshot kept), then removes the
table's files that no remaining snapshot references and that are older than a safety age (so a file a running
commit is about to reference, or a held-back hour's file kept for inspection, is not taken from under it).

Compaction is not needed here: a commit gives each hour it replaces exactly one data file (`replace_hours`), so
small files do not pile up within an hour. Only the table's own folder is cleaned: the raw tables reference the
stream's files in raw/, which the stream owns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from smartcity.lake.iceberg import LakeTable, LakeTables

log = logging.getLogger(__name__)

RETENTION = timedelta(days=7)  # snapshots younger than this stay readable (`smartcity query --as-of`) ...
MAX_SNAPSHOTS = 500  # ... up to this many: every commit rewrites a metadata file listing them all
KEEP_LAST = 10  # and at least this many of the newest, however old
ORPHAN_AGE = timedelta(days=1)  # an unreferenced file younger than this is left alone


@dataclass(frozen=True)
class Maintained:
    table: str
    snapshots_expired: int
    snapshots_left: int
    files_removed: int
    bytes_removed: int


def referenced(tables: LakeTables, definition: LakeTable) -> set[str]:
    """Lake paths of every file a snapshot of the table still needs: manifest lists, manifests, data files, and
    the metadata files of the table's history."""
    table = tables.table(definition, refresh=True)
    found = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)}
    for snapshot in table.snapshots():
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            found.add(manifest.manifest_path)
            found.update(e.data_file.file_path for e in manifest.fetch_manifest_entry(table.io, discard_deleted=True))
    return {tables.lake_path(uri) for uri in found}


def maintain(tables: LakeTables, definition: LakeTable, retention: timedelta = RETENTION, keep_last: int = KEEP_LAST,
             orphan_age: timedelta = ORPHAN_AGE, now: datetime | None = None,
             max_snapshots: int = MAX_SNAPSHOTS) -> Maintained:
    """Expire the snapshots older than `retention` and those beyond the newest `max_snapshots`, never the newest
    `keep_last`; then remove the table's unreferenced files older than `orphan_age`."""
    now = now or datetime.now(timezone.utc)
    table = tables.table(definition, refresh=True)
    snapshots = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
    keep = {s.snapshot_id for s in snapshots[-max(keep_last, 1):]}
    recent = {s.snapshot_id for s in snapshots[-max(max_snapshots, 1):]}
    cutoff = int((now - retention).timestamp() * 1000)
    expired = [s.snapshot_id for s in snapshots
               if (s.timestamp_ms < cutoff or s.snapshot_id not in recent) and s.snapshot_id not in keep]
    if expired:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
    needed = referenced(tables, definition)
    lake, removed, size = tables.lake, 0, 0
    old_enough = now - orphan_age
    for info in lake.list_dir(lake.path(definition.folder), recursive=True):
        if info.path in needed or info.path.endswith(".metadata.json") or info.mtime is None:
            continue  # metadata files are pruned by the commits themselves (previous-versions-max)
        if info.mtime.replace(tzinfo=info.mtime.tzinfo or timezone.utc) > old_enough:
            continue
        lake.delete(info.path)
        removed, size = removed + 1, size + info.size
    left = len(tables.table(definition, refresh=True).snapshots())
    log.info("%s: %d snapshots expired (%d left), %d unreferenced files removed (%d bytes)", definition.name,
             len(expired), left, removed, size)
    return Maintained(definition.name, len(expired), left, removed, size)
