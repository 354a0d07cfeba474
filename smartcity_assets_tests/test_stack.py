"""The embedded stack: up -> status -> down leaves no process or port behind; clear errors."""

from __future__ import annotations

import socket

import psutil
import pytest

from smartcity_commands import stack
from smartcity.errors import StackError

from .helpers import embedded_settings

pytestmark = [pytest.mark.spark, pytest.mark.services]  # Spark and the stack in processes of their own


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def settings(tmp_path):
    settings = embedded_settings(tmp_path)
    yield settings
    stack.down(settings)  # whatever a failing test left running


def test_up_status_down_leaves_nothing_behind(tmp_path):
    settings = embedded_settings(tmp_path, spark_remote=None)  # the warm Spark Connect server too
    try:
        _up_status_down(settings)
    finally:
        stack.down(settings)


def _up_status_down(settings):
    lines = stack.up(settings)
    assert [l.split(":")[0] for l in lines] == ["broker", "postgres", "spark-connect"]
    assert all("started" in l for l in lines)
    rows = {r[0]: r for r in stack.status(settings)}
    assert rows["broker"][1] == rows["postgres"][1] == rows["spark-connect"][1] == "running"
    pids = [int(rows[name][3]) for name in ("broker", "postgres", "spark-connect")]
    postgres_children = psutil.Process(pids[1]).children(recursive=True)
    assert psutil.Process(pids[2]).name() == "java"  # the JVM itself, so stopping it leaves no Spark behind
    ports = (settings.broker_port, settings.postgres_port, settings.spark_connect_port)
    assert all(_port_open(p) for p in ports)

    import psycopg2
    with psycopg2.connect(settings.warehouse_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), version()")
        db, version = cur.fetchone()
    assert db == "smartcity" and "PostgreSQL 18" in version

    assert all("already running" in l for l in stack.up(settings))  # idempotent

    down = stack.down(settings)
    assert {l.split(":")[0] for l in down if ": stopped" in l} == {"broker", "postgres", "spark-connect"}
    assert postgres_children and not any(p.is_running() for p in postgres_children)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert not any(_port_open(p) for p in ports)
    assert {r[1] for r in stack.status(settings)} == {"stopped"}
    assert stack.down(settings) == ["nothing to stop: the stack was not started from this folder"]

    # a second life works (PostgreSQL keeps its data folder; the broker starts empty)
    stack.up(settings)
    assert {r[1] for r in stack.status(settings)} == {"running"}
    stack.down(settings)


def test_taken_port_is_a_clear_error(settings):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", settings.broker_port))
        blocker.listen()
        with pytest.raises(StackError, match=f"port {settings.broker_port} .* SMARTCITY_BROKER_PORT"):
            stack.up(settings)
    assert stack.status(settings)[0][1] == "stopped"


def test_a_service_that_fails_to_start_takes_down_those_started_with_it(settings):
    with socket.socket() as blocker:  # PostgreSQL cannot start: the broker started before it is stopped again
        blocker.bind(("127.0.0.1", settings.postgres_port))
        blocker.listen()
        with pytest.raises(StackError, match=f"port {settings.postgres_port} .* SMARTCITY_POSTGRES_PORT"):
            stack.up(settings)
    assert not _port_open(settings.broker_port)
    assert {r[0]: r[1] for r in stack.status(settings)}["broker"] == "stopped"


def test_external_services_are_not_started(tmp_path):
    settings = embedded_settings(tmp_path, kafka_bootstrap_servers="kafka.example:9092",
                                 warehouse_url="postgresql://bi@warehouse.example/smartcity",
                                 spark_remote="sc://spark-connect.example:15002")
    assert stack.up(settings) == ["broker: external (configured in settings), not started",
                                  "postgres: external (configured in settings), not started",
                                  "spark-connect: external (configured in settings), not started"]
    assert stack.down(settings) == ["nothing to stop: the stack was not started from this folder"]
    in_process = settings.model_copy(update={"spark_remote": "in-process"})
    assert stack.up(in_process)[-1] == ("spark-connect: not used (SMARTCITY_SPARK_REMOTE=in-process: each run "
                                        "starts its own Spark), not started")
