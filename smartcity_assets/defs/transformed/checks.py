"""The quality rules of a transformed table as Dagster asset checks: one check per rule, reported by the asset
that builds the partition (one Spark pass over it), blocking for hard rules."""


import dagster as dg

from smartcity.quality.rules import rules_for
from smartcity.quality.spark_checks import Outcome
from smartcity.tables import TransformedTable


def check_specs(key: dg.AssetKey, table: TransformedTable) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(r.name, asset=key, blocking=r.blocking, description=r.label) for r in rules_for(table)]


def check_result(outcome: Outcome) -> dg.AssetCheckResult:
    metadata = {"failing_rows": outcome.failing, "rule": outcome.sql}
    if outcome.sample is not None:
        metadata["sample_failing_rows"] = dg.MetadataValue.json(outcome.sample)
    return dg.AssetCheckResult(check_name=outcome.rule.name, passed=outcome.passed, metadata=metadata,
                               severity=dg.AssetCheckSeverity.ERROR if outcome.rule.blocking
                               else dg.AssetCheckSeverity.WARN)
