"""Dagster metadata derived from the specs: column schemas, column lineage, owners."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from smartcity.contracts import Field

OWNERS = ["team:data-platform"]


def column_schema(fields: Iterable[Field], unique: Sequence[str] = ()) -> dg.TableSchema:
    """Each column with its type, meaning, unit and range (the field's comment) and nullability."""
    return dg.TableSchema(columns=[
        dg.TableColumn(f.name, f.type.value, description=f.comment,
                       constraints=dg.TableColumnConstraints(nullable=f.nullable, unique=f.name in unique))
        for f in fields])


def column_lineage(columns: Iterable[str], upstream: dg.AssetKey,
                   derived: Mapping[str, Sequence[str]]) -> dg.TableColumnLineage:
    """Each column comes from the upstream column of the same name, or from the named ones when derived."""
    return dg.TableColumnLineage({c: [dg.TableColumnDep(upstream, src) for src in derived.get(c, (c,))]
                                  for c in columns})
