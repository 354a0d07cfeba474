"""`smartcity freshness` measures one platform run: the micro-batches an earlier demo or platform run left in the
same home are not counted. Hand-written micro-batches (raw files with Kafka timestamps and their manifests) in a
lake of the test's own, committed before, during and after a recorded platform run; no mart run exists, so every
event counted is waiting, and the counts are the rows of the batches inside the window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from smartcity.lake import Lake, manifests
from smartcity_commands.freshness import PlatformRun, measure

from .helpers import embedded_settings, smartcity


def _batch(lake_root, batch_id: int, committed: datetime, rows: int) -> manifests.Manifest:
    path = f"raw/source=gps/event_date=2026-11-29/event_hour=10/part-{batch_id}.parquet"
    (lake_root / path).parent.mkdir(parents=True, exist_ok=True)
    stamps = [committed - timedelta(seconds=5)] * rows
    pq.write_table(pa.table({"kafka_timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC"))}), lake_root / path)
    return manifests.Manifest("0123456789abcdef", batch_id, committed.isoformat(),
                              [manifests.DataFile(path, "raw", "gps", "2026-11-29", 10, rows, 1)],
                              [manifests.OffsetRange("gps", 0, batch_id * 1000, batch_id * 1000 + rows - 1, rows)])


def test_freshness_counts_the_micro_batches_of_the_last_platform_run_only(tmp_path):
    settings = embedded_settings(tmp_path)
    lake = Lake.from_settings(settings)
    started = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
    stopped = started + timedelta(minutes=30)
    batches = {0: (started - timedelta(hours=2), 70),  # an earlier `make demo` in the same home
               1: (started + timedelta(minutes=1), 11), 2: (started + timedelta(minutes=20), 13),
               3: (stopped + timedelta(minutes=5), 40)}  # a stream left running after the platform stopped
    for batch_id, (committed, rows) in batches.items():
        assert manifests.commit(lake, _batch(settings.home_dir / "lake", batch_id, committed, rows))
    PlatformRun(started, stopped).save(settings.home_dir)
    assert PlatformRun.load(settings.home_dir) == PlatformRun(started, stopped)

    in_run = sum(rows for committed, rows in batches.values() if started <= committed <= stopped)
    with dg.DagsterInstance.ephemeral() as instance:
        fresh = measure(lake, instance, since=started, until=stopped)
        everything = measure(lake, instance)
    assert (fresh.events, fresh.pending) == (0, in_run) == (0, 24)
    assert everything.pending == sum(rows for _, rows in batches.values())

    # the command says what it measured
    (settings.home_dir / "dagster").mkdir(parents=True)
    (settings.home_dir / "dagster" / "dagster.yaml").write_text("")
    env = {"SMARTCITY_HOME": str(settings.home_dir)}
    result = smartcity("freshness", env=env)
    assert result.returncode == 0, result.stderr
    assert "the micro-batches of the last `smartcity up`, 2026-11-29 10:00:00 UTC to 2026-11-29 10:30:00 UTC" \
        in result.stdout
    assert f"({in_run:,} waiting for a run)" in result.stdout
    result = smartcity("freshness", "--all", env=env)
    assert "every micro-batch in the lake" in result.stdout and "(134 waiting for a run)" in result.stdout
