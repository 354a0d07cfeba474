"""Catalog table definitions: columns, types, comments and partition keys, derived from the contracts.

Hive / Glue types are used (they are what Athena and Redshift Spectrum read); the local catalog maps
them onto DuckDB views of the same files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dagster as dg

from smartcity import names

HIVE_TYPES = {"string": "string", "uuid": "string", "timestamp": "timestamp", "double": "double", "int": "int",
              "bigint": "bigint", "date": "date"}
_FOLDER = re.compile(r"_?[a-z][a-z0-9_]{0,62}(=[a-z][a-z0-9_]{0,62})?")  # e.g. transformed, _symlinks, source=gps

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

    def __post_init__(self) -> None:
        """Names reach Glue, DuckDB SQL and lake paths: checked here, once."""
        names.identifier(self.name, "catalog table name")
        for part in self.location.split("/"):
            if not _FOLDER.fullmatch(part):
                raise ValueError(f"not a safe lake folder name in {self.location!r}: {part!r}")
        for c in (*self.columns, *self.partition_keys):
            names.identifier(c.name, f"column name of {self.name}")
            if c.type not in HIVE_TYPES.values():
                raise ValueError(f"{self.name}.{c.name}: unknown column type {c.type!r}")

    def partition_location(self, date: str, hour: int) -> str:
        return f"{self.location}/event_date={names.partition_date(date)}/event_hour={names.partition_hour(hour):02d}"


def from_column_schema(name: str, location: str, description: str, schema: dg.TableSchema) -> TableDef:
    """A catalog table from the column schema an asset publishes (one source: the contracts)."""
    columns = tuple(Column(c.name, HIVE_TYPES[c.type], (c.description or "")[:255]) for c in schema.columns)
    return TableDef(name, location, description, columns)
