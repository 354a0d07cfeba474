"""Catalog table definitions: columns, types, comments and partition keys, derived from the contracts.

Hive / Glue types are used (they are what Athena and Redshift Spectrum read); the local catalog maps
them onto DuckDB views of the same files.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

HIVE_TYPES = {"string": "string", "uuid": "string", "timestamp": "timestamp", "double": "double", "int": "int",
              "bigint": "bigint", "date": "date"}

PARTITION_KEYS = (("event_date", "string", "UTC date of the event time, YYYY-MM-DD"),
                  ("event_hour", "int", "UTC hour of the event time, 0-23"))


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Hive type
    comment: str


@dataclass(frozen=True)
class TableDef:
    name: str  # e.g. transformed_gps
    location: str  # folder relative to the lake root, e.g. transformed/gps
    description: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...] = tuple(Column(*k) for k in PARTITION_KEYS)
    # True: `location` holds per-partition symlink.txt files naming the data files to read (the raw zone,
    # where a folder can also hold files of an uncommitted batch); False: the Parquet files themselves.
    symlinks: bool = False

    def partition_location(self, date: str, hour: int) -> str:
        return f"{self.location}/event_date={date}/event_hour={hour:02d}"


def from_column_schema(name: str, location: str, description: str, schema: dg.TableSchema) -> TableDef:
    """A catalog table from the column schema an asset publishes (one source: the contracts)."""
    columns = tuple(Column(c.name, HIVE_TYPES[c.type], (c.description or "")[:255]) for c in schema.columns)
    return TableDef(name, location, description, columns)
