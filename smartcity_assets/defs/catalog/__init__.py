"""Catalog layer: every raw and transformed table registered in the catalog, one partition at a time (marts
register their lake copies themselves, see the marts domain).

AWS mode: the Glue Data Catalog (queried with Athena). Embedded: DuckDB views over the lake folder (queried
with `smartcity query`). A transformed partition is registered only after it materialized and its blocking
checks passed, so the catalog never publishes data that failed them. A raw partition is published through a
symlink manifest that lists its committed files: a raw folder can also hold files of a micro-batch that
crashed before its commit, which a plain folder table would read.
"""


import dagster as dg

from smartcity import contracts
from smartcity.catalog.tables import PARTITION_KEYS, TableDef, raw_table, transformed_table
from smartcity.lake.layout import PartitionKey
from smartcity.lake.reader import LakeReader
from smartcity.tables import TABLES, TransformedTable
from smartcity_assets.keys import CATALOG, raw_catalog_key, raw_key, transformed_catalog_key, transformed_key
from smartcity_assets.metadata import OWNERS
from smartcity_assets.partitions import HOURLY, hours_of
from smartcity_assets.resources import CatalogResource, LakeResource


def table_schema(definition: TableDef) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(c.name, c.type, description=c.comment)
                                   for c in (*definition.columns, *PARTITION_KEYS)])


def register(catalog: CatalogResource, definition: TableDef, hours: list) -> dict:
    """Create or update the table, add the hours' partitions: the metadata of what happened."""
    registry = catalog.catalog()
    registration = registry.register_table(definition)
    added = sum(bool(registry.add_partition(definition, hour)) for hour in hours)
    return {"table": catalog.qualified(definition.name), "table_registration": registration,
            "partition": hours[0].folder if len(hours) == 1 else f"{hours[0].folder} .. {hours[-1].folder}",
            "partitions_added": added}


def build_raw_catalog_asset(source: str) -> dg.AssetsDefinition:
    definition = raw_table(source)

    @dg.asset(key=raw_catalog_key(source), deps=[raw_key(source)], partitions_def=HOURLY, group_name=CATALOG,
              kinds={"glue", "duckdb"}, owners=OWNERS, backfill_policy=dg.BackfillPolicy.single_run(),
              description=(f"The table `{definition.name}` in the catalog: the raw zone of {source} as landed "
                           "(committed micro-batches only, read through a per-partition symlink manifest). "
                           "For audits and replays; analysts want the transformed tables."),
              metadata={"table": definition.name, "location": definition.location,
                        "dagster/column_schema": table_schema(definition)})
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, catalog: CatalogResource):
        store, hours, committed = lake.lake(), hours_of(context), 0
        reader = LakeReader(store)
        for hour in hours:
            partition = PartitionKey.raw(source, hour)
            files = reader.committed_files(partition)
            store.write_bytes(store.path(partition.symlink_file), "".join(store.uri_of(f) + "\n" for f in files).encode())
            committed += len(files)
        return dg.MaterializeResult(metadata={**register(catalog, definition, hours), "committed_files": committed})

    return _asset


def build_transformed_catalog_asset(table: TransformedTable) -> dg.AssetsDefinition:
    definition = transformed_table(table)

    @dg.asset(key=transformed_catalog_key(table.name), deps=[transformed_key(table.name)], partitions_def=HOURLY,
              group_name=CATALOG, kinds={"glue", "duckdb"}, owners=OWNERS,
              backfill_policy=dg.BackfillPolicy.single_run(),
              description=(f"The table `{definition.name}` in the catalog (Glue in AWS, DuckDB locally), "
                           f"partitioned by event_date / event_hour, so analysts can query "
                           f"`{definition.location}` with Athena or `smartcity query`. {table.description}"),
              metadata={"table": definition.name, "location": definition.location,
                        "dagster/column_schema": table_schema(definition)})
    def _asset(context: dg.AssetExecutionContext, catalog: CatalogResource):
        return dg.MaterializeResult(metadata={**register(catalog, definition, hours_of(context)),
                                              "columns": len(definition.columns)})

    return _asset


CATALOG_ASSETS = [*(build_raw_catalog_asset(c.name) for c in contracts.CONTRACTS),
                  *(build_transformed_catalog_asset(t) for t in TABLES)]

defs = dg.Definitions(assets=CATALOG_ASSETS)
