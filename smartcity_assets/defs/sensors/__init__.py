"""The manifest sensor: new committed micro-batches -> raw partitions materialized -> runs of what they affect.

Each tick reads only the manifests after its cursor (one listing per stream starting after the cursor), so
its cost grows with new batches, not with the lake. For every hourly partition the new batches touched — old
hours that received late events included — it records a materialization of the raw asset (rows, files, bytes
and Kafka offsets added) and requests one run of the affected transformed partitions, their catalog entries
and the marts built on them (and the previous hour of marts that read ahead, like incident response). Run
keys are derived from the manifests, so a repeated tick requests nothing twice.
"""


from collections import defaultdict
from collections.abc import Callable

import dagster as dg

from smartcity import contracts, tables
from smartcity.lake import layout, manifests
from smartcity.lake.layout import FIRST_DATE, Hour
from smartcity.marts import MARTS
from smartcity_assets.keys import CATALOG, MARTS as MARTS_GROUP, TRANSFORMED
from smartcity_assets.keys import mart_key, raw_catalog_key, raw_key, transformed_catalog_key, transformed_key
from smartcity_assets.resources import LakeResource

MAX_MANIFESTS_PER_TICK = 500
TRIGGER_TAG = {"smartcity/trigger": "raw_manifest_sensor"}


@dg.sensor(name="raw_manifest_sensor", minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING,
           target=dg.AssetSelection.groups(TRANSFORMED, CATALOG, MARTS_GROUP),
           description="Watches the streaming job's commit manifests; marks raw hourly partitions as landed and "
                       "re-materializes the transformed partitions they affect (late data included), their "
                       "catalog entries and the marts built on them.")
def raw_manifest_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    store = lake.lake()
    found, new_cursor = manifests.list_after(store, manifests.Cursor.loads(context.cursor),
                                             limit=MAX_MANIFESTS_PER_TICK)
    if not found:
        return dg.SkipReason("no new committed micro-batches")
    return plan_runs(found, new_cursor, queued_runs(context),
                    computed=lambda mart, hour: store.exists(store.path(layout.mart_file(mart, hour))))


def queued_runs(context: dg.SensorEvaluationContext) -> dict[str, set[dg.AssetKey]]:
    """Hour -> assets of this sensor's runs that have not started yet. Such a run reads every batch
    committed before it starts, so a new request for the same assets would only repeat it: when the
    stream commits faster than runs finish, requests coalesce instead of queueing up without end."""
    if context.instance_ref is None:  # evaluated outside a Dagster instance (tests, the demo)
        return {}
    records = context.instance.get_run_records(dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED], tags=TRIGGER_TAG))
    pending: dict[str, set[dg.AssetKey]] = defaultdict(set)
    for record in records:
        hour = record.dagster_run.tags.get("dagster/partition")
        if hour:
            pending[hour] |= set(record.dagster_run.asset_selection or ())
    return pending


def _landed(found: list[manifests.Manifest]) -> dict[tuple[str, str], dict]:
    """(source, hour key) -> rows, files, bytes, batches, Kafka offset ranges and quarantined messages added."""
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
    return added


def plan_runs(found: list[manifests.Manifest], new_cursor: manifests.Cursor,
             queued: dict[str, set[dg.AssetKey]] | None = None,
             computed: Callable[[str, Hour], bool] = lambda mart, hour: True) -> dg.SensorResult:
    """Raw materializations and run requests for the manifests found. `queued`: assets of runs not yet
    started, per hour; `computed(mart, hour)`: whether that mart hour was built before (only then does a
    change to the next hour make it stale)."""
    added = _landed(found)
    events = [
        dg.AssetMaterialization(asset_key=raw_key(source), partition=hour, metadata={
            "rows_added": a["rows"], "files_added": a["files"], "bytes_added": a["bytes"],
            "micro_batches": sorted(a["batches"]), "quarantined_in_same_batches": a["quarantined"],
            "kafka_offset_ranges": {k: f"{lo}..{hi}" for k, (lo, hi) in sorted(a["offsets"].items())},
        })
        for (source, hour), a in sorted(added.items())
    ]
    sources_by_hour: dict[str, set[str]] = defaultdict(set)
    for source, hour in added:
        sources_by_hour[hour].add(source)
    tip = ",".join(f"{s}:{b}" for s, b in sorted(new_cursor.items()))
    queued = queued or {}
    runs = []
    for hour, sources in sorted(sources_by_hour.items()):
        changed = sorted({t for s in sources for t in tables.fed_by(s)})
        selection = ([raw_catalog_key(s) for s in sorted(sources)]
                     + [key for t in changed for key in (transformed_key(t), transformed_catalog_key(t))]
                     + [mart_key(m.name) for m in MARTS if set(m.input_tables) & set(changed)])
        if set(selection) <= queued.get(hour, set()):
            continue  # a run not yet started covers it (and the follow-up requested with it, queued after it)
        runs.append(dg.RunRequest(run_key=f"{hour}|{'+'.join(changed)}|{tip}", partition_key=hour,
                                  asset_selection=selection, tags=TRIGGER_TAG))
        # Marts that also read the following hour of a changed input: their previous hour changes too.
        # Requested after this hour's run, which the run queue starts first (one run at a time).
        previous = Hour.parse(hour).shifted(-1)
        earlier = [mart_key(m.name) for m in MARTS if previous.date >= FIRST_DATE
                   and any(m.reads_next_hour_of(t) for t in changed) and computed(m.name, previous)]
        if earlier:
            runs.append(dg.RunRequest(run_key=f"{previous.key}|after:{hour}|{tip}", partition_key=previous.key,
                                      asset_selection=earlier, tags=TRIGGER_TAG))
    return dg.SensorResult(run_requests=runs, asset_events=events, cursor=new_cursor.dumps())


defs = dg.Definitions(sensors=[raw_manifest_sensor])
