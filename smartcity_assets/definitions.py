"""The Dagster code location: `dagster dev -w workspace.yaml` loads `defs` from here."""

import warnings

import dagster as dg

from smartcity.settings import load_settings
from smartcity_assets.catalog import CATALOG
from smartcity_assets.marts import MARTS
from smartcity_assets.raw import RAW_SPECS
from smartcity_assets.report import city_report
from smartcity_assets.resources import resources_for
from smartcity_assets.sensors import raw_manifest_sensor
from smartcity_assets.transformed import TRANSFORMED

with warnings.catch_warnings():  # code references are a beta feature; we want them all the same
    warnings.simplefilter("ignore", dg.BetaWarning)
    ASSETS = dg.with_source_code_references([*RAW_SPECS, *TRANSFORMED, *CATALOG, *MARTS, city_report])

defs = dg.Definitions(
    assets=ASSETS,
    sensors=[raw_manifest_sensor],
    resources=resources_for(load_settings()),
    # All steps of a run share one process and so one Spark session: a run pays one JVM start, and the
    # sensor asks for one run per affected hour, not one per table.
    executor=dg.in_process_executor,
)
