"""Live layer: one external asset per live table. Kept up to date by the streaming job in every micro-batch
(`smartcity.warehouse.live`), not by Dagster runs; downstream of the raw sources it is computed from, so the
batch and the live layer are one lineage graph."""

import dagster as dg

from smartcity.live.tables import LIVE_TABLES, WINDOW_MIN
from smartcity_assets.keys import LIVE, live_key, raw_key
from smartcity_assets.metadata import OWNERS, column_schema

LIVE_SPECS = [
    dg.AssetSpec(
        key=live_key(t.name),
        description=(f"{t.description} Warehouse table `{t.qualified}`, updated by the streaming job "
                     f"(`smartcity stream`) in the same micro-batch that lands the raw rows, exactly once; "
                     f"windows on event time, events older than {WINDOW_MIN} minutes reach only the hourly marts. "
                     "`updated_at` on every row says when it was last written."),
        group_name=LIVE,
        kinds={"spark", "postgres"},
        owners=OWNERS,
        deps=[raw_key(s) for s in t.sources],
        metadata={"dagster/column_schema": column_schema(t.columns), "warehouse_table": t.qualified,
                  "primary_key": ", ".join(t.key)},
    )
    for t in LIVE_TABLES
]

defs = dg.Definitions(assets=LIVE_SPECS)
