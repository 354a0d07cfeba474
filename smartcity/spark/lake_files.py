"""The lake's Parquet files as a Spark Python data source (`smartcity_lake_files`), read and written on the
executors through `pyarrow.fs` — the way the streaming sink writes the raw zone — so the same code reads a
local folder and S3 (with an endpoint override for MinIO or moto), with no Hadoop connector (`s3a://` needs
`hadoop-aws`, which this project cannot ship) and nothing passing through the driver.

Read: the caller names the files (the committed files of a raw hour from the manifests, the files of
transformed hours); the planner groups them, in order, into input partitions of at most `rowsPerPartition`
rows (a larger file is split along its row groups), and each task reads its files one at a time (retried on
transient errors, a denial reported as such) and hands Spark Arrow batches in the schema asked for (a column an
older file lacks reads as NULL).

    spark.read.format("smartcity_lake_files").schema(schema).options(**lake.options())
         .option("files", json.dumps([[path, rows], ...])).load()

Write: one task (the frame in one partition: `smartcity.spark.transform.write_sorted`) sorts its rows and writes
one Parquet file at `path` with one atomic replace (a local rename, a single S3 object PUT), so readers see the
old file or the new one, and a retried task writes the same bytes again; the driver's commit writes the empty
file when the frame had no rows (no task ran) and checks that exactly one task wrote. See docs/architecture.md
for why there is no staging area.

    frame.repartition(1).write.format("smartcity_lake_files").mode("overwrite").options(**lake.options())
         .option("path", path).option("sortBy", "event_time,event_id").option("fieldIds", '{"event_id": 1, ...}')
         .save()

The classes pickle by reference (this module is installed on executors and on a Spark Connect server) and
import their libraries inside methods; `register(spark)` makes the source known to a session, in process or on
Spark Connect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    InputPartition,
    WriterCommitMessage,
)

NAME = "smartcity_lake_files"
BATCH_ROWS = 65_536  # rows per Arrow batch handed to Spark
# rows per task: a raw hour's small files (one per micro-batch) are grouped up to this, a larger file is split
# along its row groups (the lake writes 256k-row groups), so an hour of 1M rows is read by 4 tasks
ROWS_PER_PARTITION = 256 * 1024


def register(spark) -> None:
    """Make the data source known to a session (in process or on Spark Connect); idempotent."""
    spark.dataSource.register(LakeFiles)


def plan(files: list[tuple[str, int]], rows_per_partition: int) -> list[list[tuple[str, int, int]]]:
    """Files (path, rows) in order, as input partitions of about `rows_per_partition` rows: small files
    grouped in runs, a larger file split into `parts` pieces along its row groups — each piece (path, part,
    parts). Always at least one partition, empty when there are no files."""
    groups: list[list[tuple[str, int, int]]] = [[]]
    rows = 0
    for path, n in files:
        parts = max(1, -(-n // rows_per_partition))
        if parts > 1:
            groups += [[(path, part, parts)] for part in range(parts)]
            groups.append([])
            rows = 0
            continue
        if groups[-1] and rows + n > rows_per_partition:
            groups.append([])
            rows = 0
        groups[-1].append((path, 0, 1))
        rows += n
    return [g for g in groups if g] or [[]]


class LakeFiles(DataSource):
    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self):
        raise ValueError(f"the {NAME} data source needs the schema of the files: spark.read.format(...).schema(...)")

    def _lake(self):
        from smartcity.lake import Lake

        return Lake.from_options(self.options, f"the {NAME} data source")

    def reader(self, schema) -> "LakeFilesReader":
        options = {k.lower(): v for k, v in self.options.items()}
        files = [(path, int(rows)) for path, rows in json.loads(options.get("files", "[]"))]
        rows = int(options.get("rowsperpartition", ROWS_PER_PARTITION))
        return LakeFilesReader(self._lake(), schema, plan(files, rows))

    def writer(self, schema, overwrite: bool) -> "LakeFileWriter":
        options = {k.lower(): v for k, v in self.options.items()}
        if "path" not in options:
            raise ValueError(f"the {NAME} data source writes one file: give its path in the lake (option path)")
        sort_by = [c for c in options.get("sortby", "").split(",") if c]
        return LakeFileWriter(self._lake(), schema, options["path"], sort_by, json.loads(options.get("fieldids", "{}")))


@dataclass
class FileGroup(InputPartition):
    pieces: list[tuple[str, int, int]]  # (path, part, parts): that share of the file's row groups


class LakeFilesReader(DataSourceReader):
    def __init__(self, lake, schema, groups: list[list[tuple[str, int, int]]]):
        self.lake, self.schema, self.groups = lake, schema, groups

    def partitions(self) -> list[FileGroup]:
        return [FileGroup(pieces) for pieces in self.groups]

    def read(self, partition: FileGroup) -> Iterator:
        """Each piece (retried on transient errors, a denial named), as batches in the schema asked for."""
        import pyarrow as pa
        from pyspark.sql.pandas.types import to_arrow_schema

        target = to_arrow_schema(self.schema, timezone="UTC")  # exactly what Spark expects back
        for path, part, parts in partition.pieces:
            table = self.lake.read_parquet_part(path, part, parts)
            columns = [table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
                       for f in target]  # a column an older file lacks reads as NULL
            yield from pa.table(columns, names=target.names).cast(target).to_batches(max_chunksize=BATCH_ROWS)


@dataclass
class FileWritten(WriterCommitMessage):
    path: str
    rows: int
    bytes: int


class LakeFileWriter(DataSourceArrowWriter):
    def __init__(self, lake, schema, path: str, sort_by: list[str], field_ids: dict[str, int] | None = None):
        self.lake, self.schema, self.path, self.sort_by = lake, schema, path, sort_by
        self.field_ids = field_ids or {}

    def _arrow_schema(self):
        """The frame's schema in Arrow, each column with its Iceberg field id when the table's are given (what
        Iceberg readers match columns by)."""
        import pyarrow as pa
        from pyspark.sql.pandas.types import to_arrow_schema

        schema = to_arrow_schema(self.schema, timezone="UTC")
        if not self.field_ids:
            return schema
        missing = [f.name for f in schema if f.name not in self.field_ids]
        if missing:
            raise ValueError(f"{self.path}: the table has no column {', '.join(missing)} (give every column an id)")
        return pa.schema([f.with_metadata({b"PARQUET:field_id": str(self.field_ids[f.name]).encode()})
                          for f in schema])

    def _write(self, table) -> FileWritten:
        if self.sort_by:
            table = table.sort_by([(c, "ascending") for c in self.sort_by])
        size = self.lake.write_parquet(table, self.path)
        return FileWritten(self.path, table.num_rows, size)

    def write(self, iterator: Iterator) -> FileWritten:
        """One task's rows, sorted, as the whole file (one atomic replace)."""
        import pyarrow as pa

        schema = self._arrow_schema()
        return self._write(pa.Table.from_batches([b.cast(schema) for b in iterator], schema=schema))

    def commit(self, messages: list, batchId: int = 0) -> None:
        written = [m for m in messages if m is not None]
        if len(written) > 1:  # two tasks replaced the same file: the caller did not hand it one partition
            raise ValueError(f"{len(written)} tasks wrote {self.path}: write one partition (write_sorted does)")
        if not written:  # no rows, no task: the hour is empty, and its file says so
            self._write(self._arrow_schema().empty_table())

    def abort(self, messages: list, batchId: int = 0) -> None:
        """Nothing to undo: a file is replaced whole by the one task that writes it, or not at all."""
