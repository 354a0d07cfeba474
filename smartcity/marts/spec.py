"""What a mart is, declared once: its table (columns with meaning and unit), the transformed tables it is
computed from and how (same hour, or also the next), the column its run summarises, and the BI views built
over it. The Spark frames (`smartcity.spark.marts`), the warehouse SQL, the catalog entry, the report and the
Dagster assets all read these specs.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity import names
from smartcity.contracts import Field
from smartcity.lake.layout import PARTITION_COLUMNS, Hour
from smartcity.quality.rules import Rule

SCHEMA = "marts"  # warehouse schema of the mart tables; BI tools read the views in `bi`
BI_SCHEMA = "bi"


@dataclass(frozen=True)
class MartInput:
    """A transformed table a mart reads, over a window of hours around the mart's hour: (first, last) offsets,
    inclusive; (0, 0) is the same hour, (-1, 0) also the hour before. A change to a table's hour H makes the
    mart's hours H - last .. H - first stale."""

    table: str
    hours: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if not self.hours[0] <= 0 <= self.hours[1]:
            raise ValueError(f"{self.table}: the window {self.hours} must hold the mart's own hour (offset 0)")

    def hours_of(self, hour: Hour) -> list[Hour]:
        """The hours of this input that the mart's `hour` reads."""
        return [hour.shifted(n) for n in range(self.hours[0], self.hours[1] + 1)]

    def stale_after(self, changed: Hour) -> list[Hour]:
        """The mart hours that read `changed` of this input (the same hour included)."""
        return [changed.shifted(-n) for n in range(self.hours[0], self.hours[1] + 1)]


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
    checks: tuple[Rule, ...] = ()  # row rules on the mart's rows (SQL predicates, true for a good row)

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

    def stale_after(self, table: str, changed: Hour) -> set[Hour]:
        """The hours of this mart that a change to `table`'s hour `changed` makes stale."""
        return {h for i in self.inputs if i.table == table for h in i.stale_after(changed)}
