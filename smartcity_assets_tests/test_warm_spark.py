"""The warm Spark of the batch layer: Dagster runs on the embedded Spark Connect server write exactly what a
run with its own in-process Spark writes; the server dying mid-run fails the run with a clear message, leaves
no partition half-written, and the next run (after `stack up` restarts the server) succeeds.

Runs on the warm Spark are separate processes (`dagster asset materialize`, as the daemon launches them): a
Python process is either a Spark Connect client or runs Spark itself, and this one runs the in-process
reference with the test session's Spark."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import psutil
import pytest
from pydantic import SecretStr

from smartcity_commands import stack
from smartcity.marts import MARTS
from smartcity.tables import TABLES

from .helpers import (
    ROOT,
    embedded_settings,
    lake_rows,
    land,
    materialize,
    query,
    running_broker,
    temporary_database,
    wait_until,
)

pytestmark = [pytest.mark.spark, pytest.mark.services]  # Spark and the stack in processes of their own

HOUR = "2026-11-29-10:00"
GROUPS = ("transformed", "catalog", "marts")


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory, live_stack):
    """An embedded Spark Connect server of this module's own (only that service of the stack)."""
    settings = embedded_settings(tmp_path_factory.mktemp("connect"), spark_remote=None, kafka_bootstrap_servers=
                                 "127.0.0.1:1", warehouse_url=SecretStr(live_stack.warehouse_dsn))
    assert [line.split(":")[0] for line in stack.up(settings) if "started at" in line] == ["spark-connect"]
    yield settings
    stack.down(settings)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, live_stack, spark):
    """Two minutes of the simulated city (hour 10) streamed into a lake, and what a run of every layer with the
    test session's in-process Spark wrote: (lake folder, files, warehouse rows). Tests run on copies of it."""
    home = tmp_path_factory.mktemp("reference")
    with running_broker(embedded_settings(home)) as broker, temporary_database(live_stack.warehouse_dsn) as dsn:
        settings = broker.model_copy(update={"warehouse_url": SecretStr(dsn)})
        land(settings, spark, 4000, datetime(2026, 11, 29, 10, 20, tzinfo=timezone.utc), vehicles=120)
        assert materialize(settings, HOUR, selection=dg.AssetSelection.groups(*GROUPS)).success
        yield settings.home_dir / "lake", written(settings), warehouse_rows(settings)


@pytest.fixture
def landed(reference, tmp_path, warehouse):
    """This test's own copy of the reference lake (raw zone only) and an empty warehouse database."""
    lake, files, rows = reference
    settings = embedded_settings(tmp_path, warehouse_url=SecretStr(warehouse))
    shutil.copytree(lake, settings.home_dir / "lake", ignore=shutil.ignore_patterns("transformed", "marts", "_raw_tables"))
    return settings, files, rows


def written(settings) -> dict[str, list[tuple]]:
    """The hour's rows in every transformed and mart Iceberg table that holds it (in file order)."""
    return lake_rows(settings, HOUR)


def warehouse_rows(settings) -> dict[str, list]:
    return {m.name: sorted(map(tuple, query(settings.warehouse_dsn, f"SELECT * FROM {m.qualified}")
                               .astype(str).values.tolist())) for m in MARTS}


def warm_run(settings, connect, log: Path) -> subprocess.Popen:
    """`dagster asset materialize` of the hour, every layer, in a process of its own on the warm Spark."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCITY_", "PYSPARK", "SPARK"))}
    env.update(SMARTCITY_HOME=str(settings.home_dir), SMARTCITY_WAREHOUSE_URL=settings.warehouse_dsn,
               SMARTCITY_KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
               SMARTCITY_SPARK_CONNECT_PORT=str(connect.spark_connect_port), DAGSTER_HOME=str(log.parent))
    select = ",".join(f"group:{g}" for g in GROUPS)
    with log.open("wb") as out:
        return subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m",
                                 "smartcity_assets.definitions", "--select", select, "--partition", HOUR],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def test_the_warm_spark_dying_mid_run_fails_it_clearly_and_the_next_run_reconnects(landed, connect_server, tmp_path):
    """...and then commits row for row what the in-process reference run committed."""
    settings, files, rows = landed
    assert not written(settings)
    assert len(files) == len(TABLES) + len(MARTS)  # every table holds the hour
    log = tmp_path / "killed.log"
    run = warm_run(settings, connect_server, log)
    wait_until("the run's first Spark step", lambda: 'Started execution of step "transformed__' in log.read_text(),
               timeout_s=300, alive=lambda: run.poll() is None, details=lambda: log.read_text()[-3000:])
    time.sleep(1.0)
    server = next(r for r in stack.status(connect_server) if r[0] == "spark-connect")
    psutil.Process(int(server[3])).kill()  # kill -9 of the Spark Connect JVM
    assert run.wait(300) != 0
    text = log.read_text()
    assert "the Spark Connect server at sc://127.0.0.1" in text and "went away" in text, text[-4000:]
    assert "RUN_FAILURE" in text
    # nothing half-written: each table the failed run committed holds the reference's rows
    left = written(settings)
    assert all(left[f] == files[f] for f in left), [f for f in left if left[f] != files[f]]
    assert len(left) < len(files)

    assert any("spark-connect: started" in line for line in stack.up(connect_server))  # the stack restarts it
    again = warm_run(settings, connect_server, tmp_path / "again.log")
    assert again.wait(600) == 0, (tmp_path / "again.log").read_text()[-4000:]
    assert written(settings) == files  # row for row, in the same order
    assert warehouse_rows(settings) == rows


def test_a_run_without_its_connect_server_says_what_to_do(tmp_path, warehouse):
    settings = embedded_settings(tmp_path, warehouse_url=SecretStr(warehouse))
    nobody = embedded_settings(tmp_path, spark_remote=None)  # a port where no server listens
    log = tmp_path / "refused.log"
    run = warm_run(settings, nobody, log)
    assert run.wait(300) != 0
    text = log.read_text()
    assert f"no Spark Connect server answers at sc://127.0.0.1:{nobody.spark_connect_port}" in text, text[-3000:]
    assert "smartcity stack up" in text
