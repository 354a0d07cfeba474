"""Marts layer: one asset per mart spec (`smartcity.marts`), hourly partitions — computed with Spark, written
to the lake (`marts/<mart>/event_date=/event_hour=/data.parquet`, atomic replace), catalogued as
`marts_<mart>` and loaded into the warehouse by replacing that partition in one transaction, so recomputing an
hour after late data changes exactly that hour's rows. BI tools read the views in the warehouse's `bi` schema.

A mart depends on the catalog entries of its inputs: an hour is published there only after its blocking
checks passed, so a mart never builds on data that failed them (lineage: raw -> transformed -> catalog ->
marts). An input the mart also reads for the next hour carries that partition mapping.
"""


from collections import Counter
from datetime import timedelta

import dagster as dg
import pyarrow as pa

from smartcity.catalog.tables import mart_table
from smartcity.lake import layout
from smartcity.marts import BI_SCHEMA, MARTS, Mart, MartInput
from smartcity.quality import sql_rules
from smartcity.spark.inputs import mart_inputs
from smartcity.spark.marts import FRAMES
from smartcity.warehouse.base import PartitionData
from smartcity_assets.keys import MARTS as GROUP
from smartcity_assets.keys import mart_key, transformed_catalog_key
from smartcity_assets.metadata import OWNERS, column_schema
from smartcity_assets.partitions import HOURLY, hours_of
from smartcity_assets.resources import CatalogResource, LakeResource, SparkResource, WarehouseResource

# While the platform runs (`smartcity up`), a mart of the hour in progress is rebuilt every run, about once a
# minute on a 2-core box at 1,000 vehicles (bench/freshness_benchmark.py; the first run after a cold start
# took 4 minutes): the UI flags a mart not updated for 5 minutes (warning) or 15 (failure). Evaluated by the
# daemon (dagster.yaml: freshness).
FRESHNESS = dg.FreshnessPolicy.time_window(warn_window=timedelta(minutes=5), fail_window=timedelta(minutes=15))


def window(i: MartInput) -> dg.PartitionMapping | None:
    """The input's hours around the mart's hour, as Dagster draws and checks the dependency."""
    first, last = i.hours
    return None if i.hours == (0, 0) else dg.TimeWindowPartitionMapping(start_offset=first, end_offset=last)


def build_mart(mart: Mart) -> dg.AssetsDefinition:
    deps = [dg.AssetDep(transformed_catalog_key(i.table), partition_mapping=window(i)) for i in mart.inputs]
    entry = mart_table(mart)
    frame_of = FRAMES[mart.name]
    views = [f"{BI_SCHEMA}.{v}" for v in (mart.name, *(v.name for v in mart.views))]
    schema = pa.schema([c.arrow_field().remove_metadata() for c in mart.columns])

    @dg.asset(key=mart_key(mart.name), partitions_def=HOURLY, group_name=GROUP, deps=deps,
              kinds={"spark", "postgres", "redshift"}, owners=OWNERS, freshness_policy=FRESHNESS,
              backfill_policy=dg.BackfillPolicy.single_run(),
              description=f"{mart.description} Warehouse table {mart.qualified}, BI views {', '.join(views)}; "
                          f"catalog table {entry.name}.",
              check_specs=[dg.AssetCheckSpec(r.name, asset=mart_key(mart.name), blocking=r.blocking,
                                             description=r.label) for r in mart.checks],
              metadata={"dagster/column_schema": column_schema(mart.columns), "warehouse_table": mart.qualified,
                        "bi_views": ", ".join(views)})
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, pyspark: SparkResource,
               warehouse: WarehouseResource, catalog: CatalogResource) -> dg.MaterializeResult:
        store = lake.lake()
        with pyspark.connected() as spark:
            target, registry = warehouse.warehouse(), catalog.catalog()
            target.ensure_table(mart)
            registry.register_table(entry)
            loaded, counts = [], Counter()
            for hour in hours_of(context):  # one hour, or a range (a backlog, a follow-up of a later hour's change)
                frame = frame_of(spark, hour, mart_inputs(spark, store, mart, hour))
                # In the spec's schema whatever the engine (Spark Connect marks filled-in columns non-null)
                data = frame.toArrow().cast(schema) if frame is not None else schema.empty_table()
                path = store.path(layout.mart_file(mart.name, hour))
                store.write_parquet(data, path)
                target.replace_partition(mart, PartitionData(hour, data, store.uri_of(path)))
                registry.add_partition(entry, hour)
                loaded.append(data)
                counts.update(str(v) for v in data.column(mart.summary_column).to_pylist())
                context.log.info(f"{mart.name} {hour.key}: {data.num_rows:,} rows loaded into {mart.qualified}")
            rows = pa.concat_tables(loaded, promote_options="permissive")
            return dg.MaterializeResult(check_results=[check_result(r, rows) for r in mart.checks], metadata={
                "dagster/row_count": rows.num_rows, f"rows_by_{mart.summary_column}": dict(sorted(counts.items())),
                "warehouse_table": mart.qualified, "catalog_table": catalog.qualified(entry.name),
                "dagster/uri": store.uri_of(store.path(layout.mart_folder(mart.name)))})

    return _asset


def check_result(rule, rows: pa.Table) -> dg.AssetCheckResult:
    """A row rule over the rows the run loaded (all its hours)."""
    failing = sql_rules.failing(rows, rule.predicate) if rows.num_rows else 0
    return dg.AssetCheckResult(check_name=rule.name, passed=failing == 0,
                               metadata={"failing_rows": failing, "rule": rule.predicate},
                               severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN)


MART_ASSETS = [build_mart(m) for m in MARTS]

defs = dg.Definitions(assets=MART_ASSETS)
