"""Every asset key of the code location, built here only: raw/<source>, transformed/<table>,
catalog/<catalog table>, marts/<mart>, live/<live table>, report/city_report."""

from __future__ import annotations

import dagster as dg

from smartcity.catalog.tables import raw_table, transformed_table
from smartcity.tables import BY_NAME as TABLES

RAW, TRANSFORMED, CATALOG, MARTS, REPORT, LIVE = "raw", "transformed", "catalog", "marts", "report", "live"  # groups


def raw_key(source: str) -> dg.AssetKey:
    return dg.AssetKey([RAW, source])


def transformed_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([TRANSFORMED, table])


def raw_catalog_key(source: str) -> dg.AssetKey:
    return dg.AssetKey([CATALOG, raw_table(source).name])


def transformed_catalog_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([CATALOG, transformed_table(TABLES[table]).name])


def mart_key(mart: str) -> dg.AssetKey:
    return dg.AssetKey([MARTS, mart])


def live_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([LIVE, table])


REPORT_KEY = dg.AssetKey([REPORT, "city_report"])
