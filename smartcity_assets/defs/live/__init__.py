"""Live layer: one external asset per live table. Kept up to date by the streaming job in every micro-batch
(`smartcity.warehouse.live`), not by Dagster runs; downstream of the raw sources it is computed from, so the
batch and the live layer are one lineage graph.

`live_tables_sensor` makes their freshness visible: once a minute it reads which micro-batch the live tables
hold and, when the stream has applied a new one, records a materialization of each live table (the batch, when
it was applied, the live clock, rows). A stream that stops applying batches leaves them stale, and their
freshness policy turns to warn, then fail, in the UI.
"""

import json
from datetime import timedelta

import dagster as dg

from smartcity.live.tables import LIVE_TABLES, WINDOW_MIN
from smartcity.warehouse.base import WarehouseUnavailable
from smartcity.warehouse.live import LiveLayer
from smartcity_assets.keys import LIVE, live_key, raw_key
from smartcity_assets.metadata import OWNERS, column_schema
from smartcity_assets.resources import WarehouseResource

SENSOR_INTERVAL_S = 60
# The stream applies a batch every few seconds; the sensor reports them once a minute.
FRESHNESS = dg.FreshnessPolicy.time_window(warn_window=timedelta(minutes=3), fail_window=timedelta(minutes=10))

LIVE_SPECS = [
    dg.AssetSpec(
        key=live_key(t.name),
        description=(f"{t.description} Warehouse table `{t.qualified}`, updated by the streaming job "
                     f"(`smartcity stream`) in the same micro-batch that lands the raw rows, exactly once; "
                     f"windows on event time, events older than {WINDOW_MIN} minutes reach only the hourly marts. "
                     "`updated_at` on every row says when it was last written; `live_tables_sensor` records the "
                     "stream's progress here once a minute."),
        group_name=LIVE,
        kinds={"spark", "postgres"},
        owners=OWNERS,
        deps=[raw_key(s) for s in t.sources],
        freshness_policy=FRESHNESS,
        metadata={"dagster/column_schema": column_schema(t.columns), "warehouse_table": t.qualified,
                  "primary_key": ", ".join(t.key)},
    )
    for t in LIVE_TABLES
]


@dg.sensor(name="live_tables_sensor", minimum_interval_seconds=SENSOR_INTERVAL_S,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Records a materialization of the live tables when the streaming job has applied new "
                       "micro-batches to them (their last batch, when, the live clock), so their freshness shows.")
def live_tables_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    try:
        status = LiveLayer(warehouse.warehouse()).status()
    except WarehouseUnavailable as exc:
        return dg.SkipReason(f"the warehouse cannot be reached: {exc}")
    if status is None or not status.batches:
        return dg.SkipReason("no live tables yet: no stream has applied a micro-batch with the live layer on")
    applied = {stream: batch for stream, (batch, _) in status.batches.items()}
    if applied == json.loads(context.cursor or "{}"):
        return dg.SkipReason("no micro-batch applied to the live tables since the last tick")
    stream, (batch, applied_at) = max(status.batches.items(), key=lambda item: item[1][1])
    metadata = {"stream": stream, "batch_id": batch, "applied_at": dg.MetadataValue.timestamp(applied_at)}
    if status.clock is not None:
        metadata["live_clock"] = dg.MetadataValue.timestamp(status.clock)
    events = [dg.AssetMaterialization(asset_key=live_key(t.name),
                                      metadata={**metadata, "dagster/row_count": status.rows[t.name]})
              for t in LIVE_TABLES]
    return dg.SensorResult(asset_events=events, cursor=json.dumps(applied, sort_keys=True))


defs = dg.Definitions(assets=LIVE_SPECS, sensors=[live_tables_sensor])
