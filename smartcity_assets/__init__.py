"""Dagster code location of the smartcity lakehouse (software-defined assets, checks, sensors)."""
