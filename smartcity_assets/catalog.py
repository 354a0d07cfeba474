"""Catalog layer: every raw and transformed table registered in the catalog, one partition at a time
(marts register their lake copies themselves, see marts/build.py).

AWS mode: the Glue Data Catalog (queried with Athena). Embedded: DuckDB views over the lake folder
(queried with `smartcity query`). A transformed partition is registered only after it materialized and
its blocking checks passed, so the catalog never publishes data that failed them. A raw partition is
published through a symlink manifest that lists its committed files: a raw folder can also hold files of
a micro-batch that crashed before its commit, which a plain folder table would read.
"""

from dataclasses import replace
from typing import Literal

import dagster as dg

from smartcity import contracts

from smartcity.catalog.glue import GlueCatalog
from smartcity.catalog.local import LocalCatalog
from smartcity.catalog.tables import TableDef, from_column_schema
from smartcity.errors import ConfigError
from smartcity.lake import Lake, layout
from smartcity.lake.reader import LakeReader
from smartcity_assets.metadata import OWNERS, column_schema
from smartcity_assets.partitions import HOURLY, date_hour, raw_partition
from smartcity_assets.raw import raw_key
from smartcity_assets.resources import LakeResource
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


def raw_table_def(source: str) -> TableDef:
    contract = contracts.BY_NAME[source]
    return replace(from_column_schema(f"raw_{source}", f"{layout.SYMLINKS}/{layout.RAW}/source={source}",
                                      f"Raw zone of {source}, as landed by the streaming job (committed micro-batches "
                                      f"only, duplicates not removed). {contract.description}",
                                      column_schema(contract)), symlinks=True)


def catalog_key(table_name: str) -> dg.AssetKey:
    return dg.AssetKey(["catalog", table_name])


def build_raw_catalog_asset(source: str) -> dg.AssetsDefinition:
    definition = raw_table_def(source)

    @dg.asset(key=catalog_key(definition.name), deps=[raw_key(source)], partitions_def=HOURLY, group_name="catalog",
              kinds={"glue", "duckdb"}, owners=OWNERS,
              description=(f"The table `{definition.name}` in the catalog: the raw zone of {source} as landed "
                           "(committed micro-batches only, read through a per-partition symlink manifest). "
                           "For audits and replays; analysts want the transformed tables."),
              metadata={"table": definition.name, "location": definition.location,
                        "dagster/column_schema": _schema(definition)})
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, catalog: CatalogResource):
        store = lake.lake()
        date, hour = date_hour(context.partition_key)
        partition = raw_partition(source, context.partition_key)
        files = LakeReader(store).committed_files(partition)
        store.write_bytes(store.path(partition.symlink_file), "".join(store.uri_of(f) + "\n" for f in files).encode())
        registry = catalog.catalog()
        registration = registry.register_table(definition)
        new_partition = registry.add_partition(definition, date, hour)
        return dg.MaterializeResult(metadata={
            "table": catalog.qualified(definition.name), "table_registration": registration,
            "partition": f"event_date={date}/event_hour={hour:02d}", "partition_added": new_partition,
            "committed_files": len(files)})

    return _asset


def _schema(definition: TableDef) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(c.name, c.type, description=c.comment)
                                   for c in (*definition.columns, *definition.partition_keys)])


def build_catalog_asset(table: Table) -> dg.AssetsDefinition:
    definition = table_def(table)

    @dg.asset(key=catalog_key(definition.name), deps=[transformed_key(table.name)], partitions_def=HOURLY,
              group_name="catalog", kinds={"glue", "duckdb"}, owners=OWNERS,
              description=(f"The table `{definition.name}` in the catalog (Glue in AWS, DuckDB locally), "
                           f"partitioned by event_date / event_hour, so analysts can query "
                           f"`transformed/{table.name}` with Athena or `smartcity query`. {table.description}"),
              metadata={"table": definition.name, "location": definition.location,
                        "dagster/column_schema": _schema(definition)})
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


CATALOG = [*(build_raw_catalog_asset(c.name) for c in contracts.CONTRACTS), *(build_catalog_asset(t) for t in TABLES)]
