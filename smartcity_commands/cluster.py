"""`smartcity cluster up | status | down`: a Spark standalone cluster on this machine, to try cluster mode
(`spark-submit --master spark://…`, `SMARTCITY_SPARK_MASTER=spark://…`) and to test it.

One master and N workers, every one on 127.0.0.1, each worker with bounded cores and memory for its executors.
The pyspark wheel has `bin/spark-class` but no `sbin/start-master.sh`, so they are started as Spark's
"Starting a Cluster Manually" shows: `spark-class org.apache.spark.deploy.master.Master` / `...worker.Worker`.
Healthy means the master's JSON (`http://127.0.0.1:<ui port>/json`) lists every worker as ALIVE.

`<home>/stack/cluster.json` (beside the stack's state) records what `up` started; `down` stops exactly that,
each worker with the executors it launched and their Python workers. `up` again starts whatever has died
(a worker killed by a test, say).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from smartcity.errors import ConfigError, StackError
from smartcity.settings import Settings
from smartcity_commands.stack import (
    ServiceState,
    SparkConnect,
    alive,
    load_state,
    save_state,
    stack_dir,
    tail,
    terminate,
    check_port_free,
    free_port,
)

STATE_FILE = "cluster.json"
MASTER, WORKER = "org.apache.spark.deploy.master.Master", "org.apache.spark.deploy.worker.Worker"
HOST = "127.0.0.1"
DAEMON_MEMORY = "512m"  # heap of the master and worker JVMs themselves (Spark's default is 1g each)


@dataclass(frozen=True)
class ClusterSpec:
    workers: int = 2
    cores: int = 1  # per worker: its executors run this many tasks at once
    memory: str = "1g"  # per worker: what its executors may take (an application's executor asks 1g by default)
    port: int = 17077  # the master's; spark://127.0.0.1:<port>
    ui_port: int = 18080  # the master's web UI, whose /json lists the workers

    def __post_init__(self) -> None:
        if self.workers < 1 or self.cores < 1:
            raise ConfigError(f"a cluster needs at least one worker of at least one core (got {self.workers} "
                              f"workers of {self.cores} cores)")
        if not re.fullmatch(r"[1-9][0-9]*[mg]", self.memory):
            raise ConfigError(f"worker memory is a size such as 1g or 512m, not {self.memory!r}")


@dataclass
class ClusterProcess(ServiceState):
    """A master or worker JVM: the stack's service record plus its web UI port and, for a worker, its share."""

    ui_port: int = 0
    cores: int = 0
    memory: str = ""


def master_url(port: int) -> str:
    return f"spark://{HOST}:{port}"


def _dir(settings: Settings) -> Path:
    path = stack_dir(settings) / "cluster"
    path.mkdir(parents=True, exist_ok=True)
    return path


def work_dir(settings: Settings, worker: str) -> Path:
    """Where a worker runs its executors: `<app id>/<executor id>/` with their stdout and stderr."""
    return _dir(settings) / worker


def processes(settings: Settings) -> dict[str, ClusterProcess]:
    """What `up` started: master first, then the workers."""
    return load_state(settings, STATE_FILE, ClusterProcess)


def _marker(process: ClusterProcess) -> str:
    return MASTER if process.name == "master" else WORKER


def _environment() -> dict[str, str]:
    """The daemons' environment. SPARK_LOCAL_IP keeps every port (RPC, web UI, the executors' block managers) on
    loopback; executors inherit PYSPARK_PYTHON, so their Python workers run this project's interpreter."""
    return dict(os.environ, SPARK_HOME=str(SparkConnect.spark_home()), SPARK_LOCAL_IP=HOST,
                SPARK_DAEMON_MEMORY=DAEMON_MEMORY, PYSPARK_PYTHON=os.environ.get("PYSPARK_PYTHON", sys.executable),
                SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false")  # no REST submission server on port 6066


def _launch(settings: Settings, name: str, args: list[str], port: int, ui_port: int, **share) -> ClusterProcess:
    log = _dir(settings) / f"{name}.log"
    spark_class = SparkConnect.spark_home() / "bin" / "spark-class"
    with open(log, "ab") as out:  # spark-class ends with `exec java`: the pid is the JVM's
        proc = subprocess.Popen([str(spark_class), *args], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env=_environment())
    return ClusterProcess(name, proc.pid, port, f"{HOST}:{port}", str(log), time.time(), ui_port, **share)


def _start_master(settings: Settings, spec: ClusterSpec) -> ClusterProcess:
    check_port_free(spec.port, "Spark master", "--port")
    check_port_free(spec.ui_port, "Spark master's web UI", "--ui-port")
    master = _launch(settings, "master", [MASTER, "--host", HOST, "--port", str(spec.port),
                                          "--webui-port", str(spec.ui_port)], spec.port, spec.ui_port)
    master.address = master_url(spec.port)
    return master


def _start_worker(settings: Settings, name: str, master: ClusterProcess, spec: ClusterSpec) -> ClusterProcess:
    port, ui_port = free_port(), free_port()
    while ui_port == port:
        ui_port = free_port()
    work = work_dir(settings, name)
    work.mkdir(parents=True, exist_ok=True)
    return _launch(settings, name, [WORKER, "--host", HOST, "--port", str(port), "--webui-port", str(ui_port),
                                    "--cores", str(spec.cores), "--memory", spec.memory, "--work-dir", str(work),
                                    master.address], port, ui_port, cores=spec.cores, memory=spec.memory)


def master_json(master: ClusterProcess, timeout_s: float = 2.0) -> dict | None:
    """The master's view of the cluster (status, workers and their state, applications), None if it does not
    answer."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{master.ui_port}/json", timeout=timeout_s) as answer:
            return json.loads(answer.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


def alive_worker_ports(master: ClusterProcess) -> set[int]:
    """Ports of the workers the master lists as ALIVE."""
    view = master_json(master) or {}
    if view.get("status") != "ALIVE":
        return set()
    return {w["port"] for w in view.get("workers", []) if w.get("state") == "ALIVE"}


def _wait_healthy(state: dict[str, ClusterProcess], timeout_s: float = 90.0) -> None:
    master = state["master"]
    workers = [p for name, p in state.items() if name != "master"]
    deadline = time.monotonic() + timeout_s
    while not {w.port for w in workers} <= alive_worker_ports(master):
        for process in state.values():
            if not alive(process, _marker(process)):
                raise StackError(f"the Spark {process.name} exited at start:\n{tail(process.log)}")
        if time.monotonic() > deadline:
            missing = [w.name for w in workers if w.port not in alive_worker_ports(master)]
            raise StackError(f"the Spark master at {master.address} did not list {', '.join(missing)} as ALIVE "
                             f"within {timeout_s:.0f} s:\n{tail(master.log)}")
        time.sleep(0.25)


def up(settings: Settings, spec: ClusterSpec = ClusterSpec()) -> list[str]:
    """Start the master and the workers that are not running, wait until the master lists every worker as
    ALIVE; return what happened, line by line. On failure, what this call started is stopped again."""
    state = processes(settings)
    lines, started = [], []
    names = ["master", *(f"worker-{n}" for n in range(1, spec.workers + 1))]
    try:
        for name in names:
            current = state.get(name)
            if current and alive(current, _marker(current)):
                lines.append(f"{name}: already running at {current.address} (pid {current.pid})")
                continue
            began = time.monotonic()
            state[name] = (_start_master(settings, spec) if name == "master"
                           else _start_worker(settings, name, state["master"], spec))
            started.append(name)
            save_state(settings, state, STATE_FILE)
            lines.append(f"{name}: started at {state[name].address} (pid {state[name].pid}) in "
                         f"{time.monotonic() - began:.1f} s")
        _wait_healthy({n: state[n] for n in names})
    except BaseException:
        for name in reversed(started):
            _stop(state.pop(name))
        save_state(settings, state, STATE_FILE)
        raise
    master = state["master"]
    workers = [state[n] for n in names[1:]]
    lines.append(f"cluster: {master.address}, {len(workers)} workers ALIVE ({_share(spec.cores, spec.memory)} each); "
                 f"web UI http://{HOST}:{master.ui_port}")
    return lines


def _stop(process: ClusterProcess) -> None:
    """SIGTERM the JVM (a worker's shutdown hooks stop its executors), then SIGKILL whatever of its process tree
    is left: executor JVMs and their Python workers (the PySpark daemon runs in a process group of its own)."""
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    terminate(process, grace_s=30)
    _, left = psutil.wait_procs(tree, timeout=10)
    for child in left:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(left, timeout=5)


def down(settings: Settings) -> list[str]:
    """Stop what `up` started (workers first, then the master), and only that."""
    state = processes(settings)
    if not state:
        return ["nothing to stop: no cluster was started from this folder"]
    lines = []
    for name in sorted(state, key=lambda n: n == "master"):
        process = state.pop(name)
        if alive(process, _marker(process)):
            _stop(process)
            lines.append(f"{name}: stopped (pid {process.pid})")
        else:
            lines.append(f"{name}: was not running")
        save_state(settings, state, STATE_FILE)
    return lines


def status(settings: Settings) -> list[list[str]]:
    """Rows of (process, state, address, pid, log); a worker is healthy when the master lists it ALIVE."""
    state = processes(settings)
    master = state.get("master")
    master_up = master is not None and alive(master, MASTER)
    registered = alive_worker_ports(master) if master_up else set()
    rows = []
    for name, process in state.items():
        if not alive(process, _marker(process)):
            health = "stopped (stale state)"
        elif name == "master":
            health = "running" if master_json(master) else "running, NOT answering"
        else:
            health = (f"running, ALIVE ({_share(process.cores, process.memory)})" if process.port in registered
                      else "running, NOT registered with the master")
        rows.append([name, health, process.address, str(process.pid), process.log])
    return rows or [["master", "stopped", "", "", ""]]


def _share(cores: int, memory: str) -> str:
    return f"{cores} core{'s' if cores > 1 else ''}, {memory}"


def running_master(settings: Settings) -> str | None:
    """spark://127.0.0.1:<port> of the cluster `up` started from this folder, if its master runs."""
    master = processes(settings).get("master")
    return master.address if master and alive(master, MASTER) else None


def submit_hint(settings: Settings) -> str:
    """How to run the streaming job on the running cluster from this project's folder."""
    url = running_master(settings) or master_url(ClusterSpec.port)
    python = sys.executable
    return (f"SPARK_LOCAL_IP={HOST} PYSPARK_PYTHON={python} {Path(python).with_name('spark-submit')} --master {url} "
            f"streaming/__main__.py --available-now")
