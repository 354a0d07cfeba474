"""What a batch computation reads, as Spark DataFrames: the committed raw files of a source's hour (only files
a commit manifest names), hours of transformed tables, and the city's reference tables. Every read of the
lake by Spark goes through here."""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.lake import Lake, layout
from smartcity.lake.layout import Hour, PartitionKey
from smartcity.lake.reader import LakeReader
from smartcity.lake.schemas import RAW_FILE_SCHEMAS
from smartcity.marts.spec import Mart
from smartcity.spark.types import spark_from_arrow
from smartcity.tables import TransformedTable


def reference_frame(spark, table, *columns):
    """A reference table (zones, segments, bus routes: `smartcity.reference`) as a broadcast DataFrame."""
    from pyspark.sql import functions as F

    frame = spark.createDataFrame(table.to_pandas())
    return F.broadcast(frame.select(*columns) if columns else frame)


def _spark_paths(lake: Lake, paths: list[str]) -> list[str]:
    return [("s3a://" + p) if lake.is_s3 else p for p in paths]


@dataclass(frozen=True)
class Input:
    """What a transformed table's hour reads: the rows, and how many files and rows that is (from the
    manifests or the file's footer, so counting them costs no Spark job)."""

    frame: object  # a Spark DataFrame
    files: int
    rows: int


def raw_rows(spark, lake: Lake, source: str, hour: Hour) -> Input:
    """The committed raw rows of one source's hour."""
    files = LakeReader(lake).committed(PartitionKey.raw(source, hour))
    schema = spark_from_arrow(RAW_FILE_SCHEMAS[source])
    if not files:
        return Input(spark.createDataFrame([], schema=schema), 0, 0)
    return Input(spark.read.schema(schema).parquet(*_spark_paths(lake, list(files))), len(files), sum(files.values()))


def transformed_rows(spark, lake: Lake, table: str, hour: Hour):
    """One hour of a transformed table as a DataFrame, or None when that hour has no data."""
    path = lake.path(layout.transformed_file(table, hour))
    if not lake.exists(path):
        return None
    return spark.read.parquet(*_spark_paths(lake, [path]))


def table_input(spark, lake: Lake, table: TransformedTable, hour: Hour) -> Input:
    """The input of a transformed table's hour: its source's committed raw rows, or the upstream table's
    hour — empty, in the raw schema, when there is none."""
    if table.source:
        return raw_rows(spark, lake, table.source, hour)
    rows = transformed_rows(spark, lake, table.upstream_table, hour)
    if rows is None:
        return Input(spark.createDataFrame([], schema=spark_from_arrow(RAW_FILE_SCHEMAS[table.contract.name])), 0, 0)
    path = lake.path(layout.transformed_file(table.upstream_table, hour))
    return Input(rows, 1, lake.parquet_rows(path))


def mart_inputs(spark, lake: Lake, mart: Mart, hour: Hour) -> dict:
    """Each input table of a mart over the hours its spec reads for `hour` (one DataFrame per table, the hours
    together), None when none of them has data."""
    out = {}
    for spec in mart.inputs:
        frames = [f for f in (transformed_rows(spark, lake, spec.table, h) for h in spec.hours_of(hour))
                  if f is not None]
        out[spec.table] = None
        for frame in frames:
            out[spec.table] = frame if out[spec.table] is None else out[spec.table].unionByName(frame)
    return out
