"""Dagster metadata derived from the event contracts: column schemas, column lineage, code references."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from smartcity.contracts import EventContract

# Kafka coordinates and ingest time kept on every raw and transformed row (see streaming/schemas.py).
KAFKA_COLUMNS = [
    ("kafka_topic", "string", "Kafka topic the event was read from"),
    ("kafka_partition", "int", "Kafka partition"),
    ("kafka_offset", "bigint", "Offset within the Kafka partition"),
    ("kafka_timestamp", "timestamp", "Kafka record timestamp (producer create time)"),
    ("ingest_time", "timestamp", "When the streaming job parsed the message, UTC"),
]

OWNERS = ["team:data-platform"]


def column_schema(contract: EventContract, extra: Sequence[tuple[str, str, str]] = (),
                  unique: Sequence[str] = ()) -> dg.TableSchema:
    columns = [dg.TableColumn(f.name, f.type.value, description=f.comment,
                              constraints=dg.TableColumnConstraints(nullable=f.nullable, unique=f.name in unique))
               for f in contract.fields]
    columns += [dg.TableColumn(n, t, description=d) for n, t, d in [*extra, *KAFKA_COLUMNS]]
    return dg.TableSchema(columns=columns)


def passthrough_lineage(contract: EventContract, upstream: dg.AssetKey,
                        derived: dict[str, Sequence[str]]) -> dg.TableColumnLineage:
    """Each contract column comes from the same raw column; derived columns from the named ones."""
    deps = {f.name: [dg.TableColumnDep(upstream, f.name)] for f in contract.fields}
    deps.update({col: [dg.TableColumnDep(upstream, src) for src in sources] for col, sources in derived.items()})
    return dg.TableColumnLineage(deps)
