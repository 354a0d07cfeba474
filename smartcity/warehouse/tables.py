"""Warehouse table definitions and the SQL both PostgreSQL and Redshift understand.

Statements stay within the dialect the two share: CREATE SCHEMA / TABLE IF NOT EXISTS, COMMENT ON,
DELETE ... WHERE, INSERT ... SELECT, CREATE OR REPLACE VIEW, inside explicit transactions.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity import names

SQL_TYPES = {"string": "VARCHAR(256)", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE PRECISION",
             "timestamp": "TIMESTAMPTZ", "date": "DATE"}


def identifier(name: str) -> str:
    """Names that reach SQL are checked, never quoted blindly."""
    return names.identifier(name)


@dataclass(frozen=True)
class MartColumn:
    name: str
    type: str  # key of SQL_TYPES
    comment: str


@dataclass(frozen=True)
class BiView:
    """A view in the `bi` schema computed over mart tables (e.g. across hours), for BI tools (created by its
    table's create_sql, after dropping the old one)."""

    name: str
    description: str
    columns: tuple[MartColumn, ...]
    select: str  # a SELECT over mart tables, producing exactly `columns` in order

    def create_sql(self) -> list[str]:
        view = f"bi.{identifier(self.name)}"
        return [f"CREATE VIEW {view} AS {self.select}",
                f"COMMENT ON VIEW {view} IS {_literal(self.description)}",
                *(f"COMMENT ON COLUMN {view}.{identifier(c.name)} IS {_literal(c.comment)}" for c in self.columns)]


@dataclass(frozen=True)
class MartTable:
    name: str
    description: str
    columns: tuple[MartColumn, ...]
    partition_columns: tuple[str, ...] = ("event_date", "event_hour")
    schema: str = "marts"
    views: tuple[BiView, ...] = ()  # created after the table, over it

    @property
    def qualified(self) -> str:
        return f"{identifier(self.schema)}.{identifier(self.name)}"

    def create_sql(self, existing_columns: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Create the table, or add the columns a newer definition has (`existing_columns`: those the table
        has now); comments; the BI views, dropped and recreated so that new columns can take their place."""
        cols = ",\n  ".join(f"{identifier(c.name)} {SQL_TYPES[c.type]}" for c in self.columns)
        statements = [f"CREATE SCHEMA IF NOT EXISTS {identifier(self.schema)}",
                      f"CREATE TABLE IF NOT EXISTS {self.qualified} (\n  {cols}\n)"]
        if existing_columns:
            statements += [f"ALTER TABLE {self.qualified} ADD COLUMN {identifier(c.name)} {SQL_TYPES[c.type]}"
                           for c in self.columns if c.name not in existing_columns]
        statements += [f"COMMENT ON TABLE {self.qualified} IS {_literal(self.description)}"]
        statements += [f"COMMENT ON COLUMN {self.qualified}.{identifier(c.name)} IS {_literal(c.comment)}"
                       for c in self.columns]
        statements += ["CREATE SCHEMA IF NOT EXISTS bi"]
        for view in (self.name, *(v.name for v in self.views)):
            statements.append(f"DROP VIEW IF EXISTS bi.{identifier(view)}")
        statements += [f"CREATE VIEW bi.{identifier(self.name)} AS SELECT "
                       + ", ".join(identifier(c.name) for c in self.columns) + f" FROM {self.qualified}",
                       f"COMMENT ON VIEW bi.{identifier(self.name)} IS {_literal(self.description)}"]
        statements += [s for view in self.views for s in view.create_sql()]
        return statements

    def staging_sql(self, staging: str) -> str:
        """A temporary table with the columns in definition order — the order of the mart's Parquet files,
        which COPY ... FORMAT AS PARQUET maps by position — even after columns were added to the table."""
        cols = ", ".join(f"{identifier(c.name)} {SQL_TYPES[c.type]}" for c in self.columns)
        return f"CREATE TEMP TABLE {identifier(staging)} ({cols})"

    def replace_partition_sql(self, staging: str) -> list[str]:
        """Delete the partition and insert it again from a staging table (run in one transaction)."""
        where = " AND ".join(f"{identifier(c)} = %({identifier(c)})s" for c in self.partition_columns)
        cols = ", ".join(identifier(c.name) for c in self.columns)
        return [f"DELETE FROM {self.qualified} WHERE {where}",
                f"INSERT INTO {self.qualified} ({cols}) SELECT {cols} FROM {identifier(staging)}"]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
