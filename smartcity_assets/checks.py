"""Data-quality checks of the transformed tables: pandera schemas on Spark frames, as Dagster asset checks.

Every rule is one Spark SQL predicate that a good row satisfies. One aggregation over the Spark frame
counts the failing rows of every rule; the pandera schema (the contract's column types, every rule as a
check) is then validated on the frame, its checks reading those counts, so the verdict and the count
cannot drift apart and validation costs one pass over the data. Rules come from the event contracts (non-null, ranges, allowed values)
plus rules that only make sense after transformation: uniqueness of event_id, every row in its own
hour, referential checks against the city's zones and segments, and cross-field rules. Hard rules are
blocking (a failure stops downstream assets of that partition); soft ones only warn.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import dagster as dg
import pandera.pyspark as pa
from pyspark.sql import functions as F

from smartcity.contracts import EventContract
from streaming.schemas import spark_schema

UNIQUE = "event_id_unique"
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class Rule:
    name: str
    column: str  # the column the rule belongs to (pandera attaches it there)
    predicate: str  # Spark SQL, true for a good row; `{start}` / `{end}` are the partition's bounds
    description: str
    blocking: bool = True


def contract_rules(contract: EventContract) -> list[Rule]:
    rules = []
    for f in contract.fields:
        if not f.nullable:
            rules.append(Rule(f"{f.name}_not_null", f.name, f"{f.name} IS NOT NULL",
                              f"{f.name} is always present (contract: not nullable)"))
        if f.is_numeric and (f.min is not None or f.max is not None):
            bounds = [f"{f.name} >= {f.min}" if f.min is not None else None,
                      f"{f.name} <= {f.max}" if f.max is not None else None]
            rules.append(Rule(f"{f.name}_in_range", f.name,
                              f"{f.name} IS NULL OR ({' AND '.join(b for b in bounds if b)})",
                              f"{f.name} within the contract's range ({f.comment.split('; ', 1)[-1]})"))
        if f.allowed:
            values = ", ".join(f"'{v}'" for v in f.allowed)
            rules.append(Rule(f"{f.name}_allowed", f.name, f"{f.name} IS NULL OR {f.name} IN ({values})",
                              f"{f.name} is one of: {', '.join(f.allowed)}"))
    return rules


COMMON_RULES = [
    Rule("event_time_in_partition", "event_time",
         "event_time >= TIMESTAMP '{start}' AND event_time < TIMESTAMP '{end}'",
         "every row belongs to this partition's hour (event time, UTC)"),
    Rule("not_from_the_future", "event_time", "event_time <= ingest_time + INTERVAL 5 MINUTES",
         "event time is not later than when the event was received (device clocks)", blocking=False),
]

TABLE_RULES: dict[str, list[Rule]] = {
    "vehicle": [
        Rule("zone_matched", "zone_id", "zone_id IS NOT NULL", "every report is placed in a city zone"),
        Rule("buses_report_route_and_passengers", "route_id",
             "(vehicle_type = 'bus') = (route_id IS NOT NULL AND passenger_count IS NOT NULL)",
             "buses, and only buses, report a route and passenger count", blocking=False),
        Rule("electric_vehicles_have_no_engine_temperature", "engine_temp_c",
             "(fuel_type = 'electric') = (engine_temp_c IS NULL)",
             "engine temperature is reported by combustion and hybrid vehicles only", blocking=False),
    ],
    "gps": [Rule("zone_matched", "zone_id", "zone_id IS NOT NULL", "every fix is placed in a city zone")],
    "gps_matched": [
        Rule("zone_matched", "zone_id", "zone_id IS NOT NULL", "every fix is placed in a city zone"),
        Rule("match_within_radius", "match_distance_m", "match_distance_m IS NULL OR match_distance_m <= 50",
             "a matched segment is at most 50 m from the fix"),
        Rule("matched_to_a_road", "segment_id", "segment_id IS NOT NULL",
             "the fix was matched to a road segment (GPS noise can leave a few unmatched)", blocking=False),
    ],
    "traffic_camera": [
        Rule("counts_add_up", "vehicle_count",
             "vehicle_count = car_count + bus_count + truck_count + emergency_count",
             "vehicle_count is the sum of the counts per vehicle class"),
        Rule("mean_speed_only_with_traffic", "mean_speed_kmh",
             "(vehicle_count = 0) = (mean_speed_kmh IS NULL)",
             "a mean speed is reported exactly when vehicles passed"),
        Rule("known_segment", "segment_id", "zone_id IS NOT NULL",
             "the camera's segment exists in the road network (referential)"),
        Rule("plausible_speed", "speed_ratio", "speed_ratio IS NULL OR speed_ratio <= 1.6",
             "mean speed at most 1.6 x the speed limit", blocking=False),
    ],
    "weather": [
        Rule("known_zone", "zone_id", "zone_name IS NOT NULL", "the station's zone exists (referential)"),
        Rule("condition_matches_precipitation", "condition",
             "condition NOT IN ('rain', 'heavy_rain') OR precipitation_mm_h >= 0.2",
             "rain is reported with measurable precipitation", blocking=False),
    ],
    "emergency": [
        Rule("known_zone", "zone_id", "zone_name IS NOT NULL", "the incident's zone exists (referential)"),
        Rule("known_segment", "segment_id", "segment_id IS NULL OR road_class IS NOT NULL",
             "an affected segment exists in the road network (referential)"),
        Rule("unit_assigned_after_reporting", "unit_id", "(status = 'reported') = (unit_id IS NULL)",
             "a unit is named from dispatch on, never at first report"),
    ],
}


def rules_for(name: str, contract: EventContract) -> list[Rule]:
    return contract_rules(contract) + COMMON_RULES + TABLE_RULES.get(name, [])


def check_specs(key: dg.AssetKey, name: str, contract: EventContract) -> list[dg.AssetCheckSpec]:
    specs = [dg.AssetCheckSpec(UNIQUE, asset=key, blocking=True,
                               description="event_id is unique in the partition (deduplication worked)")]
    specs += [dg.AssetCheckSpec(r.name, asset=key, blocking=r.blocking,
                                description=("" if r.blocking else "(warning) ") + r.description)
              for r in rules_for(name, contract)]
    return specs


def _bounds(partition_key: str) -> dict[str, str]:
    start = datetime.strptime(partition_key, "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)
    return {"start": f"{start:%Y-%m-%d %H:%M:%S}+00:00", "end": f"{start + timedelta(hours=1):%Y-%m-%d %H:%M:%S}+00:00"}


def pandera_schema(name: str, contract: EventContract, columns: list[str], failing: dict[str, int]
                   ) -> pa.DataFrameSchema:
    """The pandera schema of a transformed table: the contract's column types, and every rule as a check.

    The data work of all rules is one Spark aggregation (`failing_counts`) done before validation; each
    pandera check reads its rule's count, so validating costs one pass over the data instead of one
    Spark job per rule and column.
    """
    types = {f.name: f for f in spark_schema(contract).fields}
    by_column: dict[str, list[pa.Check]] = {"event_id": [pa.Check(lambda df: failing[UNIQUE] == 0, name=UNIQUE)]}
    for rule in rules_for(name, contract):
        by_column.setdefault(rule.column, []).append(
            pa.Check(lambda df, n=rule.name: failing[n] == 0, name=rule.name))
    schema_columns = {}
    for column in columns:
        field = types.get(column)
        schema_columns[column] = pa.Column(field.dataType if field else None, checks=by_column.get(column, []),
                                           nullable=True)  # nullability is a rule with a count
    return pa.DataFrameSchema(schema_columns, name=f"transformed.{name}")


def failing_counts(df, rules: list[Rule], bounds: dict[str, str]) -> dict[str, int]:
    """Rows failing each rule (a NULL verdict counts as failing), and duplicate event ids: one Spark job."""
    def fails(r: Rule):
        ok = F.expr(r.predicate.format(**bounds))
        return F.sum(F.when(ok, 0).otherwise(1)).alias(r.name)

    row = df.agg(F.count(F.lit(1)).alias("_rows"), F.countDistinct("event_id").alias("_ids"),
                 *[fails(r) for r in rules]).first().asDict()
    counts = {r.name: int(row[r.name] or 0) for r in rules}
    counts[UNIQUE] = row["_rows"] - row["_ids"]
    return counts


def evaluate(df, name: str, contract: EventContract, partition_key: str) -> list[dg.AssetCheckResult]:
    """Validate a (cached) Spark frame with the pandera schema; report each rule with counts and samples."""
    rules = rules_for(name, contract)
    bounds = _bounds(partition_key)
    failing = failing_counts(df, rules, bounds)
    validated = pandera_schema(name, contract, df.columns, failing).validate(df)
    failed = _failed_rule_names(validated.pandera.errors)
    results = [dg.AssetCheckResult(check_name=UNIQUE, passed=UNIQUE not in failed,
                                   metadata={"duplicate_rows": failing[UNIQUE]})]
    for r in rules:
        predicate = r.predicate.format(**bounds)
        passed = r.name not in failed
        metadata = {"failing_rows": failing[r.name], "rule": predicate}
        if not passed:
            sample = df.where(f"NOT coalesce({predicate}, false)").select(*_sample_columns(r, df.columns))
            metadata["sample_failing_rows"] = dg.MetadataValue.json(
                [{k: str(v) for k, v in row.asDict().items()} for row in sample.limit(SAMPLE_ROWS).collect()])
        results.append(dg.AssetCheckResult(
            check_name=r.name, passed=passed, metadata=metadata,
            severity=dg.AssetCheckSeverity.ERROR if r.blocking else dg.AssetCheckSeverity.WARN))
    return results


def _sample_columns(rule: Rule, columns: list[str]) -> list[str]:
    mentioned = [c for c in columns if c in rule.predicate and c != "event_id"]
    return ["event_id", "event_time", *[c for c in mentioned if c != "event_time"]]


def _failed_rule_names(errors) -> set[str]:
    """Names of the rules pandera found failing; a column of the wrong type fails its not-null rule."""
    failed = set()
    for category in dict(errors).values():
        for kind, entries in category.items():
            for e in entries:
                if kind in ("WRONG_DATATYPE", "COLUMN_NOT_IN_DATAFRAME"):
                    failed.add(f"{e['column']}_not_null")
                else:
                    failed.add(e.get("check"))
    return failed
