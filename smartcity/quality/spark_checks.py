"""The rules of `smartcity.quality.rules` evaluated on a Spark DataFrame while a partition is built: all of
them in one aggregation (one Spark job), plus one small job per failing rule for a sample of its rows.

Reports the same figures as pandera's validation of the written partition (`pandera_schemas.failing_rows`):
rows failing each rule (a NULL verdict fails; each extra copy of a value is one duplicate) and, for
`columns_and_types`, the columns missing or of the wrong type.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.lake.layout import Hour
from smartcity.quality.rules import Rule, rules_for
from smartcity.spark.types import SPARK_TYPES
from smartcity.tables import TransformedTable

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    failing: int
    sql: str  # what was evaluated, for the reader of the check's result
    sample: list[dict] | None = None  # some failing rows (only when it failed)
    hour: Hour | None = None  # the partition it was evaluated on

    @property
    def passed(self) -> bool:
        return self.failing == 0


def _range(column: str, low, high, high_exclusive: bool = False) -> str:
    bounds = [f"{column} >= {low}" if low is not None else None,
              (f"{column} < {high}" if high_exclusive else f"{column} <= {high}") if high is not None else None]
    return f"{column} IS NULL OR ({' AND '.join(b for b in bounds if b)})"


def predicate(rule: Rule, hour: Hour) -> str:
    """Spark SQL, true for a good row (not for `unique` and `types`, which are not row predicates)."""
    c = rule.column
    if rule.kind == "not_null":
        return f"{c} IS NOT NULL"
    if rule.kind == "in_range":
        return _range(c, rule.min, rule.max)
    if rule.kind == "allowed":
        return f"{c} IS NULL OR {c} IN ({', '.join(repr(v) for v in rule.values)})"
    if rule.kind == "in_hour":
        return _range(c, f"TIMESTAMP '{hour.start:%Y-%m-%d %H:%M:%S}+00:00'",
                      f"TIMESTAMP '{hour.end:%Y-%m-%d %H:%M:%S}+00:00'", high_exclusive=True)
    if rule.kind == "row":
        return rule.predicate
    raise ValueError(f"{rule.name}: a {rule.kind} rule has no row predicate")


def wrong_columns(df, table: TransformedTable) -> list[str]:
    """Columns of the table that the frame lacks or holds with another type."""
    have = {f.name: f.dataType for f in df.schema.fields}
    return [c.name for c in table.columns if have.get(c.name) != SPARK_TYPES[c.type]]


def evaluate(df, table: TransformedTable, hour: Hour) -> list[Outcome]:
    """Every rule of the table on a (cached) frame of one partition."""
    from pyspark.sql import functions as F

    rules = rules_for(table)
    wrong = wrong_columns(df, table)
    aggregates, sql = [F.count(F.lit(1)).alias("_rows")], {}
    for r in rules:
        if r.kind == "unique":
            sql[r.name] = f"count(*) - count(DISTINCT {r.column}) - max(CASE WHEN {r.column} IS NULL THEN 1 ELSE 0 END)"
            aggregates.append(F.expr(sql[r.name]).alias(r.name))
        elif r.kind == "types":
            sql[r.name] = "column names and types of the frame = the table's spec"
        else:
            sql[r.name] = predicate(r, hour)
            aggregates.append(F.sum(F.when(F.expr(sql[r.name]), 0).otherwise(1)).alias(r.name))
    counts = df.agg(*aggregates).first().asDict()
    outcomes = []
    for r in rules:
        failing = len(wrong) if r.kind == "types" else int(counts[r.name] or 0)
        sample = None
        if failing and r.kind == "types":
            sample = [{"column": c, "expected": SPARK_TYPES[t.type].simpleString(),
                       "found": next((f.dataType.simpleString() for f in df.schema.fields if f.name == c), "missing")}
                      for c in wrong for t in table.columns if t.name == c]
        elif failing:
            sample = _sample(df, r, sql[r.name])
        outcomes.append(Outcome(r, failing, sql[r.name], sample, hour))
    return outcomes


def _sample(df, rule: Rule, sql: str) -> list[dict]:
    from pyspark.sql import functions as F

    if rule.kind == "unique":
        dupes = df.groupBy(rule.column).count().where("count > 1").select(rule.column)
        rows = df.join(dupes, rule.column).select("event_id", "event_time", "kafka_offset")
    else:
        mentioned = [c for c in df.columns if c in sql and c not in ("event_id", "event_time")]
        rows = df.where(~F.coalesce(F.expr(sql), F.lit(False))).select("event_id", "event_time", *mentioned)
    return [{k: str(v) for k, v in row.asDict().items()} for row in rows.limit(SAMPLE_ROWS).collect()]
