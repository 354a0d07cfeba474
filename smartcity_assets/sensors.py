"""The manifest sensor: new committed micro-batches -> raw partitions materialized -> transformed runs.

Each tick reads only the manifests after its cursor (one listing per stream starting after the cursor),
so its cost grows with new batches, not with the lake. For every hourly partition the new batches
touched — old hours that received late events included — it records a materialization of the raw
asset (rows, files, bytes and Kafka offsets added) and requests one run of the affected transformed
partitions, their catalog entries and the marts built on them (and the previous hour of marts that read
ahead, like incident response). Run keys are derived from the manifests, so a repeated tick requests nothing twice.
"""


from collections import defaultdict
from collections.abc import Callable

import dagster as dg

from smartcity import contracts
from smartcity.lake import layout, manifests
from smartcity_assets.catalog import catalog_key
from smartcity_assets.marts import MARTS
from smartcity_assets.marts.build import mart_file
from smartcity_assets.partitions import HOURLY
from smartcity_assets.raw import raw_key
from smartcity_assets.resources import LakeResource
from smartcity_assets.transformed import TABLES, transformed_key

MAX_MANIFESTS_PER_TICK = 500


def tables_fed_by(source: str) -> list[str]:
    """Transformed tables to recompute when a raw source's hour changes (and the tables built on them)."""
    direct = [t.name for t in TABLES if t.source == source]
    return direct + [t.name for t in TABLES if t.upstream_table in direct]


@dg.sensor(name="raw_manifest_sensor", minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING,
           target=dg.AssetSelection.groups("transformed", "catalog", "marts"),
           description="Watches the streaming job's commit manifests; marks raw hourly partitions as landed and "
                       "re-materializes the transformed partitions they affect (late data included), their "
                       "catalog entries and the marts built on them.")
def raw_manifest_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    store = lake.lake()
    found, new_cursor = manifests.list_after(store, manifests.Cursor.loads(context.cursor),
                                             limit=MAX_MANIFESTS_PER_TICK)
    if not found:
        return dg.SkipReason("no new committed micro-batches")
    return evaluate(found, new_cursor, queued_runs(context),
                    computed=lambda key, hour: store.exists(store.path(mart_file(key.path[-1], hour))))


def queued_runs(context: dg.SensorEvaluationContext) -> dict[str, set[dg.AssetKey]]:
    """Hour -> assets of this sensor's runs that have not started yet. Such a run reads every batch
    committed before it starts, so a new request for the same assets would only repeat it: when the
    stream commits faster than runs finish, requests coalesce instead of queueing up without end."""
    if context.instance_ref is None:  # evaluated outside a Dagster instance (tests, the demo)
        return {}
    records = context.instance.get_run_records(dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED],
        tags={"smartcity/trigger": "raw_manifest_sensor"}))
    pending: dict[str, set[dg.AssetKey]] = defaultdict(set)
    for record in records:
        hour = record.dagster_run.tags.get("dagster/partition")
        if hour:
            pending[hour] |= set(record.dagster_run.asset_selection or ())
    return pending


def evaluate(found: list[manifests.Manifest], new_cursor: manifests.Cursor,
             queued: dict[str, set[dg.AssetKey]] | None = None,
             computed: Callable[[dg.AssetKey, str], bool] = lambda key, hour: True) -> dg.SensorResult:
    """Raw materializations and run requests for the manifests found. `queued`: assets of runs not yet
    started, per hour; `computed(mart, hour)`: whether that mart hour was built before (only then does
    a change to the next hour make it stale)."""
    added: dict[tuple[str, str], dict] = defaultdict(lambda: {"rows": 0, "files": 0, "bytes": 0, "batches": set(),
                                                              "offsets": {}, "quarantined": 0})
    for m in found:
        quarantined = {s: sum(r.values()) for s, r in m.quarantine_reasons.items()}
        touched = []
        for part, stats in m.partitions().items():
            if part.zone != layout.RAW:
                continue
            a = added[(part.source, part.hour_key)]
            a["rows"] += stats["rows"]
            a["files"] += stats["files"]
            a["bytes"] += stats["bytes"]
            a["batches"].add(f"{m.stream_id}:{m.batch_id}")
            a["quarantined"] += quarantined.get(part.source, 0)
            touched.append((part.source, a))
        for o in m.offsets:  # the Kafka offsets this batch read, on the partitions it touched
            for source, a in touched:
                if o.topic == contracts.BY_NAME[source].topic:
                    lo, hi = a["offsets"].get(f"{o.topic}/{o.partition}", (o.first, o.last))
                    a["offsets"][f"{o.topic}/{o.partition}"] = (min(lo, o.first), max(hi, o.last))

    events = [
        dg.AssetMaterialization(asset_key=raw_key(source), partition=hour, metadata={
            "rows_added": a["rows"], "files_added": a["files"], "bytes_added": a["bytes"],
            "micro_batches": sorted(a["batches"]), "quarantined_in_same_batches": a["quarantined"],
            "kafka_offset_ranges": {k: f"{lo}..{hi}" for k, (lo, hi) in sorted(a["offsets"].items())},
        })
        for (source, hour), a in sorted(added.items())
    ]
    by_hour: dict[str, set[str]] = defaultdict(set)  # hour -> transformed tables to recompute
    sources_by_hour: dict[str, set[str]] = defaultdict(set)
    for source, hour in added:
        by_hour[hour].update(tables_fed_by(source))
        sources_by_hour[hour].add(source)
    tip = ",".join(f"{s}:{b}" for s, b in sorted(new_cursor.items()))
    queued = queued or {}
    runs = []
    for hour, tables in sorted(by_hour.items()):
        sources = sources_by_hour[hour]
        changed = {catalog_key(f"transformed_{t}") for t in tables}  # what the marts depend on
        same_hour = [m.key for m in MARTS if set(m.dependency_keys) & changed]
        selection = ([catalog_key(f"raw_{s}") for s in sorted(sources)]
                     + [key for t in sorted(tables) for key in (transformed_key(t), catalog_key(f"transformed_{t}"))]
                     + same_hour)
        if set(selection) <= queued.get(hour, set()):
            continue  # a run not yet started covers it (and the follow-up requested with it, queued after it)
        runs.append(dg.RunRequest(run_key=f"{hour}|{'+'.join(sorted(tables))}|{tip}", partition_key=hour,
                                  asset_selection=selection, tags={"smartcity/trigger": "raw_manifest_sensor"}))
        # Marts that also read the following hour of a changed input: their previous hour changes too.
        # Requested after this hour's run, which the run queue starts first (one run at a time).
        previous = _previous_hour(hour)
        earlier = [m.key for m in MARTS if previous is not None and any(_reads_next_hour(m, k) for k in changed)
                   and computed(m.key, previous)]
        if earlier:
            runs.append(dg.RunRequest(
                run_key=f"{previous}|after:{hour}|{tip}", partition_key=previous, asset_selection=earlier,
                tags={"smartcity/trigger": "raw_manifest_sensor"}))
    return dg.SensorResult(run_requests=runs, asset_events=events, cursor=new_cursor.dumps())


def _reads_next_hour(asset: dg.AssetsDefinition, dep: dg.AssetKey) -> bool:
    mapping = asset.get_partition_mapping(dep) if dep in asset.dependency_keys else None
    return isinstance(mapping, dg.TimeWindowPartitionMapping) and mapping.end_offset > 0


def _previous_hour(hour: str) -> str | None:
    """The hour before, or None before the first partition."""
    window = HOURLY.get_prev_partition_window(HOURLY.time_window_for_partition_key(hour).start)
    return HOURLY.get_partition_key_for_timestamp(window.start.timestamp()) if window else None
