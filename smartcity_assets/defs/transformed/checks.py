"""The quality rules of a transformed table as Dagster asset checks: one check per rule, reported by the asset
that builds the partition (one Spark pass over it), blocking for hard rules."""


import dagster as dg

from smartcity.quality.rules import rules_for
from smartcity.quality.spark_checks import Outcome
from smartcity.tables import TransformedTable


def check_specs(key: dg.AssetKey, table: TransformedTable) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(r.name, asset=key, blocking=r.blocking, description=r.label) for r in rules_for(table)]


def check_result(*outcomes: Outcome) -> dg.AssetCheckResult:
    """One rule's result over the hours of the run (one outcome per hour): failing rows added up, the rule as
    evaluated for the first hour, a sample from the first hour that failed."""
    rule, failing = outcomes[0].rule, sum(o.failing for o in outcomes)
    metadata = {"failing_rows": failing, "rule": outcomes[0].sql}
    sample = next((o.sample for o in outcomes if o.sample is not None), None)
    if sample is not None:
        metadata["sample_failing_rows"] = dg.MetadataValue.json(sample)
    return dg.AssetCheckResult(check_name=rule.name, passed=failing == 0, metadata=metadata,
                               severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN)
