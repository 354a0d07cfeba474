"""The manifest sensor: new committed micro-batches -> raw partitions materialized -> runs of what they affect.

Each tick reads only the manifests after its cursor (one listing per stream starting after the cursor), so
its cost grows with new batches, not with the lake. For every hourly partition the new batches touched — old
hours that received late events included — it records a materialization of the raw asset (rows, files, bytes
and Kafka offsets added) and requests one run of the affected transformed partitions, their catalog entries
and the marts built on them, then one run per mart over the other hours that read the changed ones (marts
that read a window of hours, like incident response and public transport). Run keys are derived from the
manifests, so a repeated tick requests nothing twice.
"""


from collections import defaultdict
from collections.abc import Callable

import dagster as dg

from smartcity import contracts
from smartcity.lake import layout, manifests
from smartcity.lake.layout import FIRST_DATE, Hour
from smartcity.catalog.tables import mart_table
from smartcity.marts import MARTS
from smartcity.marts import BY_NAME as MARTS_BY_NAME
from smartcity.tables import TABLES, fed_by
from smartcity_assets.keys import (
    CATALOG,
    TRANSFORMED,
    mart_key,
    raw_catalog_key,
    raw_key,
    transformed_catalog_key,
    transformed_key,
)
from smartcity_assets.keys import MARTS as MARTS_GROUP
from smartcity_assets.partitions import HOURLY
from smartcity_assets.resources import LakeResource, TablesResource

MAX_MANIFESTS_PER_TICK = 500
BACKLOG_HOURS = 2  # more changed hours than this in one tick: one range run instead of a run per hour
TRIGGER_TAG = {"smartcity/trigger": "raw_manifest_sensor"}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dg.sensor(name="raw_manifest_sensor", minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING,
           target=dg.AssetSelection.groups(TRANSFORMED, CATALOG, MARTS_GROUP),
           description="Watches the streaming job's commit manifests; marks raw hourly partitions as landed and "
                       "re-materializes the transformed partitions they affect (late data included), their "
                       "catalog entries and the marts built on them.")
def raw_manifest_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, tables: TablesResource):
    store = lake.lake()
    found, new_cursor = manifests.list_after(store, manifests.Cursor.loads(context.cursor),
                                             limit=MAX_MANIFESTS_PER_TICK)
    if not found:
        return dg.SkipReason("no new committed micro-batches")
    return plan_runs(found, new_cursor, queued_runs(context),
                     computed=_mart_hours(tables), warn=context.log.warning)


def _mart_hours(tables: TablesResource) -> Callable[[str, Hour], bool]:
    """Whether a mart's hour was built before: its Iceberg table holds the hour (read once per mart per tick)."""
    seen: dict[str, set[Hour]] = {}

    def computed(mart: str, hour: Hour) -> bool:
        if mart not in seen:
            seen[mart] = set(tables.tables().hours(mart_table(MARTS_BY_NAME[mart])))
        return hour in seen[mart]

    return computed



Pending = list[tuple[set[str], set[dg.AssetKey]]]  # per run not started yet: (its hours, its assets)


def queued_runs(context: dg.SensorEvaluationContext) -> Pending:
    """The hours and assets of this sensor's runs that have not started yet. Such a run reads every batch
    committed before it starts, so a new request it covers would only repeat it: when the stream commits
    faster than runs finish, requests coalesce instead of queueing up without end."""
    if context.instance_ref is None:  # evaluated outside a Dagster instance (tests, the demo)
        return []
    records = context.instance.get_run_records(dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED], tags=TRIGGER_TAG))
    pending = []
    for record in records:
        tags = record.dagster_run.tags
        if "dagster/partition" in tags:
            hours = {tags["dagster/partition"]}
        elif RANGE_START in tags:
            hours = {h.key for h in _between(Hour.parse(tags[RANGE_START]), Hour.parse(tags[RANGE_END]))}
        else:
            continue
        pending.append((hours, set(record.dagster_run.asset_selection or ())))
    return pending


def _between(first: Hour, last: Hour) -> list[Hour]:
    hours = [first]
    while hours[-1] < last:
        hours.append(hours[-1].shifted(1))
    return hours


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


def plan_runs(found: list[manifests.Manifest], new_cursor: manifests.Cursor, queued: Pending | None = None,
              computed: Callable[[str, Hour], bool] = lambda mart, hour: True,
              known: Callable[[str], bool] = HOURLY.has_partition_key,
              warn: Callable[[str], None] = lambda message: None) -> dg.SensorResult:
    """Raw materializations and run requests for the manifests found.

    One run per changed hour (oldest first): the raw catalog entries, transformed tables and catalog entries
    of the sources that changed, and the marts reading them in that hour — or, when more than `BACKLOG_HOURS`
    hours changed, one run over their whole range with all of that. Then, after all of them, one run
    per mart over the range of other hours it reads the changed hours in (the incident mart's earlier hours,
    the next hour of the bus mart): an hour that landed in this tick, or one built before (`computed`).
    Since each run reads the lake as it is when it starts, and these come after every run that rewrites
    their inputs, the marts end equal to a computation from scratch whatever order and batching the hours
    land in. `queued`: runs not started yet, whose hours and assets cover a request (then it is left out).
    An hour that is no partition (`known`: before the first one, or ahead of the clock — landed before event
    times were bounded at ingest, `smartcity.contracts.event_time`) is reported through `warn` and skipped: it
    must not stop the tick, and with it every later hour.
    """
    added = _landed(found)
    for (source, key) in sorted(k for k in added if not known(k[1])):
        a = added.pop((source, key))
        warn(f"skipped raw/{source} partition {key}: no hourly partition has that hour ({a['rows']:,} rows in "
             f"micro-batches {', '.join(sorted(a['batches']))}); nothing downstream is requested for it")
    events = [
        dg.AssetMaterialization(asset_key=raw_key(source), partition=hour, metadata={
            "rows_added": a["rows"], "files_added": a["files"], "bytes_added": a["bytes"],
            "micro_batches": sorted(a["batches"]), "quarantined_in_same_batches": a["quarantined"],
            "kafka_offset_ranges": {k: f"{lo}..{hi}" for k, (lo, hi) in sorted(a["offsets"].items())},
        })
        for (source, hour), a in sorted(added.items())
    ]
    sources_by_hour: dict[Hour, set[str]] = defaultdict(set)
    for source, key in added:
        sources_by_hour[Hour.parse(key)].add(source)
    changed = {hour: sorted({t for s in sources for t in fed_by(s)}) for hour, sources in
               sources_by_hour.items()}
    tip = ",".join(f"{s}:{b}" for s, b in sorted(new_cursor.items()))
    queued = queued or []

    def covered(hours: set[str], selection: list[dg.AssetKey]) -> bool:
        return any(hours <= h and set(selection) <= a for h, a in queued)

    def selection_of(hours: list[Hour]) -> list[dg.AssetKey]:
        sources = sorted({s for h in hours for s in sources_by_hour[h]})
        names = [t.name for t in TABLES if any(t.name in changed[h] for h in hours)]
        return ([raw_catalog_key(s) for s in sources]
                + [key for t in names for key in (transformed_key(t), transformed_catalog_key(t))]
                + [mart_key(m.name) for m in MARTS if set(m.input_tables) & set(names)])

    runs, backlog = [], sorted(changed)
    if len(changed) > BACKLOG_HOURS:
        # A backlog (cold start, outage, replay): one run over the whole range, each layer's hours in one step
        # (single-run backfill policy), instead of a run per hour; marts run after every transformed hour.
        selection, span = selection_of(backlog), {h.key for h in _between(backlog[0], backlog[-1])}
        if not covered(span, selection):
            runs.append(dg.RunRequest(
                run_key=f"{backlog[0].key}..{backlog[-1].key}|backlog|{tip}", asset_selection=selection,
                tags={**TRIGGER_TAG, RANGE_START: backlog[0].key, RANGE_END: backlog[-1].key}))
    else:
        backlog = []
        for hour, names in sorted(changed.items()):
            selection = selection_of([hour])
            if not covered({hour.key}, selection):
                runs.append(dg.RunRequest(run_key=f"{hour.key}|{'+'.join(names)}|{tip}", partition_key=hour.key,
                                          asset_selection=selection, tags=TRIGGER_TAG))
    inside = set(_between(backlog[0], backlog[-1])) if backlog else set()  # the backlog run redoes those
    for mart in MARTS:
        later = sorted(_stale_elsewhere(mart, changed, computed, known) - inside)
        if not later:
            continue
        span = {h.key for h in _between(later[0], later[-1])}
        if covered(span, [mart_key(mart.name)]):
            continue
        runs.append(dg.RunRequest(
            run_key=f"{later[0].key}..{later[-1].key}|{mart.name}|after|{tip}", asset_selection=[mart_key(mart.name)],
            tags={**TRIGGER_TAG, RANGE_START: later[0].key, RANGE_END: later[-1].key}))
    return dg.SensorResult(run_requests=runs, asset_events=events, cursor=new_cursor.dumps())


def _stale_elsewhere(mart, changed: dict[Hour, list[str]], computed, known) -> set[Hour]:
    """Hours of `mart` that read a changed input hour other than their own, and that no run of this tick
    recomputes after that input is rewritten: their own hour's run does only when it comes later (a later
    hour) and includes the mart. Only hours that landed in this tick or were built before."""
    out = set()
    for hour, names in changed.items():
        for name in names:
            for stale in mart.stale_after(name, hour):
                if stale == hour or stale.date < FIRST_DATE or not known(stale.key):
                    continue
                if stale > hour and stale in changed and set(mart.input_tables) & set(changed[stale]):
                    continue  # its own run comes later in this tick and reads the new input
                if stale in changed or computed(mart.name, stale):
                    out.add(stale)
    return out


defs = dg.Definitions(sensors=[raw_manifest_sensor])
