"""Marts layer: one asset per mart spec (`smartcity.marts`), hourly partitions — computed with Spark, each hour
written as a new file of the Iceberg table `marts_<mart>` (the hours of a run in one commit) and loaded into the
warehouse by replacing that partition in one transaction, so recomputing an hour after late data changes exactly
that hour's rows. BI tools read the views in the warehouse's `bi` schema.

A mart depends on the catalog entries of its inputs: an hour is published there only after its blocking
checks passed, so a mart never builds on data that failed them (lineage: raw -> transformed -> catalog ->
marts). A mart hour whose input window holds a held-back hour is skipped (its rows stay as they were) and
rebuilt once that hour passes; the other hours of the run go ahead. An input the mart also reads for the next
hour carries that partition mapping.
"""


from collections import Counter
from datetime import timedelta

import dagster as dg
import pyarrow as pa

from smartcity.catalog.tables import mart_table, transformed_table
from smartcity.marts import BI_SCHEMA, MARTS, Mart, MartInput
from smartcity.tables import BY_NAME as TABLES
from smartcity.quality import sql_rules
from smartcity.spark.inputs import mart_inputs
from smartcity.spark.marts import FRAMES
from smartcity.warehouse.base import PartitionData
from smartcity_assets.keys import MARTS as GROUP
from smartcity_assets.keys import mart_key, transformed_catalog_key
from smartcity_assets.metadata import OWNERS, column_schema
from smartcity_assets.partitions import HOURLY, hours_of
from smartcity_assets.resources import SparkResource, TablesResource, WarehouseResource

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
              kinds={"spark", "iceberg", "postgres", "redshift"}, owners=OWNERS, freshness_policy=FRESHNESS,
              backfill_policy=dg.BackfillPolicy.single_run(),
              description=f"{mart.description} Warehouse table {mart.qualified}, BI views {', '.join(views)}; "
                          f"catalog table {entry.name}.",
              check_specs=[dg.AssetCheckSpec(r.name, asset=mart_key(mart.name), blocking=r.blocking,
                                             description=r.label) for r in mart.checks],
              metadata={"dagster/column_schema": column_schema(mart.columns), "warehouse_table": mart.qualified,
                        "bi_views": ", ".join(views)})
    def _asset(context: dg.AssetExecutionContext, pyspark: SparkResource, warehouse: WarehouseResource,
               tables: TablesResource) -> dg.MaterializeResult:
        catalog = tables.tables()
        held = {i.table: catalog.held_back(transformed_table(TABLES[i.table])) for i in mart.inputs}
        with pyspark.connected() as spark:
            target = warehouse.warehouse()
            target.ensure_table(mart)
            written, skipped, loaded, counts = {}, [], [], Counter()
            for hour in hours_of(context):  # one hour, or a range (a backlog, a follow-up of a later hour's change)
                blocked = sorted({f"{i.table} {h.key}" for i in mart.inputs for h in i.hours_of(hour)
                                  if h.key in held[i.table]})
                if blocked:
                    context.log.warning(f"{mart.name} {hour.key}: skipped, its inputs hold hours held back by "
                                        f"failed blocking checks ({', '.join(blocked)}); its rows stay as they were")
                    skipped.append(hour.key)
                    continue
                frame = frame_of(spark, hour, mart_inputs(spark, catalog, mart, hour))
                # In the spec's schema whatever the engine (Spark Connect marks filled-in columns non-null)
                data = frame.toArrow().cast(schema) if frame is not None else schema.empty_table()
                path = catalog.write_hour(entry, hour, data)
                target.replace_partition(mart, PartitionData(hour, data, catalog.lake.uri_of(path)))
                written[hour] = [path]
                loaded.append(data)
                counts.update(str(v) for v in data.column(mart.summary_column).to_pylist())
                context.log.info(f"{mart.name} {hour.key}: {data.num_rows:,} rows loaded into {mart.qualified}")
            commit = catalog.replace_hours(entry, written, properties={"smartcity.run-id": context.run.run_id})
            rows = pa.concat_tables(loaded, promote_options="permissive") if loaded else schema.empty_table()
            return dg.MaterializeResult(check_results=[check_result(r, rows) for r in mart.checks], metadata={
                **commit.metadata(), "dagster/row_count": rows.num_rows,
                f"rows_by_{mart.summary_column}": dict(sorted(counts.items())), "skipped_hours": skipped,
                "warehouse_table": mart.qualified, "catalog_table": tables.qualified(entry.name),
                "dagster/uri": catalog.lake.uri_of(catalog.lake.path(entry.folder))})

    return _asset


def check_result(rule, rows: pa.Table) -> dg.AssetCheckResult:
    """A row rule over the rows the run loaded (all its hours)."""
    failing = sql_rules.failing(rows, rule.predicate) if rows.num_rows else 0
    return dg.AssetCheckResult(check_name=rule.name, passed=failing == 0,
                               metadata={"failing_rows": failing, "rule": rule.predicate},
                               severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN)


MART_ASSETS = [build_mart(m) for m in MARTS]

defs = dg.Definitions(assets=MART_ASSETS)
