"""The pandera schema of each transformed table: the declaration of what a valid partition is.

    from smartcity.quality.pandera_schemas import schema_for, frame_of
    rows = frame_of(pyarrow.parquet.read_table(".smartcity/lake/transformed/gps/event_date=.../data.parquet"))
    schema_for("gps", hour).validate(rows, lazy=True)      # raises SchemaErrors listing every failure

Columns and types come from the table's spec (contract fields, enrichment, Kafka envelope) as pandas Arrow
dtypes; each rule of `smartcity.quality.rules` becomes pandera's own check: nullable=False, unique,
in_range / le / ge, isin, or — for a row rule — a DataFrame check that evaluates the rule's SQL predicate
with DuckDB over the frame. `failing_rows` turns pandera's failure cases into rows failing per rule, the
same figures the Spark evaluation reports while the partition is built.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pan
import pyarrow as pa

from smartcity.contracts import Field
from smartcity.lake.layout import Hour
from smartcity.quality.rules import TYPES, UNIQUE, Rule, rules_for
from smartcity.quality.sql_rules import verdicts
from smartcity.tables import BY_NAME, TransformedTable


def pandas_dtype(field: Field) -> pd.ArrowDtype:
    return pd.ArrowDtype(field.arrow_field().type)


def frame_of(rows: pa.Table) -> pd.DataFrame:
    """A table's rows as the pandas frame the schemas validate (Arrow-backed dtypes, nulls kept as nulls)."""
    return rows.to_pandas(types_mapper=pd.ArrowDtype)


def _column_check(rule: Rule, hour: Hour | None) -> pan.Check | None:
    if rule.kind == "in_range":
        if rule.min is not None and rule.max is not None:
            return pan.Check.in_range(rule.min, rule.max, name=rule.name, error=rule.name)
        if rule.max is not None:
            return pan.Check.le(rule.max, name=rule.name, error=rule.name)
        return pan.Check.ge(rule.min, name=rule.name, error=rule.name)
    if rule.kind == "allowed":
        return pan.Check.isin(list(rule.values), name=rule.name, error=rule.name)
    if rule.kind == "in_hour" and hour is not None:
        return pan.Check.in_range(pd.Timestamp(hour.start), pd.Timestamp(hour.end), include_max=False,
                                  name=rule.name, error=rule.name)
    return None


def _sql_check(rule: Rule) -> pan.Check:
    """A row rule as a pandera check: its SQL predicate, evaluated by DuckDB row by row (NULL fails)."""
    def passes(frame: pd.DataFrame) -> pd.Series:
        return pd.Series(verdicts(frame, rule.predicate).to_pylist(), index=frame.index, dtype=bool)

    return pan.Check(passes, name=rule.name, error=rule.name, ignore_na=False)


def schema_for(table: TransformedTable | str, hour: Hour | None = None) -> pan.DataFrameSchema:
    """The pandera schema of a transformed table; with `hour`, rows must also lie in that partition's hour."""
    table = BY_NAME[table] if isinstance(table, str) else table
    rules = rules_for(table)
    by_column: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.column:
            by_column.setdefault(rule.column, []).append(rule)
    columns = {}
    for field in table.columns:
        mine = by_column.get(field.name, [])
        kinds = {r.kind for r in mine}
        checks = [c for c in (_column_check(r, hour) for r in mine) if c is not None]
        columns[field.name] = pan.Column(pandas_dtype(field), checks=checks, nullable="not_null" not in kinds,
                                         unique="unique" in kinds, report_duplicates="exclude_first",
                                         description=field.comment)
    return pan.DataFrameSchema(columns, checks=[_sql_check(r) for r in rules if r.kind == "row"],
                               name=f"transformed.{table.name}", description=table.description)


def failing_rows(table: TransformedTable | str, frame: pd.DataFrame, hour: Hour | None = None) -> dict[str, int]:
    """Validate with pandera and count what it reports, per rule: rows failing each check (a row a DataFrame
    check fails is listed once per column; counted once), columns missing or of the wrong type for
    `columns_and_types`. Rules that pass are absent."""
    try:
        schema_for(table, hour).validate(frame, lazy=True)
    except pan.errors.SchemaErrors as errors:
        return _count(errors.failure_cases)
    return {}


def _rule_of(case) -> str:
    check = str(case["check"])
    if check.startswith("dtype(") or check == "column_in_dataframe":
        return TYPES
    if check == "not_nullable":
        return f"{case['column']}_not_null"
    if check == "field_uniqueness":
        return UNIQUE
    return check  # our checks are labelled with their rule's name


def _count(cases: pd.DataFrame) -> dict[str, int]:
    counts: dict[str, int] = {}
    cases = cases.assign(rule=[_rule_of(c) for _, c in cases.iterrows()])
    for rule, group in cases.groupby("rule"):
        indexed = group["index"].notna()
        counts[rule] = int(group.loc[indexed, "index"].nunique() + (~indexed).sum())
    return counts
