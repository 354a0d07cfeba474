"""Catalog layer: every raw and transformed table as an Iceberg table in the catalog (Glue in AWS mode, queried
with Athena; the SQL catalog on the embedded PostgreSQL, queried with `smartcity query`), one partition at a
time. Marts commit their lake copies themselves (see the marts domain).

Raw: the streaming job writes the files and commits micro-batches with its own manifests (docs/tables.md says
why the stream does not commit to Iceberg); this asset commits an hour's committed files — exactly those a
manifest names, never a file of a batch that crashed before its commit — to `raw_<source>` in one commit whose
summary names the micro-batches. Transformed: the transformed asset commits its hours itself, once their
blocking checks passed; this asset confirms which hours the table's current snapshot publishes (a held-back
hour is reported, not published) and gives analysts the catalog entry.
"""


import dagster as dg

from smartcity import contracts
from smartcity.catalog.tables import raw_table, transformed_table
from smartcity.lake import layout
from smartcity.lake.iceberg import LakeTable
from smartcity.lake.layout import PartitionKey
from smartcity.lake.reader import LakeReader
from smartcity.tables import TABLES, TransformedTable
from smartcity_assets.keys import CATALOG, raw_catalog_key, raw_key, transformed_catalog_key, transformed_key
from smartcity_assets.metadata import OWNERS, column_schema
from smartcity_assets.partitions import HOURLY, hours_of
from smartcity_assets.resources import TablesResource


def entry_metadata(tables: TablesResource, definition: LakeTable) -> dict:
    return {"table": tables.qualified(definition.name), "table_type": "ICEBERG",
            "dagster/uri": tables.lake.lake().uri_of(tables.lake.lake().path(definition.folder))}


def _batches(paths: list[str]) -> str:
    """The micro-batches of these raw files, as `stream:first-last` per stream."""
    by_stream: dict[str, list[int]] = {}
    for path in paths:
        ids = layout.parse_data_file_name(path.rsplit("/", 1)[-1])
        if ids is not None:
            by_stream.setdefault(ids[0], []).append(ids[1])
    return ",".join(f"{s}:{min(b)}-{max(b)}" for s, b in sorted(by_stream.items()))


def build_raw_catalog_asset(source: str) -> dg.AssetsDefinition:
    definition = raw_table(source)

    @dg.asset(key=raw_catalog_key(source), deps=[raw_key(source)], partitions_def=HOURLY, group_name=CATALOG,
              kinds={"iceberg", "glue"}, owners=OWNERS, backfill_policy=dg.BackfillPolicy.single_run(),
              description=(f"The Iceberg table `{definition.name}` in the catalog: the raw zone of {source} as landed "
                           "(committed micro-batches only, duplicates not removed), partitioned by the hour of "
                           "event_time. For audits and replays; analysts want the transformed tables."),
              metadata={"table": definition.name, "location": definition.folder,
                        "dagster/column_schema": column_schema(definition.fields)})
    def _asset(context: dg.AssetExecutionContext, tables: TablesResource):
        catalog = tables.tables()
        reader = LakeReader(catalog.lake)
        files = {hour: reader.committed_files(PartitionKey.raw(source, hour)) for hour in hours_of(context)}
        everything = [p for paths in files.values() for p in paths]
        commit = catalog.replace_hours(definition, files, properties={
            "smartcity.run-id": context.run.run_id, "smartcity.micro-batches": _batches(everything)})
        return dg.MaterializeResult(metadata={
            **entry_metadata(tables, definition), **commit.metadata(), "committed_files": len(everything),
            "micro_batches": _batches(everything), "dagster/row_count": commit.rows_added})

    return _asset


def build_transformed_catalog_asset(table: TransformedTable) -> dg.AssetsDefinition:
    definition = transformed_table(table)

    @dg.asset(key=transformed_catalog_key(table.name), deps=[transformed_key(table.name)], partitions_def=HOURLY,
              group_name=CATALOG, kinds={"iceberg", "glue"}, owners=OWNERS,
              backfill_policy=dg.BackfillPolicy.single_run(),
              description=(f"The Iceberg table `{definition.name}` in the catalog (Glue in AWS, the SQL catalog on "
                           f"PostgreSQL locally), partitioned by the hour of event_time, so analysts can query it "
                           f"with Athena or `smartcity query` — also as of an earlier snapshot. An hour appears "
                           f"here once its blocking checks passed. {table.description}"),
              metadata={"table": definition.name, "location": definition.folder,
                        "dagster/column_schema": column_schema(definition.fields)})
    def _asset(context: dg.AssetExecutionContext, tables: TablesResource):
        catalog, hours = tables.tables(), hours_of(context)
        published = catalog.files(definition, hours)
        held = catalog.held_back(definition)
        missing = [h.key for h in hours if h not in published]
        if missing:
            context.log.warning(f"{definition.name}: not published: {', '.join(missing)} "
                                f"({'held back by failed blocking checks' if set(missing) <= held else 'no rows committed'})")
        snapshot = catalog.table(definition).current_snapshot()
        return dg.MaterializeResult(metadata={
            **entry_metadata(tables, definition), "snapshot_id": str(snapshot.snapshot_id if snapshot else ""),
            "partitions_published": len(published), "not_published": missing,
            "columns": len(definition.fields)})

    return _asset


CATALOG_ASSETS = [*(build_raw_catalog_asset(c.name) for c in contracts.CONTRACTS),
                  *(build_transformed_catalog_asset(t) for t in TABLES)]

defs = dg.Definitions(assets=CATALOG_ASSETS)
