"""What a mart is, declared once: its table (columns with meaning and unit), the transformed tables it is
computed from and how (same hour, or also the next), the column its run summarises, and the BI views built
over it. The Spark frames (`smartcity.spark.marts`), the warehouse SQL, the catalog entry, the report and the
Dagster assets all read these specs.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity import names
from smartcity.contracts import Field
from smartcity.lake.layout import PARTITION_COLUMNS

SCHEMA = "marts"  # warehouse schema of the mart tables; BI tools read the views in `bi`
BI_SCHEMA = "bi"


@dataclass(frozen=True)
class MartInput:
    table: str  # a transformed table
    next_hour: bool = False  # also read the hour after the mart's hour (a change there recomputes this hour)


@dataclass(frozen=True)
class BiView:
    """A view in the `bi` schema computed over mart tables (e.g. across hours), for BI tools."""

    name: str
    description: str
    columns: tuple[Field, ...]
    select: str  # a SELECT over mart tables, producing exactly `columns` in order (PostgreSQL and Redshift)


@dataclass(frozen=True)
class Mart:
    name: str
    description: str
    columns: tuple[Field, ...]  # the partition columns first
    inputs: tuple[MartInput, ...]
    summary_column: str  # a run reports its rows counted by this column's values
    views: tuple[BiView, ...] = ()

    def __post_init__(self) -> None:
        names.identifier(self.name, "mart name")
        column_names = [c.name for c in self.columns]
        assert tuple(column_names[:len(PARTITION_COLUMNS)]) == PARTITION_COLUMNS, f"{self.name}: partition first"
        assert self.summary_column in column_names, f"{self.name}: unknown summary column"

    partition_columns = PARTITION_COLUMNS

    @property
    def qualified(self) -> str:
        """The warehouse table, e.g. marts.traffic_congestion."""
        return f"{SCHEMA}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def input_tables(self) -> list[str]:
        return [i.table for i in self.inputs]

    def reads_next_hour_of(self, table: str) -> bool:
        return any(i.table == table and i.next_hour for i in self.inputs)
