"""The Dagster code location of the smart-city lakehouse (loaded by `workspace.yaml`)."""

import warnings

import dagster as dg

# Single-run backfill policies (a range of hours in one run) are a beta parameter of @asset in Dagster 1.13.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)
