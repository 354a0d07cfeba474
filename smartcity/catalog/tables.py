"""The catalog's tables — name, location, description, columns and partitioning — derived from the specs of the
raw zone (contracts), the transformed tables and the marts: one `LakeTable` per table, an Iceberg table in the
catalog (the SQL catalog on the embedded PostgreSQL, or Glue in AWS mode; `smartcity.lake.iceberg`).

    raw_<source>          _raw_tables/source=<source>  the committed micro-batch files (in raw/), by hour(event_time)
    transformed_<table>   transformed/<table>          deduplicated, typed, enriched, by hour(event_time)
    marts_<mart>          marts/<mart>                 the mart's lake copy, by its event_date, event_hour
"""

from __future__ import annotations

from smartcity import contracts
from smartcity.contracts import KAFKA_FIELDS
from smartcity.lake import layout
from smartcity.lake.iceberg import LakeTable
from smartcity.marts.spec import Mart
from smartcity.tables import TransformedTable

TIME_COLUMN = "event_time"  # what raw and transformed tables are partitioned by (its UTC hour)


def raw_table(source: str) -> LakeTable:
    """The raw zone of a source as landed: the files of committed micro-batches, duplicates not removed. The
    streaming job writes the files; the catalog asset commits an hour's committed files to this table."""
    contract = contracts.BY_NAME[source]
    return LakeTable(f"raw_{source}", layout.raw_table_folder(source),
                     f"Raw zone of {source}, as landed by the streaming job (committed micro-batches only, duplicates "
                     f"not removed). {contract.description}", (*contract.fields, *KAFKA_FIELDS), TIME_COLUMN)


def transformed_table(table: TransformedTable) -> LakeTable:
    return LakeTable(f"transformed_{table.name}", layout.transformed_folder(table.name), table.description,
                     table.columns, TIME_COLUMN)


def mart_table(mart: Mart) -> LakeTable:
    """A mart's lake copy (what the warehouse table holds, hour by hour)."""
    return LakeTable(f"marts_{mart.name}", layout.mart_folder(mart.name), mart.description, mart.columns)
