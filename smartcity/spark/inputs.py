"""What a batch computation reads, as Spark DataFrames: the committed raw files of a source's hour (only files
a commit manifest names), hours of transformed tables (the files their Iceberg snapshot holds), and the city's
reference tables. Every read of the lake by Spark goes through here, and through the `smartcity_lake_files`
data source (`smartcity.spark.lake_files`): the executors read the files through pyarrow (a local folder or S3
alike); the driver only plans which files (manifests, snapshots)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from smartcity.catalog.tables import transformed_table
from smartcity.lake import Lake
from smartcity.lake.iceberg import LakeTables
from smartcity.lake.layout import Hour, PartitionKey
from smartcity.lake.reader import LakeReader
from smartcity.lake.schemas import RAW_FILE_SCHEMAS
from smartcity.marts.spec import Mart
from smartcity.spark import lake_files
from smartcity.spark.types import spark_from_arrow
from smartcity.tables import BY_NAME as TABLES
from smartcity.tables import TransformedTable


def reference_frame(spark, table, *columns):
    """A reference table (zones, segments, bus routes: `smartcity.reference`) as a broadcast DataFrame."""
    from pyspark.sql import functions as F

    frame = spark.createDataFrame(table.to_pandas())
    return F.broadcast(frame.select(*columns) if columns else frame)


def lake_frame(spark, lake: Lake, files: dict[str, int], schema,
               rows_per_partition: int = lake_files.ROWS_PER_PARTITION):
    """The rows of these lake files (path -> rows, in that order) as a DataFrame in `schema` (a Spark
    StructType), read by the executors: an input partition per run of small files up to `rows_per_partition` rows,
    a larger file split along its row groups."""
    lake_files.register(spark)
    return (spark.read.format(lake_files.NAME).schema(schema).options(**lake.options())
            .option("files", json.dumps(list(files.items())))
            .option("rowsPerPartition", str(rows_per_partition)).load())


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
    return Input(lake_frame(spark, lake, files, schema), len(files), sum(files.values()))


def transformed_input(spark, tables: LakeTables, table: str, hours: list[Hour]) -> Input | None:
    """Hours of a transformed table in one read (the files the table's current snapshot holds for them), None when
    it has none of them. In the table's current schema: an older file without a newer column reads it as NULL."""
    definition = transformed_table(TABLES[table])
    files = tables.hour_files(definition, hours)
    if not files:
        return None
    schema = spark_from_arrow(tables.arrow_schema(definition))
    return Input(lake_frame(spark, tables.lake, files, schema), len(files), sum(files.values()))


def table_input(spark, tables: LakeTables, table: TransformedTable, hour: Hour) -> Input:
    """The input of a transformed table's hour: its source's committed raw rows, or the upstream table's
    hour — empty, in the raw schema, when there is none."""
    if table.source:
        return raw_rows(spark, tables.lake, table.source, hour)
    found = transformed_input(spark, tables, table.upstream_table, [hour])
    if found is None:
        schema = spark_from_arrow(RAW_FILE_SCHEMAS[table.contract.name])
        return Input(lake_frame(spark, tables.lake, {}, schema), 0, 0)
    return found


def mart_inputs(spark, tables: LakeTables, mart: Mart, hour: Hour) -> dict:
    """Each input table of a mart over the hours its spec reads for `hour` (one DataFrame per table, the hours
    together in one read), None when none of them has data."""
    found = {spec.table: transformed_input(spark, tables, spec.table, spec.hours_of(hour)) for spec in mart.inputs}
    return {table: None if read is None else read.frame for table, read in found.items()}
