"""A real `dagster dev` (webserver + daemon) for browser tests, its GraphQL API, and headless Chromium.

`dagster dev` runs in its own process group with DAGSTER_HOME in a temporary folder (the project's
dagster.yaml linked there, as `make dev` does) and the `SMARTCITY_*` settings of a private embedded stack.
Chromium is Debian's (`/usr/bin/chromium`), driven by Playwright: no browser download.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from smartcity.settings import Settings
from smartcity_commands.stack import free_port

ROOT = Path(__file__).parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCATION = "smartcity"  # workspace.yaml's location_name


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can), naming what to install."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found: install Debian's chromium (`apt-get install -y chromium`, as .ci/run does)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the Python package `playwright` is missing: `pip install -e '.[test]'`"
    return None


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@dataclass
class DagsterDev:
    """A running `dagster dev`; `url` is the webserver's address."""

    process: subprocess.Popen
    url: str
    home: Path
    log: Path

    def graphql(self, query: str, **variables) -> dict:
        request = urllib.request.Request(f"{self.url}/graphql", method="POST",
                                         data=json.dumps({"query": query, "variables": variables}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def wait_for(self, what: str, probe, timeout_s: float = 300, every_s: float = 1.0):
        """Poll `probe()` until it returns something truthy; fail with the server's log if it never does."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"dagster dev exited ({self.process.returncode}) while waiting for {what}:\n"
                                     f"{self.log_tail()}")
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting {timeout_s:.0f} s for {what}; dagster dev log:\n"
                                     f"{self.log_tail()}")
            time.sleep(every_s)

    def location_loaded(self) -> bool:
        data = self.graphql("""{ workspaceOrError { ... on Workspace { locationEntries {
            name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
        for entry in data["workspaceOrError"]["locationEntries"]:
            if entry["name"] == LOCATION:
                error = (entry["locationOrLoadError"] or {}).get("message")
                if error:
                    raise AssertionError(f"code location {LOCATION!r} failed to load: {error}")
                return entry["loadStatus"] == "LOADED"
        return False

    def stop(self) -> None:
        """Stop the whole process group (webserver, daemon, code server, run workers and their Spark)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of the group (a run worker's JVM that outlived its parent)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def start_dagster_dev(settings: Settings, home: Path) -> DagsterDev:
    """`dagster dev -w workspace.yaml` on a free port against `settings`' embedded stack; waits until the
    webserver answers and the code location is loaded."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCITY_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), SMARTCITY_HOME=str(settings.home_dir),
               SMARTCITY_BROKER_PORT=str(settings.broker_port), SMARTCITY_POSTGRES_PORT=str(settings.postgres_port),
               SMARTCITY_SPARK_CONNECT_PORT=str(settings.spark_connect_port),
               SMARTCITY_SPARK_REMOTE=settings.spark_remote or "",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    log = home / "dagster-dev.log"
    with open(log, "ab") as out:  # the child keeps its own descriptor
        process = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
                                    "-p", str(port)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    dev = DagsterDev(process, f"http://127.0.0.1:{port}", home, log)
    try:
        dev.wait_for("the webserver's /server_info", lambda: _answers(f"{dev.url}/server_info"), timeout_s=180)
        dev.wait_for(f"code location {LOCATION!r} to load", dev.location_loaded, timeout_s=180)
    except BaseException:
        dev.stop()
        raise
    return dev


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
