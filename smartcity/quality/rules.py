"""The data-quality rules of the transformed tables, declared once.

Rules come from the event contracts (a field is present, within its range, one of its allowed values), plus
rules that only make sense after transformation: event_id unique (deduplication worked), every row in its
partition's hour, every column of its declared type, referential rules (the zone or segment exists) and
cross-field rules. Hard rules are blocking (a failure stops what is built on that partition); soft ones only
warn.

Two engines evaluate the same rules: pandera on a pandas frame (`smartcity.quality.pandera_schemas`, the
schema a user imports and runs), and one Spark aggregation over the partition while it is built
(`smartcity.quality.spark_checks`). Column rules are pandera's built-in checks (nullable, unique, in_range,
isin); a row rule is one SQL predicate, true for a good row, in the subset of SQL that Spark and DuckDB
share, which pandera evaluates with DuckDB — so no rule is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.contracts import EventContract
from smartcity.tables import BY_NAME, MATCH_RADIUS_M, TransformedTable

TYPES = "columns_and_types"  # every column present with its declared type
UNIQUE = "event_id_unique"
IN_HOUR = "event_time_in_partition"


@dataclass(frozen=True)
class Rule:
    """One rule. `kind` says how it is checked:

    - `types`: every column of the table is present with its declared type (one failure per column);
    - `not_null`: `column` is never null;
    - `unique`: `column` has no value twice (each extra copy is one failing row);
    - `in_range`: `column` is null or within [`min`, `max`] (`max_exclusive`: [min, max));
    - `allowed`: `column` is null or one of `values`;
    - `in_hour`: `column` (a timestamp) lies in the partition's hour;
    - `row`: the SQL `predicate` is true (a NULL verdict fails).
    """

    name: str
    kind: str
    description: str
    column: str | None = None
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    predicate: str | None = None
    blocking: bool = True

    @property
    def label(self) -> str:
        """How the Dagster UI introduces it."""
        return ("" if self.blocking else "(warning) ") + self.description


def contract_rules(contract: EventContract) -> list[Rule]:
    rules = []
    for f in contract.fields:
        if not f.nullable:
            rules.append(Rule(f"{f.name}_not_null", "not_null", f"{f.name} is always present (contract: not nullable)",
                              f.name))
        if f.is_numeric and (f.min is not None or f.max is not None):
            rules.append(Rule(f"{f.name}_in_range", "in_range",
                              f"{f.name} within the contract's range ({f.comment.split('; ', 1)[-1]})",
                              f.name, min=f.min, max=f.max))
        if f.allowed:
            rules.append(Rule(f"{f.name}_allowed", "allowed", f"{f.name} is one of: {', '.join(f.allowed)}", f.name,
                              values=f.allowed))
    return rules


COMMON_RULES = [
    Rule(TYPES, "types", "every column is present with its declared type"),
    Rule(UNIQUE, "unique", "event_id is unique in the partition (deduplication worked)", "event_id"),
    Rule(IN_HOUR, "in_hour", "every row belongs to this partition's hour (event time, UTC)", "event_time"),
    Rule("not_from_the_future", "row", "event time is not later than when the event was received (device clocks)",
         predicate="event_time <= ingest_time + INTERVAL 5 MINUTES", blocking=False),
]


def _row(name: str, predicate: str, description: str, blocking: bool = True) -> Rule:
    return Rule(name, "row", description, predicate=predicate, blocking=blocking)


TABLE_RULES: dict[str, list[Rule]] = {
    "vehicle": [
        _row("zone_matched", "zone_id IS NOT NULL", "every report is placed in a city zone"),
        _row("buses_report_route_and_passengers",
             "(vehicle_type = 'bus') = (route_id IS NOT NULL AND passenger_count IS NOT NULL)",
             "buses, and only buses, report a route and passenger count", blocking=False),
        _row("electric_vehicles_have_no_engine_temperature", "(fuel_type = 'electric') = (engine_temp_c IS NULL)",
             "engine temperature is reported by combustion and hybrid vehicles only", blocking=False),
    ],
    "gps": [_row("zone_matched", "zone_id IS NOT NULL", "every fix is placed in a city zone")],
    "gps_matched": [
        _row("zone_matched", "zone_id IS NOT NULL", "every fix is placed in a city zone"),
        Rule("match_within_radius", "in_range", f"a matched segment is at most {MATCH_RADIUS_M:g} m from the fix",
             "match_distance_m", max=MATCH_RADIUS_M),
        _row("matched_to_a_road", "segment_id IS NOT NULL",
             "the fix was matched to a road segment (GPS noise can leave a few unmatched)", blocking=False),
    ],
    "traffic_camera": [
        _row("counts_add_up", "vehicle_count = car_count + bus_count + truck_count + emergency_count",
             "vehicle_count is the sum of the counts per vehicle class"),
        _row("mean_speed_only_with_traffic", "(vehicle_count = 0) = (mean_speed_kmh IS NULL)",
             "a mean speed is reported exactly when vehicles passed"),
        _row("known_segment", "zone_id IS NOT NULL", "the camera's segment exists in the road network (referential)"),
        Rule("plausible_speed", "in_range", "mean speed at most 1.6 x the speed limit", "speed_ratio", max=1.6,
             blocking=False),
    ],
    "weather": [
        _row("known_zone", "zone_name IS NOT NULL", "the station's zone exists (referential)"),
        _row("condition_matches_precipitation", "condition NOT IN ('rain', 'heavy_rain') OR precipitation_mm_h >= 0.2",
             "rain is reported with measurable precipitation", blocking=False),
    ],
    "emergency": [
        _row("known_zone", "zone_name IS NOT NULL", "the incident's zone exists (referential)"),
        _row("known_segment", "segment_id IS NULL OR road_class IS NOT NULL",
             "an affected segment exists in the road network (referential)"),
        _row("unit_assigned_after_reporting", "(status = 'reported') = (unit_id IS NULL)",
             "a unit is named from dispatch on, never at first report"),
    ],
}


def rules_for(table: TransformedTable | str) -> list[Rule]:
    """Every rule of a transformed table, in a fixed order."""
    table = BY_NAME[table] if isinstance(table, str) else table
    return COMMON_RULES[:2] + contract_rules(table.contract) + COMMON_RULES[2:] + TABLE_RULES.get(table.name, [])
