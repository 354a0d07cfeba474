"""Catalog table definitions — columns, types, comments, partition keys, location — derived from the specs
of the raw zone (contracts), the transformed tables and the marts: one `TableDef` per table, used by both
catalogs (Glue and the local DuckDB one).

Hive / Glue types are used (what Athena and Redshift Spectrum read); the local catalog maps them onto DuckDB
views of the same files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from smartcity import contracts, names
from smartcity.contracts import KAFKA_FIELDS, Field, FieldType
from smartcity.lake import layout
from smartcity.marts.spec import Mart
from smartcity.tables import TransformedTable

HIVE_TYPES = {FieldType.STRING: "string", FieldType.UUID: "string", FieldType.TIMESTAMP: "timestamp",
              FieldType.DOUBLE: "double", FieldType.INT: "int", FieldType.BIGINT: "bigint", FieldType.DATE: "date",
              FieldType.BOOLEAN: "boolean"}
_FOLDER = re.compile(r"_?[a-z][a-z0-9_]{0,62}(=[a-z][a-z0-9_]{0,62})?")  # e.g. transformed, _symlinks, source=gps
COMMENT_LIMIT = 255  # Glue's column comment limit


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Hive type
    comment: str


def columns_of(fields: Iterable[Field]) -> tuple[Column, ...]:
    return tuple(Column(f.name, HIVE_TYPES[f.type], f.comment[:COMMENT_LIMIT]) for f in fields)


PARTITION_KEYS = columns_of((Field("event_date", FieldType.STRING, "UTC date of the event time, YYYY-MM-DD"),
                             Field("event_hour", FieldType.INT, "UTC hour of the event time, 0-23")))


@dataclass(frozen=True)
class TableDef:
    name: str  # e.g. transformed_gps
    location: str  # folder relative to the lake root, e.g. transformed/gps
    description: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...] = PARTITION_KEYS
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

    def partition_location(self, hour: layout.Hour) -> str:
        return layout.partition_folder(self.location, hour)


def raw_table(source: str) -> TableDef:
    """The raw zone of a source as landed (committed micro-batches only, read through symlink manifests)."""
    contract = contracts.BY_NAME[source]
    return TableDef(f"raw_{source}", layout.raw_symlink_folder(source),
                    f"Raw zone of {source}, as landed by the streaming job (committed micro-batches only, duplicates "
                    f"not removed). {contract.description}", columns_of((*contract.fields, *KAFKA_FIELDS)),
                    symlinks=True)


def transformed_table(table: TransformedTable) -> TableDef:
    return TableDef(f"transformed_{table.name}", layout.transformed_folder(table.name), table.description,
                    columns_of(table.columns))


def mart_table(mart: Mart) -> TableDef:
    """A mart's lake copy (the partition columns are in the path, not in the files' columns)."""
    return TableDef(f"marts_{mart.name}", layout.mart_folder(mart.name), mart.description,
                    columns_of(c for c in mart.columns if c.name not in mart.partition_columns))
