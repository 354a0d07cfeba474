"""The SQL of the mart tables and BI views, from the mart specs, in the dialect PostgreSQL and Redshift share:
CREATE SCHEMA / TABLE IF NOT EXISTS, ALTER TABLE ADD COLUMN, COMMENT ON, DELETE ... WHERE, INSERT ...
SELECT, CREATE VIEW — run inside explicit transactions by the warehouse classes.
"""

from __future__ import annotations

from smartcity import names
from smartcity.contracts import FieldType
from smartcity.marts.spec import BI_SCHEMA, SCHEMA, BiView, Mart

SQL_TYPES = {FieldType.STRING: "VARCHAR(256)", FieldType.UUID: "VARCHAR(36)", FieldType.INT: "INTEGER",
             FieldType.BIGINT: "BIGINT", FieldType.DOUBLE: "DOUBLE PRECISION", FieldType.TIMESTAMP: "TIMESTAMPTZ",
             FieldType.DATE: "DATE", FieldType.BOOLEAN: "BOOLEAN"}


def identifier(name: str) -> str:
    """Names that reach SQL are checked, never quoted blindly."""
    return names.identifier(name)


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_sql(mart: Mart, existing_columns: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Create the table, or add the columns a newer spec has (`existing_columns`: those the table has now);
    comments; the BI views, dropped and recreated so that new columns can take their place."""
    table = mart.qualified
    cols = ",\n  ".join(f"{identifier(c.name)} {SQL_TYPES[c.type]}" for c in mart.columns)
    statements = [f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}", f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}\n)"]
    if existing_columns:
        statements += [f"ALTER TABLE {table} ADD COLUMN {identifier(c.name)} {SQL_TYPES[c.type]}"
                       for c in mart.columns if c.name not in existing_columns]
    statements.append(f"COMMENT ON TABLE {table} IS {literal(mart.description)}")
    statements += [f"COMMENT ON COLUMN {table}.{identifier(c.name)} IS {literal(c.comment)}" for c in mart.columns]
    statements.append(f"CREATE SCHEMA IF NOT EXISTS {BI_SCHEMA}")
    statements += [f"DROP VIEW IF EXISTS {BI_SCHEMA}.{identifier(view)}"
                   for view in (mart.name, *(v.name for v in mart.views))]
    plain = BiView(mart.name, mart.description, mart.columns,
                   "SELECT " + ", ".join(identifier(c.name) for c in mart.columns) + f" FROM {table}")
    return statements + [s for view in (plain, *mart.views) for s in view_sql(view)]


def view_sql(view: BiView) -> list[str]:
    name = f"{BI_SCHEMA}.{identifier(view.name)}"
    return [f"CREATE VIEW {name} AS {view.select}", f"COMMENT ON VIEW {name} IS {literal(view.description)}",
            *(f"COMMENT ON COLUMN {name}.{identifier(c.name)} IS {literal(c.comment)}" for c in view.columns)]


def staging_sql(mart: Mart, staging: str) -> str:
    """A temporary table with the columns in spec order — the order of the mart's Parquet files, which COPY ...
    FORMAT AS PARQUET maps by position — even after columns were added to the table."""
    cols = ", ".join(f"{identifier(c.name)} {SQL_TYPES[c.type]}" for c in mart.columns)
    return f"CREATE TEMP TABLE {identifier(staging)} ({cols})"


def replace_partition_sql(mart: Mart, staging: str) -> list[str]:
    """Delete the partition and insert it again from a staging table (run in one transaction); the partition's
    values are the parameters %(event_date)s, %(event_hour)s."""
    where = " AND ".join(f"{identifier(c)} = %({identifier(c)})s" for c in mart.partition_columns)
    cols = ", ".join(identifier(c.name) for c in mart.columns)
    return [f"DELETE FROM {mart.qualified} WHERE {where}",
            f"INSERT INTO {mart.qualified} ({cols}) SELECT {cols} FROM {identifier(staging)}"]
