"""Transformed layer: deduplicated, typed, enriched tables per hour, with their quality checks."""

import dagster as dg

from smartcity_assets.defs.transformed.assets import TRANSFORMED_ASSETS

defs = dg.Definitions(assets=TRANSFORMED_ASSETS)
