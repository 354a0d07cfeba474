"""`smartcity up`: the always-on development platform on the embedded stack.

Starts what is not running yet — the stack (broker, PostgreSQL), the streaming job, the simulator at a
steady real-time rate, `dagster dev` (webserver + daemon, so the manifest sensor, the run queue and
freshness policies work live) and the live dashboard — prints the UI's and the dashboard's addresses and,
every minute, what has landed and how fresh the marts are. Ctrl-C stops everything it started, newest
first. Each process logs to `.smartcity/logs/<name>.log`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from smartcity import contracts
from smartcity_commands import stack
from smartcity_commands.dashboard import DEFAULT_PORT as DASHBOARD_PORT
from smartcity_commands.dashboard import server as dashboard
from smartcity_commands.freshness import PlatformRun
from smartcity.errors import SmartcityError
from smartcity.kafka import check_broker, ensure_topics
from smartcity.lake import Lake
from smartcity.settings import Settings
from smartcity.spark.session import require_java

PROJECT = Path(__file__).resolve().parents[1]


@dataclass
class Child:
    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        # A process group of its own: Ctrl-C reaches us only, and we stop each child (and its children) in turn.
        self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=PROJECT,
                                        start_new_session=True)
        out.close()

    def stop(self, timeout_s: float = 30.0) -> str:
        if self.process is None or self.process.poll() is not None:
            return f"{self.name}: already stopped"
        os.killpg(self.process.pid, signal.SIGINT)  # the stream finishes its batch, dagster stops its runs
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return f"{self.name}: killed after {timeout_s:.0f} s"
        return f"{self.name}: stopped"


@dataclass
class Platform:
    settings: Settings
    ui_port: int = 3000
    vehicles: int = 2000
    dashboard_port: int = DASHBOARD_PORT
    children: list[Child] = field(default_factory=list)

    @property
    def dagster_home(self) -> Path:
        return self.settings.home_dir / "dagster"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ, DAGSTER_HOME=str(self.dagster_home), PYTHONUNBUFFERED="1")
        env.update({"SMARTCITY_HOME": str(self.settings.home_dir),
                    "SMARTCITY_BROKER_PORT": str(self.settings.broker_port),
                    "SMARTCITY_POSTGRES_PORT": str(self.settings.postgres_port)})
        return env

    def plan(self) -> list[Child]:
        logs, cli = self.settings.home_dir / "logs", [sys.executable, "-m", "smartcity_commands.cli"]
        return [
            Child("stream", [*cli, "stream", "--trigger-interval", "5"], logs / "stream.log"),
            Child("simulator", [*cli, "simulate", "--speed", "1", "--duration", "inf", "--no-progress",
                                "--vehicles", str(self.vehicles), "--late-share", "0.01", "--malformed-share", "0.005"],
                  logs / "simulator.log"),
            Child("dagster", [str(Path(sys.executable).with_name("dagster")), "dev", "-m", "smartcity_assets.definitions",
                              "-h", "127.0.0.1", "-p", str(self.ui_port)], logs / "dagster.log"),
            Child("dashboard", dashboard.command(self.dashboard_port), logs / "dashboard.log"),
        ]

    def prepare_dagster_home(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        config = self.dagster_home / "dagster.yaml"
        if not config.exists():
            config.symlink_to(PROJECT / "dagster.yaml")

    def start(self) -> None:
        env = self.environment()
        for child in self.plan():
            child.start(env)
            self.children.append(child)
            print(f"  {child.name}: started (pid {child.process.pid}), log {child.log}")

    def stop(self) -> None:
        for child in reversed(self.children):
            print("  " + child.stop())
        if self.children and (self.dagster_home / "dagster.yaml").exists():
            for line in fail_interrupted_runs(self.dagster_home):
                print("  " + line)

    def check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise SmartcityError(f"{child.name} exited with code {child.process.returncode}; see {child.log}")


def run_platform(settings: Settings, ui_port: int, vehicles: int, status_every_s: float = 60.0,
                 stop_after_s: float | None = None, dashboard_port: int = DASHBOARD_PORT) -> int:
    print(f"checking prerequisites: {require_java()}")
    stack.check_port_free(ui_port, "Dagster UI", "--ui-port")
    dashboard.check_port(dashboard_port, "--dashboard-port")
    already = stack.running_services(settings)
    started_stack: set[str] = set()
    run: PlatformRun | None = None
    platform = Platform(settings, ui_port, vehicles, dashboard_port)
    try:  # whatever fails from here on (a broker that does not answer, a child that exits), what started stops
        for line in stack.up(settings):
            print("  " + line)
        started_stack = stack.running_services(settings) - already
        if "broker" in started_stack and (retired := stack.retire_checkpoint(settings)):
            print(f"  the broker started empty: previous streaming checkpoint moved to {retired}")
        check_broker(settings)
        # The topics exist before the stream starts, so its first plan already covers every partition.
        ensure_topics(settings, [c.topic for c in contracts.CONTRACTS])
        platform.prepare_dagster_home()
        run = PlatformRun.begin(settings.home_dir)  # what `smartcity freshness` measures
        began = run.started_at
        platform.start()
        print(f"\nDagster UI: http://127.0.0.1:{ui_port}  (the sensor runs by default; runs appear under Runs)")
        print(f"Live dashboard: {dashboard.url(dashboard_port)}  (the live tables, refreshed every few seconds; "
              "the hourly marts)")
        print("Ctrl-C stops everything this command started.\n")
        produced_at: dict = {}  # raw file -> Kafka timestamps, read once for all status lines
        deadline = None if stop_after_s is None else time.monotonic() + stop_after_s
        while deadline is None or time.monotonic() < deadline:
            time.sleep(min(status_every_s, max(0.0, (deadline or float("inf")) - time.monotonic())))
            platform.check_alive()
            if "spark-connect" in started_stack and (revived := stack.revive_spark_connect(settings)):
                print(f"{datetime.now():%H:%M:%S} {revived}", flush=True)
            try:
                print(status_line(settings, platform.dagster_home, began, produced_at), flush=True)
            except Exception as exc:  # a status line must never stop the platform
                print(f"{datetime.now():%H:%M:%S} status unavailable: {exc}", flush=True)
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        platform.stop()
        if run is not None:
            run.end(settings.home_dir)
        if started_stack:
            for line in stack.down(settings):
                print("  " + line)
    return 0


def fail_interrupted_runs(dagster_home: Path) -> list[str]:
    """Runs still marked in progress once Dagster has stopped (it was stopped mid-run) are marked failed,
    never left "started": their process is gone, and their partitions were replaced whole or not at all."""
    import dagster as dg

    in_progress = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    lines = []
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for record in instance.get_run_records(dg.RunsFilter(statuses=in_progress)):
            instance.report_run_failed(record.dagster_run, message="the platform stopped (smartcity up, Ctrl-C) while "
                                       "this run was in progress; re-execute it from the UI if needed")
            lines.append(f"run {record.dagster_run.run_id[:8]} was in progress: marked failed")
    return lines


def status_line(settings: Settings, dagster_home: Path, since: datetime, produced_at: dict) -> str:
    """Rows landed so far and the congestion mart's freshness since the platform started."""
    import dagster as dg

    from smartcity_commands.freshness import measure
    from smartcity.lake import manifests

    lake = Lake.from_settings(settings)
    found, _ = manifests.list_after(lake, manifests.Cursor())
    landed = sum(m.rows for m in found if datetime.fromisoformat(m.committed_at) >= since)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        fresh = measure(lake, instance, since=since, produced_at=produced_at)
    return f"{datetime.now():%H:%M:%S} landed {landed:,} rows since start; {fresh.summary()}"
