"""The column model every layer shares: a column's name, logical type, meaning, unit, range and nullability.

Event fields, the Kafka envelope, transformed tables' enrichment columns and mart columns are all
`Field`s, so each technology's schema (Arrow here; Spark, Hive/Glue, DuckDB, SQL and Dagster in their
own modules) is derived from one description of each column.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pyarrow as pa


class FieldType(enum.Enum):
    STRING = "string"
    UUID = "uuid"
    TIMESTAMP = "timestamp"
    DOUBLE = "double"
    INT = "int"
    BIGINT = "bigint"  # counts and offsets; never in an event (JSON integers are validated as INT)
    DATE = "date"  # partition dates of marts; never in an event
    BOOLEAN = "boolean"  # flags of derived tables; never in an event


ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.STRING: pa.string(),
    FieldType.UUID: pa.string(),
    FieldType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    FieldType.DOUBLE: pa.float64(),
    FieldType.INT: pa.int32(),
    FieldType.BIGINT: pa.int64(),
    FieldType.DATE: pa.date32(),
    FieldType.BOOLEAN: pa.bool_(),
}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str
    unit: str | None = None
    nullable: bool = False
    min: float | None = None
    max: float | None = None  # inclusive
    allowed: tuple[str, ...] | None = None  # closed set of values (enumerations)

    @property
    def is_numeric(self) -> bool:
        return self.type in (FieldType.DOUBLE, FieldType.INT, FieldType.BIGINT)

    @property
    def comment(self) -> str:
        """Human-readable column comment: description, unit and allowed values or range."""
        parts = [self.description]
        if self.unit:
            parts.append(f"unit: {self.unit}")
        if self.allowed:
            parts.append("one of: " + ", ".join(self.allowed))
        elif self.min is not None or self.max is not None:
            parts.append(f"range: {_fmt(self.min)}..{_fmt(self.max)}")
        return "; ".join(parts)

    def arrow_field(self) -> pa.Field:
        return pa.field(self.name, ARROW_TYPES[self.type], nullable=self.nullable, metadata={"comment": self.comment})


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def column(name: str, type_: str, description: str, **extra) -> Field:
    """A derived (non-event) column, typed by name: `column("vehicles", "bigint", "Distinct vehicles")`."""
    return Field(name, FieldType(type_), description, nullable=extra.pop("nullable", True), **extra)
