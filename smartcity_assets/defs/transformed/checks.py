"""The quality rules of a transformed table as Dagster asset checks: one check per rule, reported by the asset
that builds the partition (one Spark pass over it), blocking for hard rules.

Blocking is per hour: an hour that fails a hard rule is held back (not published: its earlier rows stay, and the
marts whose window holds it wait), the other hours of a run go on. The check reports every failing hour; it is
an ERROR — which stops what the run builds downstream — when the run could publish none of its hours, and a
WARN when it held back some and published the rest, whose catalog entries and marts then go ahead (they skip the
held-back hours themselves)."""


import dagster as dg

from smartcity.quality.rules import rules_for
from smartcity.quality.spark_checks import Outcome
from smartcity.tables import TransformedTable


def check_specs(key: dg.AssetKey, table: TransformedTable) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(r.name, asset=key, blocking=r.blocking, description=r.label) for r in rules_for(table)]


def held_back(outcomes: list[Outcome]) -> bool:
    """Whether an hour with these outcomes (one per rule) fails a blocking rule."""
    return any(o.rule.blocking and not o.passed for o in outcomes)


def check_result(*outcomes: Outcome, everything_held: bool = False) -> dg.AssetCheckResult:
    """One rule's result over the hours of the run (one outcome per hour): failing rows added up, the failing hours,
    the rule as evaluated for the first hour, a sample from the first hour that failed."""
    rule, failing = outcomes[0].rule, sum(o.failing for o in outcomes)
    metadata = {"failing_rows": failing, "rule": outcomes[0].sql,
                "failing_hours": [o.hour.key for o in outcomes if not o.passed]}
    sample = next((o.sample for o in outcomes if o.sample is not None), None)
    if sample is not None:
        metadata["sample_failing_rows"] = dg.MetadataValue.json(sample)
    error = rule.blocking and everything_held
    return dg.AssetCheckResult(check_name=rule.name, passed=failing == 0, metadata=metadata,
                               severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN)
