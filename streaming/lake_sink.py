"""The lake sink: a Spark stream writer (Python data source API, Arrow) with commit manifests.

Executors (`write`) turn their rows into Parquet files, one per (zone, source, date, hour) they touched,
split at `maxRowsPerFile`, named after the stream and batch. The driver (`commit`) then publishes one
manifest naming every file of the batch — the moment the batch becomes visible; the manifest is created only
if absent. A batch id whose manifest already exists for the same Kafka offsets (a replay after a crash) is not
committed again, and its new files are removed; the same id for other offsets (a reset or restored checkpoint
under a fixed stream id) stops the stream with nothing of the batch visible (`manifests.commit`); `abort`
removes the files of a failed batch. Readers only trust files named in manifests, so no case can duplicate
data, lose it or expose a partial batch.

Object-store errors: every lake operation is retried on throttling, 5xx and timeouts (see
`smartcity.lake.retry`), and a commit whose answer was lost is recognised when retried. When the store
keeps failing the batch fails without a manifest (so nothing of it is visible) and is replayed after a
restart; `abort` removes files only when no manifest names them.

The live layer (option `liveWarehouseUrl` set): each task also reduces its valid events to what the live
tables need (`smartcity.live.events`), and the driver applies the batch's to the warehouse right after the
manifest (`smartcity.warehouse.live`), with the batch id in the same transaction — so a replayed batch is
neither landed nor counted twice. An unreachable warehouse is waited for (`warehouseWaitS`); then the batch
fails, already in the lake, and the restart applies it to the live tables.

Options: the lake's (`Lake.options()`: `lake` — a file:// or s3:// URI —, `s3EndpointUrl`, `region`,
`s3MaxAttempts`, `s3TimeoutS`, `lakeRetries`, `lakeRetryBackoffS`), `streamId` (16 hex chars, stable per
checkpoint), `maxRowsPerFile` (default 1,000,000), `liveWarehouseUrl`, `liveWarehouseKind` (postgres | redshift), `liveRedshiftIamRole`,
`warehouseWaitS` (see the settings of the same names).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamArrowWriter,
    WriterCommitMessage,
)

from smartcity.errors import AccessDenied, SmartcityError
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.manifests import DataFile, Manifest, OffsetRange
from smartcity.lake.schemas import QUARANTINE_FILE, RAW_FILE_SCHEMAS
from smartcity.live.events import concat, live_events

log = logging.getLogger("smartcity.streaming.lake_sink")


class LakeSink(DataSource):
    @classmethod
    def name(cls) -> str:
        return "smartcity_lake"

    def streamWriter(self, schema, overwrite: bool) -> "LakeStreamWriter":
        return LakeStreamWriter(dict(self.options))


@dataclass
class LakeCommitMessage(WriterCommitMessage):
    files: list[DataFile] = field(default_factory=list)
    offsets: list[OffsetRange] = field(default_factory=list)
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    live: dict[str, pa.Table] = field(default_factory=dict)  # the task's events for the live layer


class LakeStreamWriter(DataSourceStreamArrowWriter):
    def __init__(self, options: dict[str, str]):
        lowered = {k.lower(): v for k, v in options.items()}
        self.lake = Lake.from_options(options, "the smartcity_lake sink")
        if "streamid" not in lowered:
            raise ValueError("the smartcity_lake sink needs the option streamId")
        self.stream_id = lowered["streamid"]
        if len(self.stream_id) != 16 or any(c not in "0123456789abcdef" for c in self.stream_id):
            raise ValueError(f"streamId must be 16 lowercase hex characters, got {self.stream_id!r}")
        self.max_rows_per_file = int(lowered.get("maxrowsperfile", 1_000_000))
        self.live_url = lowered.get("livewarehouseurl") or None
        self.live_kind = lowered.get("livewarehousekind", "postgres")
        self.live_role = lowered.get("liveredshiftiamrole", "")
        self.warehouse_wait_s = float(lowered.get("warehousewaits", 300.0))

    # -- executors ------------------------------------------------------------------------------------

    def write(self, iterator: Iterator[pa.RecordBatch]) -> LakeCommitMessage:
        from pyspark import TaskContext

        return self.write_batch(iterator, int(TaskContext.get().getLocalProperty("streaming.sql.batchId")))

    def write_batch(self, iterator: Iterator[pa.RecordBatch], batch_id: int) -> LakeCommitMessage:
        """One task's share of a micro-batch: its Parquet files, offset ranges and quarantine reasons."""
        task_id = uuid.uuid4().hex
        groups: dict[layout.PartitionKey, list[pa.Table]] = defaultdict(list)
        offsets: dict[tuple[str, int], list[int]] = {}
        reasons: dict[str, Counter] = defaultdict(Counter)
        live = []
        for batch in iterator:
            if batch.num_rows == 0:
                continue
            table = pa.Table.from_batches([batch])
            _track_offsets(table, offsets)
            if self.live_url:
                live.append(live_events(table))
            for key, part in _split_by_partition(table):
                if key.zone == layout.QUARANTINE:
                    reasons[key.source].update(part.column("reason").to_pylist())
                groups[key].append(part)
        files = []
        for key, parts in sorted(groups.items()):
            table = pa.concat_tables(parts)
            for n, start in enumerate(range(0, table.num_rows, self.max_rows_per_file)):
                chunk = table.slice(start, self.max_rows_per_file)
                name = layout.data_file_name(self.stream_id, batch_id, task_id if n == 0 else uuid.uuid4().hex)
                relative = f"{key.directory}/{name}"
                size = self.lake.write_parquet(chunk, self.lake.path(relative))
                files.append(DataFile(relative, key.zone, key.source, key.date, key.hour, chunk.num_rows, size))
        return LakeCommitMessage(
            files=files,
            offsets=[OffsetRange(t, p, lo, hi, n) for (t, p), (lo, hi, n) in sorted(offsets.items())],
            reasons={s: dict(c) for s, c in reasons.items()}, live=concat(live))

    # -- driver -------------------------------------------------------------------------------------------

    def commit(self, messages: list[LakeCommitMessage | None], batchId: int) -> None:
        messages = [m for m in messages if m is not None]
        files = [f for m in messages for f in m.files]
        offsets = [o for m in messages for o in m.offsets]
        if not files and not offsets:
            return
        reasons: dict[str, Counter] = defaultdict(Counter)
        for m in messages:
            for source, counts in m.reasons.items():
                reasons[source].update(counts)
        manifest = Manifest(self.stream_id, batchId, manifests.now_iso(), files, offsets,
                            {s: dict(c) for s, c in reasons.items()})
        if not manifests.commit(self.lake, manifest):
            log.warning("batch %d of stream %s was committed before (replay after a restart): "
                        "keeping the first commit, removing %d new files", batchId, self.stream_id, len(files))
            self._remove(files)
        if self.live_url:
            self._apply_live(concat([m.live for m in messages]), batchId)

    def _apply_live(self, events: dict[str, pa.Table], batch_id: int) -> None:
        """The batch's events into the live tables (a batch applied before is skipped there), waiting for an
        unreachable warehouse up to `warehouseWaitS`."""
        from smartcity.warehouse import open_warehouse
        from smartcity.warehouse.base import WarehouseUnavailable
        from smartcity.warehouse.live import LiveLayer

        layer = LiveLayer(open_warehouse(self.live_kind, self.live_url, self.live_role))
        deadline, delay = time.monotonic() + self.warehouse_wait_s, 1.0
        while True:
            try:
                layer.apply(self.stream_id, batch_id, events)
                return
            except WarehouseUnavailable as exc:
                if time.monotonic() >= deadline:
                    raise SmartcityError(
                        f"the live layer could not reach the warehouse for {self.warehouse_wait_s:g} s ({exc}). "
                        f"Batch {batch_id} is in the lake but not yet in the live tables: restart the stream once "
                        "the warehouse is back and the batch is applied then") from None
                log.warning("waiting for the warehouse (live layer, batch %d is in the lake): %s", batch_id, exc)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def abort(self, messages: list[LakeCommitMessage | None], batchId: int) -> None:
        """Remove the batch's files, unless a manifest names them (a commit that failed after it was written)."""
        files = [f for m in messages if m is not None for f in m.files]
        try:
            committed = manifests.read(self.lake, self.stream_id, batchId)
        except Exception as exc:  # the store is failing: leftover files are invisible without a manifest
            log.warning("batch %d aborted; keeping its %d files (cannot tell whether it was committed: %s)",
                        batchId, len(files), exc)
            return
        if committed is not None and {f.path for f in committed.files} & {f.path for f in files}:
            log.warning("batch %d aborted after its manifest was written: keeping its files", batchId)
            return
        log.warning("batch %d aborted: removing its %d uncommitted files", batchId, len(files))
        self._remove(files)

    def _remove(self, files: list[DataFile]) -> None:
        """Best effort: a file no manifest names is never read, so failing to remove it loses nothing."""
        for n, f in enumerate(files):
            try:
                self.lake.delete(self.lake.path(f.path))
            except AccessDenied:
                # The streaming writer's role may not delete (the raw zone is append-only): files of a batch
                # that was never committed stay, invisible to every reader (docs/security.md).
                log.warning("left %d uncommitted files of this batch in place: the streaming writer's credentials "
                            "may not delete (append-only raw zone); readers never see them", len(files) - n)
                return
            except Exception as exc:
                log.warning("could not remove uncommitted file %s (%s); it stays invisible", f.path, exc)


def _track_offsets(table: pa.Table, offsets: dict[tuple[str, int], list[int]]) -> None:
    grouped = table.group_by(["kafka_topic", "kafka_partition"]).aggregate(
        [("kafka_offset", "min"), ("kafka_offset", "max"), ("kafka_offset", "count")])
    for row in grouped.to_pylist():
        key = (row["kafka_topic"], row["kafka_partition"])
        lo, hi, n = row["kafka_offset_min"], row["kafka_offset_max"], row["kafka_offset_count"]
        if key in offsets:
            old = offsets[key]
            offsets[key] = [min(old[0], lo), max(old[1], hi), old[2] + n]
        else:
            offsets[key] = [lo, hi, n]


def _split_by_partition(table: pa.Table) -> Iterator[tuple[layout.PartitionKey, pa.Table]]:
    """Yield (partition, rows in the layout of that zone's files) for each partition in the table."""
    quarantined = pc.is_valid(table.column("reason"))
    keys = table.group_by(["source", "part_date", "part_hour"]).aggregate([]).to_pylist()
    for zone, mask in ((layout.RAW, pc.invert(quarantined)), (layout.QUARANTINE, quarantined)):
        zone_rows = table.filter(mask)
        if zone_rows.num_rows == 0:
            continue
        for k in keys:
            rows = zone_rows.filter(pc.and_(pc.and_(pc.equal(zone_rows.column("source"), k["source"]),
                                                    pc.equal(zone_rows.column("part_date"), k["part_date"])),
                                            pc.equal(zone_rows.column("part_hour"), k["part_hour"])))
            if rows.num_rows == 0:
                continue
            key = layout.PartitionKey(zone, k["source"], k["part_date"], k["part_hour"])
            yield key, _file_layout(rows, zone, k["source"])


def _file_layout(rows: pa.Table, zone: str, source: str) -> pa.Table:
    if zone == layout.QUARANTINE:
        return rows.select(QUARANTINE_FILE.names).cast(QUARANTINE_FILE)
    schema = RAW_FILE_SCHEMAS[source]
    struct = rows.column(source).combine_chunks()
    columns = {f.name: struct.field(f.name) for f in struct.type}
    columns.update({n: rows.column(n) for n in schema.names if n not in columns})
    return pa.table({n: columns[n] for n in schema.names}).cast(schema)
