"""Catalog layer: every transformed table registered in the catalog, one partition at a time.

AWS mode: the Glue Data Catalog (queried with Athena). Embedded: DuckDB views over the lake folder
(queried with `smartcity query`). A partition is registered only after its transformed partition
materialized and its blocking checks passed, so the catalog never publishes data that failed them.
"""

from typing import Literal

import dagster as dg

from smartcity.catalog.glue import GlueCatalog
from smartcity.catalog.local import LocalCatalog
from smartcity.catalog.tables import TableDef, from_column_schema
from smartcity.errors import ConfigError
from smartcity.lake import Lake
from smartcity_assets.metadata import OWNERS, column_schema
from smartcity_assets.partitions import HOURLY, date_hour
from smartcity_assets.transformed import TABLES, Table, transformed_key


class CatalogResource(dg.ConfigurableResource):
    """Where tables are registered: `glue` (AWS) or `local` (a DuckDB file)."""

    kind: Literal["glue", "local"]
    lake_uri: str
    database: str = "smartcity"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    local_path: str | None = None

    def catalog(self) -> GlueCatalog | LocalCatalog:
        if self.kind == "glue":
            return GlueCatalog(self.database, self.lake_uri, self.region, self.endpoint_url)
        lake = Lake(self.lake_uri)
        if lake.is_s3:
            raise ConfigError(f"the local catalog reads a lake folder, but SMARTCITY_LAKE_URI is {self.lake_uri}: "
                              "use SMARTCITY_ENV=aws to catalog an S3 lake in Glue (queried with Athena)")
        return LocalCatalog(self.local_path, lake.root)

    def qualified(self, table: str) -> str:
        return f"{self.database}.{table}" if self.kind == "glue" else table


def table_def(table: Table) -> TableDef:
    return from_column_schema(f"transformed_{table.name}", f"transformed/{table.name}", table.description,
                              column_schema(table.contract, table.extra_columns))


def catalog_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["catalog", name])


def build_catalog_asset(table: Table) -> dg.AssetsDefinition:
    definition = table_def(table)

    @dg.asset(key=catalog_key(table.name), deps=[transformed_key(table.name)], partitions_def=HOURLY,
              group_name="catalog", kinds={"glue", "duckdb"}, owners=OWNERS,
              description=(f"The table `{definition.name}` in the catalog (Glue in AWS, DuckDB locally), "
                           f"partitioned by event_date / event_hour, so analysts can query "
                           f"`transformed/{table.name}` with Athena or `smartcity query`. {table.description}"),
              metadata={"table": definition.name, "location": definition.location,
                        "dagster/column_schema": dg.TableSchema(columns=[
                            dg.TableColumn(c.name, c.type, description=c.comment)
                            for c in (*definition.columns, *definition.partition_keys)])})
    def _asset(context: dg.AssetExecutionContext, catalog: CatalogResource):
        store = catalog.catalog()
        registration = store.register_table(definition)
        date, hour = date_hour(context.partition_key)
        new_partition = store.add_partition(definition, date, hour)
        return dg.MaterializeResult(metadata={
            "table": catalog.qualified(definition.name), "table_registration": registration,
            "partition": f"event_date={date}/event_hour={hour:02d}", "partition_added": new_partition,
            "columns": len(definition.columns)})

    return _asset


CATALOG = [build_catalog_asset(t) for t in TABLES]
