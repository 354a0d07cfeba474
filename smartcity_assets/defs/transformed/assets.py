"""Transformed layer: one asset per transformed table (`smartcity.tables`), hourly partitions, each an Iceberg table.

Each hour is recomputed from exactly the committed raw files of that hour (or the upstream table's hour), checked,
written as one new file, and — only when its blocking checks pass — published: every hour the run computed
is replaced in one Iceberg commit (readers see the old hours or the new ones). An hour that fails a blocking
check is held back: its previous rows stay, the table records it as held back (the file of the rows that failed
is named in the materialization's metadata, for inspection, and never committed), and the marts whose window holds
it are not rebuilt until it passes. Rows are sorted, so materializing an hour twice gives the same rows. Spark's
executors read and write the lake (`smartcity.spark.lake_files`); this process only plans and commits.
"""


import dagster as dg

from smartcity.catalog.tables import transformed_table
from smartcity.lake.layout import Hour
from smartcity.quality.spark_checks import evaluate
from smartcity.spark.inputs import table_input
from smartcity.spark.transform import transform, write_sorted
from smartcity.tables import TABLES, TransformedTable
from smartcity_assets.defs.transformed.checks import check_result, check_specs, held_back
from smartcity_assets.keys import TRANSFORMED, raw_key, transformed_key
from smartcity_assets.metadata import OWNERS, column_lineage, column_schema
from smartcity_assets.partitions import HOURLY, hours_of
from smartcity_assets.resources import SparkResource, TablesResource


def build_transformed(table: TransformedTable) -> dg.AssetsDefinition:
    key = transformed_key(table.name)
    upstream = raw_key(table.source) if table.source else transformed_key(table.upstream_table)
    definition = transformed_table(table)

    @dg.asset(
        key=key, deps=[upstream], partitions_def=HOURLY, group_name=TRANSFORMED, kinds={"spark", "iceberg"},
        owners=OWNERS, backfill_policy=dg.BackfillPolicy.single_run(),
        description=(f"{table.description} Deduplicated on event_id (a message delivered twice counts once); "
                     f"typed as in the event contract; the Iceberg table `{definition.name}`, partitioned by the "
                     f"UTC hour of event_time, each hour recomputed whole when late events arrive for it (one "
                     f"commit per run). Validate a partition yourself with "
                     f"`smartcity.quality.pandera_schemas.schema_for({table.name!r}, hour)`."),
        check_specs=check_specs(key, table),
        metadata={"dagster/column_schema": column_schema(table.columns, unique=["event_id"]),
                  "dagster/column_lineage": column_lineage(table.column_names, upstream, table.lineage),
                  "dagster/table_name": definition.name, "lake_path": f"{definition.folder}/data/"},
    )
    def _asset(context: dg.AssetExecutionContext, pyspark: SparkResource, tables: TablesResource):
        catalog = tables.tables()
        field_ids = catalog.field_ids(definition)  # the table, created or evolved to the spec first
        with pyspark.connected() as spark:
            hours = hours_of(context)  # one, or a range (a backfill)
            written, held, outcomes, input_rows, input_files = {}, {}, [], 0, 0
            for hour in hours:
                # Two Spark jobs per hour whatever the data: every check in one aggregation, which also caches the
                # rows (plus a small job per failing check, for a sample), then one task writes the sorted file
                # from the cached rows. The executors read the committed input files and write the result: no row
                # passes through this process.
                read = table_input(spark, catalog, table, hour)
                result = transform(spark, read.frame, table).cache()
                outcome = evaluate(result, table, hour)
                outcomes.append(outcome)
                path = catalog.lake.path(definition.new_data_file(hour))
                write_sorted(result, catalog.lake, path, field_ids)
                result.unpersist()
                if held_back(outcome):
                    # Written for inspection (the metadata names the file), never committed: maintenance removes
                    # it with the other unreferenced files once it is older than the orphan age.
                    context.log.warning(f"{table.name} {hour.key}: held back, blocking checks failed "
                                        f"({', '.join(o.rule.name for o in outcome if o.rule.blocking and not o.passed)})"
                                        f"; its published rows stay as they were; the rows checked: {path}")
                    held[hour.key] = catalog.lake.uri_of(path)
                    continue
                written[hour] = [path]
                input_rows += read.rows
                input_files += read.files
                context.log.info(f"{table.name} {hour.key}: {read.rows:,} input rows from {read.files} files")
            commit = catalog.replace_hours(definition, written, held_back=[Hour.parse(h) for h in held],
                                           properties={"smartcity.run-id": context.run.run_id})
            context.log.info(f"{table.name}: committed snapshot {commit.snapshot_id} ({commit.rows_added:,} rows in "
                             f"{commit.files_added} files replace {commit.rows_removed:,} in {commit.files_removed})")
            everything_held = bool(held) and not written
            results = [check_result(*per_rule, everything_held=everything_held) for per_rule in zip(*outcomes)]
            return dg.MaterializeResult(check_results=results, metadata={
                **commit.metadata(), "dagster/row_count": commit.rows_added, "raw_rows": input_rows,
                "raw_files": input_files, "duplicates_removed": input_rows - commit.rows_added,
                "held_back_hours": sorted(held), "held_back_files": held, "dagster/uri": catalog.lake.uri_of(
                    catalog.lake.path(definition.folder)), "checks_failed": sorted(
                    r.check_name for r in results if not r.passed),
            })

    return _asset


TRANSFORMED_ASSETS = [build_transformed(t) for t in TABLES]
