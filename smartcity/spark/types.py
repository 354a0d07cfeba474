"""Spark schemas from the column model (`smartcity.contracts.Field`) and from Arrow schemas."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
from pyspark.sql import types as T

from smartcity.contracts import Field, FieldType

SPARK_TYPES = {FieldType.STRING: T.StringType(), FieldType.UUID: T.StringType(),
               FieldType.TIMESTAMP: T.TimestampType(), FieldType.DOUBLE: T.DoubleType(),
               FieldType.INT: T.IntegerType(), FieldType.BIGINT: T.LongType(), FieldType.DATE: T.DateType(),
               FieldType.BOOLEAN: T.BooleanType()}


def spark_schema(fields: Iterable[Field]) -> T.StructType:
    """Spark columns with the fields' descriptions as column comments."""
    return T.StructType([T.StructField(f.name, SPARK_TYPES[f.type], f.nullable, {"comment": f.comment})
                         for f in fields])


def spark_from_arrow(schema: pa.Schema) -> T.StructType:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)
