"""Table maintenance: a job (with an hourly schedule) that keeps every Iceberg table of the lake bounded —
snapshots beyond the retention or the count expired, files no snapshot needs removed
(`smartcity.lake.table_maintenance`). Run it from the UI (Jobs -> iceberg_table_maintenance) or let the
schedule do it at minute 40 of every hour (live, a table gains a commit a minute or more)."""

import dagster as dg

from smartcity.catalog.query import lake_tables
from smartcity.lake import table_maintenance
from smartcity_assets.resources import TablesResource


class MaintenanceConfig(dg.Config):
    retention_days: float = table_maintenance.RETENTION.days
    keep_last: int = table_maintenance.KEEP_LAST
    max_snapshots: int = table_maintenance.MAX_SNAPSHOTS
    orphan_age_hours: float = table_maintenance.ORPHAN_AGE.total_seconds() / 3600


@dg.op(description="Expire old snapshots and remove unreferenced files of every lake table.")
def maintain_tables(context: dg.OpExecutionContext, config: MaintenanceConfig, tables: TablesResource):
    from datetime import timedelta

    catalog = tables.tables()
    results = []
    for definition in lake_tables():
        if not catalog.exists(definition):
            continue
        done = table_maintenance.maintain(catalog, definition, timedelta(days=config.retention_days),
                                          config.keep_last, timedelta(hours=config.orphan_age_hours),
                                          max_snapshots=config.max_snapshots)
        context.log.info(f"{done.table}: {done.snapshots_expired} snapshots expired, {done.snapshots_left} left; "
                         f"{done.files_removed} unreferenced files removed ({done.bytes_removed:,} bytes)")
        results.append(done)
    return dg.Output(None, metadata={
        "tables": len(results), "snapshots_expired": sum(r.snapshots_expired for r in results),
        "snapshots_left": sum(r.snapshots_left for r in results),
        "files_removed": sum(r.files_removed for r in results), "bytes_removed": sum(r.bytes_removed for r in results)})


@dg.job(name="iceberg_table_maintenance", description=__doc__)
def iceberg_table_maintenance():
    maintain_tables()


hourly = dg.ScheduleDefinition(job=iceberg_table_maintenance, cron_schedule="40 * * * *", execution_timezone="UTC",
                               default_status=dg.DefaultScheduleStatus.RUNNING)

defs = dg.Definitions(jobs=[iceberg_table_maintenance], schedules=[hourly])
