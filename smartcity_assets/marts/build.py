"""How a mart is built: computed per hourly partition with Spark, written to the lake, catalogued and
loaded into the warehouse.

Each mart partition is computed from transformed partitions (written to the lake as
`marts/<mart>/event_date=/event_hour=/data.parquet`, atomic replace; registered in the catalog as
`marts_<mart>`) and loaded into the warehouse by replacing that partition in one transaction, so
recomputing an hour after late data changes exactly that hour's rows. BI tools read the views in the
warehouse's `bi` schema.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Literal

import dagster as dg
from dagster_pyspark import PySparkResource

from smartcity.catalog.tables import HIVE_TYPES, Column, TableDef
from smartcity.lake import Lake
from smartcity.warehouse.postgres import PostgresWarehouse
from smartcity.warehouse.redshift import RedshiftWarehouse
from smartcity.warehouse.tables import MartTable
from smartcity_assets.catalog import CatalogResource, catalog_key
from smartcity_assets.metadata import OWNERS
from smartcity_assets.partitions import HOURLY, date_hour
from smartcity_assets.resources import LakeResource
from smartcity_assets.transformed import transformed_path

# An input read for the mart's hour and the hour after it (e.g. incidents reported at 10:55 are resolved
# after 11:00): a change to hour H of that input recomputes the mart's hours H-1 and H.
NEXT_HOUR = dg.TimeWindowPartitionMapping(start_offset=0, end_offset=1)

# While the platform runs (`smartcity up`), marts follow the stream within minutes: the UI flags a mart
# not updated for 10 minutes (warning) or 20 (failure). Evaluated by the daemon (dagster.yaml: freshness).
FRESHNESS = dg.FreshnessPolicy.time_window(warn_window=timedelta(minutes=10), fail_window=timedelta(minutes=20))


class WarehouseResource(dg.ConfigurableResource):
    """PostgreSQL (embedded default, or any URL) or Amazon Redshift. The URL carries the credentials and
    comes from SMARTCITY_WAREHOUSE_URL through dg.EnvVar when it is a secret."""

    kind: Literal["postgres", "redshift"]
    url: str
    redshift_iam_role: str | None = None

    def warehouse(self) -> PostgresWarehouse | RedshiftWarehouse:
        if self.kind == "redshift":
            return RedshiftWarehouse(self.url, self.redshift_iam_role or "")
        return PostgresWarehouse(self.url)


def read_transformed(spark, lake: Lake, name: str, partition_key: str):
    """One hour of a transformed table as a Spark DataFrame, or None when that hour has no data."""
    path = lake.path(transformed_path(name, partition_key))
    if not lake.exists(path):
        return None
    return spark.read.parquet(("s3a://" + path) if lake.is_s3 else path)


def catalog_table(table: MartTable) -> TableDef:
    """The catalog entry of a mart's lake copy (partition columns are in the path, not in the columns)."""
    columns = tuple(Column(c.name, HIVE_TYPES[c.type], c.comment[:255]) for c in table.columns
                    if c.name not in table.partition_columns)
    return TableDef(f"marts_{table.name}", f"marts/{table.name}", table.description, columns)


def mart_file(name: str, partition_key: str) -> str:
    """The lake copy of one mart hour, relative to the lake root."""
    date, hour = date_hour(partition_key)
    return f"marts/{name}/event_date={date}/event_hour={hour:02d}/data.parquet"


def build_mart(table: MartTable, compute: Callable, inputs: list[str | tuple[str, dg.PartitionMapping]],
               summary_column: str) -> dg.AssetsDefinition:
    """A mart asset. `compute(spark, lake, partition_key)` returns the hour's Spark DataFrame (or None);
    `inputs` are transformed table names, read for the same hour, or (name, partition mapping).

    A mart depends on the catalog entries of its inputs: an hour is published there only after its
    blocking checks passed, so a mart never builds on data that failed them (lineage: raw ->
    transformed -> catalog -> marts)."""
    deps = [dg.AssetDep(catalog_key(f"transformed_{name}"), partition_mapping=mapping)
            for name, mapping in (i if isinstance(i, tuple) else (i, None) for i in inputs)]
    entry = catalog_table(table)

    @dg.asset(key=["marts", table.name], partitions_def=HOURLY, group_name="marts", deps=deps,
              kinds={"spark", "postgres", "redshift"}, owners=OWNERS, freshness_policy=FRESHNESS,
              description=f"{table.description} Warehouse table {table.qualified}, BI view bi.{table.name}"
                          + "".join(f", bi.{v.name}" for v in table.views) + f"; catalog table {entry.name}.",
              metadata={"dagster/column_schema": dg.TableSchema(columns=[
                  dg.TableColumn(c.name, c.type, description=c.comment) for c in table.columns]),
                  "warehouse_table": table.qualified,
                  "bi_views": ", ".join(f"bi.{v}" for v in [table.name, *(v.name for v in table.views)])})
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, pyspark: PySparkResource,
               warehouse: WarehouseResource, catalog: CatalogResource) -> dg.MaterializeResult:
        import pyarrow as pa

        store = lake.lake()
        frame = compute(pyspark.spark_session, store, context.partition_key)
        data = frame.toArrow() if frame is not None else pa.table({c.name: [] for c in table.columns})
        date, hour = date_hour(context.partition_key)
        path = mart_file(table.name, context.partition_key)
        store.write_parquet(data, store.path(path))
        target = warehouse.warehouse()
        target.ensure_table(table)
        partition = {"event_date": date, "event_hour": hour}
        if isinstance(target, RedshiftWarehouse):
            target.replace_partition_from_s3(table, partition, store.uri_of(store.path(path)))
        else:
            target.replace_partition(table, partition, data)
        registry = catalog.catalog()
        registry.register_table(entry)
        registry.add_partition(entry, date, hour)
        counts: dict[str, int] = {}
        for value in data.column(summary_column).to_pylist() if data.num_rows else []:
            counts[str(value)] = counts.get(str(value), 0) + 1
        context.log.info(f"{table.name} {context.partition_key}: {data.num_rows:,} rows loaded into "
                         f"{table.qualified}")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": data.num_rows, f"rows_by_{summary_column}": counts,
            "warehouse_table": table.qualified, "catalog_table": catalog.qualified(entry.name),
            "dagster/uri": store.uri_of(store.path(path))})

    return _asset
