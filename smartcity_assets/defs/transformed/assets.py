"""Transformed layer: one asset per transformed table (`smartcity.tables`), hourly partitions.

Each partition is recomputed from exactly the committed raw files of that hour (or the upstream table's hour),
checked, and written as one Parquet file that replaces the previous one atomically; rows are sorted, so
materializing a partition twice gives the same file. Spark's executors read and write the lake
(`smartcity.spark.lake_files`); this process only plans and reads footers.
"""


import dagster as dg

from smartcity.lake import layout
from smartcity.quality.spark_checks import evaluate
from smartcity.spark.inputs import table_input
from smartcity.spark.transform import transform, write_sorted
from smartcity.tables import TABLES, TransformedTable
from smartcity_assets.defs.transformed.checks import check_result, check_specs
from smartcity_assets.keys import TRANSFORMED, raw_key, transformed_key
from smartcity_assets.metadata import OWNERS, column_lineage, column_schema
from smartcity_assets.partitions import HOURLY, hours_of
from smartcity_assets.resources import LakeResource, SparkResource


def build_transformed(table: TransformedTable) -> dg.AssetsDefinition:
    key = transformed_key(table.name)
    upstream = raw_key(table.source) if table.source else transformed_key(table.upstream_table)

    @dg.asset(
        key=key, deps=[upstream], partitions_def=HOURLY, group_name=TRANSFORMED, kinds={"spark", "parquet"},
        owners=OWNERS, backfill_policy=dg.BackfillPolicy.single_run(),
        description=(f"{table.description} Deduplicated on event_id (a message delivered twice counts once); "
                     f"typed as in the event contract; one partition per UTC hour of event time, recomputed "
                     f"whole when late events arrive for that hour. Validate a partition yourself with "
                     f"`smartcity.quality.pandera_schemas.schema_for({table.name!r}, hour)`."),
        check_specs=check_specs(key, table),
        metadata={"dagster/column_schema": column_schema(table.columns, unique=["event_id"]),
                  "dagster/column_lineage": column_lineage(table.column_names, upstream, table.lineage),
                  "lake_path": f"{layout.transformed_folder(table.name)}/{layout.HOUR_FOLDER_PATTERN}/"
                               f"{layout.DATA_FILE}"},
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, pyspark: SparkResource):
        store = lake.lake()
        with pyspark.connected() as spark:
            hours = hours_of(context)  # one, or a range (a backfill)
            totals, outcomes, path = {"rows": 0, "input_rows": 0, "files": 0, "bytes": 0}, [], None
            for hour in hours:
                # Two Spark jobs per hour whatever the data: every check in one aggregation, which also caches the
                # rows (plus a small job per failing check, for a sample), then one task writes the sorted file
                # from the cached rows. The executors read the committed input files and write the result: no row
                # passes through this process.
                read = table_input(spark, store, table, hour)
                result = transform(spark, read.frame, table).cache()
                outcomes.append(evaluate(result, table, hour))
                path = store.path(layout.transformed_file(table.name, hour))
                write_sorted(result, store, path)
                result.unpersist()
                rows, size = store.parquet_rows(path), store.size(path)
                totals["bytes"] += size
                totals["rows"] += rows
                totals["input_rows"] += read.rows
                totals["files"] += read.files
                context.log.info(f"{table.name} {hour.key}: {read.rows:,} input rows from {read.files} files -> "
                                 f"{rows:,} rows ({read.rows - rows:,} duplicates removed)")
            results = [check_result(*per_rule) for per_rule in zip(*outcomes)]
            uri = store.uri_of(path if len(hours) == 1 else store.path(layout.transformed_folder(table.name)))
            return dg.MaterializeResult(check_results=results, metadata={
                "dagster/row_count": totals["rows"], "raw_rows": totals["input_rows"], "raw_files": totals["files"],
                "duplicates_removed": totals["input_rows"] - totals["rows"], "bytes": totals["bytes"],
                "dagster/uri": uri, "checks_failed": sorted(r.check_name for r in results if not r.passed),
            })

    return _asset


TRANSFORMED_ASSETS = [build_transformed(t) for t in TABLES]
