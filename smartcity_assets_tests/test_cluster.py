"""Cluster mode on a real Spark standalone cluster: one master and two workers on 127.0.0.1 (1 core and 1g each,
`smartcity_commands.cluster`), shared by this module.

- The streaming job submitted with spark-submit as the README documents lands a known event set exactly once, its
  Kafka reads and lake writes done by the workers' executors, although worker-1 (its JVM, its executor's JVM and
  their Python workers) is killed -9 while its executor runs a task of a micro-batch: Spark runs the lost task
  again on worker-2.
- A Dagster run of one hour of every layer with the cluster as master writes what a local run writes.

The test process runs a local Spark (fixture `spark`) and PySpark allows one SparkContext per process, so every
application on the cluster runs in a child process: spark-submit, `dagster asset materialize`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import psutil
import pytest
from pydantic import SecretStr

from smartcity_commands import cluster
from smartcity.errors import StackError
from smartcity.lake import Lake, manifests
from smartcity_commands.stack import free_port

from .helpers import (
    ROOT,
    assert_exactly_once,
    command_env,
    embedded_settings,
    expected_messages,
    hour_outputs,
    kill_group,
    land,
    materialize,
    produce,
    smartcity,
    temporary_database,
    wait_until,
)

pytestmark = [pytest.mark.spark, pytest.mark.services]  # Spark and the stack in processes of their own

HOUR = "2026-11-29-10:00"
EVERY_LAYER = ("transformed", "catalog", "marts")
TASK_LINE = re.compile(r"(Running|Finished) task (\d+)\.(\d+) in stage (\d+\.\d+)")


@pytest.fixture(scope="module")
def running_cluster(tmp_path_factory):
    """The module's cluster; when it stops, no process of it (JVMs, executors, Python workers) is left."""
    settings = embedded_settings(tmp_path_factory.mktemp("cluster"))
    port = free_port()
    spec = cluster.ClusterSpec(workers=2, cores=1, memory="1g", port=port,
                               ui_port=next(p for p in iter(free_port, None) if p != port))
    cluster.up(settings, spec)
    yield settings, spec
    tree = []
    for process in cluster.processes(settings).values():
        with suppress(psutil.NoSuchProcess):
            started = psutil.Process(process.pid)
            tree += [started, *started.children(recursive=True)]
    assert [line.split(":")[0] for line in cluster.down(settings)] == ["worker-1", "worker-2", "master"]
    _, left = psutil.wait_procs(tree, timeout=5)
    assert not [p for p in left if _status(p) not in (None, psutil.STATUS_ZOMBIE)], left
    assert cluster.status(settings) == [["master", "stopped", "", "", ""]]


def _status(process: psutil.Process) -> str | None:
    with suppress(psutil.NoSuchProcess):
        return process.status()
    return None


@pytest.fixture
def master(running_cluster) -> str:
    """The master's URL, every worker ALIVE (`up` starts again a worker an earlier test killed)."""
    settings, spec = running_cluster
    cluster.up(settings, spec)
    return cluster.master_url(spec.port)


@contextmanager
def child(proc: subprocess.Popen):
    """A child process (in a process group of its own) that is killed with its children if the test fails."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            kill_group(proc)


def applications(settings) -> set[str]:
    view = cluster.master_json(cluster.processes(settings)["master"])
    return {a["id"] for a in view["activeapps"] + view["completedapps"]}


def task_attempts(settings, worker: str, app: str) -> dict[str, list[tuple[int, int, str]]]:
    """What the worker's executor logged for the application: Running / Finished -> (task, attempt, stage)."""
    found: dict[str, list] = {"Running": [], "Finished": []}
    for log in (cluster.work_dir(settings, worker) / app).glob("*/stderr"):
        for kind, task, attempt, stage in TASK_LINE.findall(log.read_text(errors="replace")):
            found[kind].append((int(task), int(attempt), stage))
    return found


def the_new_application(settings, before: set[str], proc: subprocess.Popen, log: Path) -> str:
    new = wait_until("the application to register with the master", lambda: applications(settings) - before,
                     timeout_s=120, alive=lambda: proc.poll() is None, details=lambda: log.read_text()[-3000:])
    assert len(new) == 1
    return new.pop()


def test_status_shows_every_worker_alive_and_a_taken_port_is_a_clear_error(running_cluster, master, tmp_path):
    settings, spec = running_cluster
    result = smartcity("cluster", "status", env={"SMARTCITY_HOME": str(settings.home_dir)})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:]}
    assert rows.keys() == {"master", "worker-1", "worker-2"} and master in rows["master"]
    assert all("running, ALIVE (1 core, 1g)" in rows[w] for w in ("worker-1", "worker-2")), result.stdout
    other = embedded_settings(tmp_path)  # a second cluster on the same master port: refused before any JVM starts
    with pytest.raises(StackError, match=f"port {spec.port} for the Spark master is already in use .* --port"):
        cluster.up(other, spec)
    assert cluster.processes(other) == {}


def test_spark_submit_as_documented_lands_the_events_exactly_once_even_with_a_worker_killed_mid_batch(
        running_cluster, master, broker_only, tmp_path):
    """docs/streaming.md, "On a Spark cluster", as on one box: the workers share the project's environment, so PYSPARK_PYTHON
    is its interpreter and nothing is shipped; spark-submit's --master wins over SMARTCITY_SPARK_MASTER. Once the
    first micro-batch has committed, worker-1 and its whole process tree get kill -9 while its executor runs a
    task of the next one: Spark runs that task again on worker-2, and the lake holds every event exactly once."""
    settings, _ = running_cluster
    config, _ = produce(broker_only, 8_000, seed=3)  # late and malformed events among them
    lake = Lake.from_settings(broker_only)
    log = tmp_path / "submit.log"
    env = command_env(broker_only, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
                      SMARTCITY_MAX_OFFSETS_PER_TRIGGER="1000", SMARTCITY_LIVE_LAYER="false")
    before = applications(settings)
    with log.open("wb") as out, child(subprocess.Popen(
            [str(Path(sys.executable).with_name("spark-submit")), "--master", master, "streaming/__main__.py",
             "--available-now"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)) as proc:
        app = the_new_application(settings, before, proc, log)
        wait_until("the first micro-batch to commit", lambda: manifests.head(lake) != manifests.Cursor(),
                   timeout_s=180, alive=lambda: proc.poll() is None, details=lambda: log.read_text()[-3000:])

        def running_on_worker_1():
            attempts = task_attempts(settings, "worker-1", app)
            return set(attempts["Running"]) - set(attempts["Finished"])

        running = wait_until("a task running on worker-1", running_on_worker_1, timeout_s=120, every_s=0.01,
                             alive=lambda: proc.poll() is None)
        worker = psutil.Process(cluster.processes(settings)["worker-1"].pid)
        tree = [worker, *worker.children(recursive=True)]
        killed = sorted(process.name() for process in tree)
        for process in tree:
            with suppress(psutil.NoSuchProcess):  # a Python worker may exit with its JVM before its turn comes
                process.kill()
        psutil.wait_procs(tree, timeout=10)
        assert proc.wait(300) == 0, log.read_text()[-4000:]
    # what was killed: the worker's JVM, its executor's JVM and the executor's Python workers
    assert killed.count("java") == 2 and any(name.startswith("python") for name in killed), killed
    # the tasks (Kafka read, parse, Parquet write) ran in both workers' executors, before and after the kill
    assert task_attempts(settings, "worker-1", app)["Finished"], "worker-1 finished no task before the kill"
    assert "Lost executor" in log.read_text()
    # ... and Spark ran what worker-1 was running again, as new attempts, on worker-2
    retried = [(task, stage) for task, attempt, stage in task_attempts(settings, "worker-2", app)["Running"] if attempt]
    assert retried, f"no task was run again on worker-2; worker-1 was running {running} when it was killed"
    assert "landed 7,840 rows in 8 committed micro-batches; quarantined 160" in log.read_text()
    assert_exactly_once(broker_only, expected_messages(config))


def test_a_dagster_run_of_every_layer_on_the_cluster_writes_what_a_local_run_writes(
        running_cluster, master, broker_only, spark, live_stack, tmp_path):
    """The same committed raw hour, run once in a run process of its own whose Spark is a client of the cluster
    (SMARTCITY_SPARK_REMOTE=in-process, SMARTCITY_SPARK_MASTER=spark://…) and meanwhile with the test session's
    local Spark (in process): the same transformed and mart rows in the same order, the same warehouse rows and the
    same catalog tables."""
    with temporary_database(live_stack.warehouse_dsn) as local_dsn, \
            temporary_database(live_stack.warehouse_dsn) as cluster_dsn:
        local = broker_only.model_copy(update={"warehouse_url": SecretStr(local_dsn)})
        land(local, spark, 4_000, datetime(2026, 11, 29, 10, 20, tzinfo=timezone.utc), vehicles=120)
        on_cluster = embedded_settings(tmp_path / "on-cluster", warehouse_url=SecretStr(cluster_dsn))
        shutil.copytree(local.home_dir / "lake", on_cluster.home_dir / "lake")  # the raw zone only, so far
        log = tmp_path / "run.log"
        env = {**command_env(on_cluster, SMARTCITY_SPARK_REMOTE="in-process", SMARTCITY_WAREHOUSE_URL=cluster_dsn,
                             DAGSTER_HOME=str(tmp_path)), "SMARTCITY_SPARK_MASTER": master}
        before = applications(running_cluster[0])
        with log.open("wb") as out, child(subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m",
                 "smartcity_assets.definitions", "--select", ",".join(f"group:{g}" for g in EVERY_LAYER),
                 "--partition", HOUR], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)) as run:
            assert materialize(local, HOUR, selection=dg.AssetSelection.groups(*EVERY_LAYER)).success
            assert run.wait(900) == 0, log.read_text()[-4000:]
        assert applications(running_cluster[0]) - before  # its Spark was the cluster's

        local_out, cluster_out = hour_outputs(local, HOUR), hour_outputs(on_cluster, HOUR)
    assert local_out.lake.keys() == cluster_out.lake.keys() and local_out.lake
    assert [t for t in local_out.lake if local_out.lake[t] != cluster_out.lake[t]] == []
    assert local_out.warehouse == cluster_out.warehouse and any(local_out.warehouse.values())
    assert local_out.catalog == cluster_out.catalog and any(local_out.catalog.values())
