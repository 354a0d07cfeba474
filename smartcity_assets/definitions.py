"""The Dagster code location: `dagster dev -w workspace.yaml` loads `defs` from here.

Each layer's package under `defs/` exposes its own `dg.Definitions`; here they are merged with the resources
of the deployment the settings name (`resources.resources_for`). Domains are imported explicitly rather than
discovered with `load_from_defs_folder`: they are factories over the specs (no YAML components), and an
explicit list keeps what loading the code location imports — and costs — visible in one place.
"""

import warnings

import dagster as dg

from smartcity.settings import Settings, load_settings
from smartcity_assets.defs import catalog, live, maintenance, marts, raw, report, sensors, transformed
from smartcity_assets.resources import resources_for

DOMAINS = (raw.defs, transformed.defs, catalog.defs, marts.defs, live.defs, report.defs, sensors.defs,
           maintenance.defs)


def definitions_for(settings: Settings) -> dg.Definitions:
    merged = dg.Definitions.merge(*DOMAINS)
    with warnings.catch_warnings():  # code references are a beta feature; we want them all the same
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = dg.with_source_code_references(list(merged.assets or ()))
    return dg.Definitions(
        assets=assets, sensors=merged.sensors, jobs=merged.jobs, schedules=merged.schedules,
        resources=resources_for(settings),
        # All steps of a run share one process and so one Spark session: a run pays one JVM start, and the
        # sensor asks for one run per affected hour, not one per table.
        executor=dg.in_process_executor)


defs = definitions_for(load_settings())


def execute_in_process(defs: dg.Definitions, request: dg.RunRequest, **kwargs) -> dg.ExecuteInProcessResult:
    """One of the sensor's run requests (one hour, or a range of hours in its tags), run in this process: what
    the demo does instead of the daemon, and what the tests do."""
    return dg.materialize(list(defs.assets or ()), resources=defs.resources, partition_key=request.partition_key,
                          tags={k: v for k, v in request.tags.items() if k != "dagster/partition"},
                          selection=dg.AssetSelection.assets(*request.asset_selection), **kwargs)
