"""The Dagster code location of the smart-city lakehouse (loaded by `workspace.yaml`)."""
