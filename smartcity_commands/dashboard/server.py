"""Running the dashboard: `streamlit run` of `app.py` on 127.0.0.1, headless, without usage statistics or a
browser opening, against the warehouse the settings name (the Streamlit process reads the same settings).

`smartcity dashboard` (`serve`) checks the port and the warehouse first, starts it, waits until it answers and
prints its address; `smartcity up` starts the same command beside the Dagster UI (`command`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from smartcity_commands import stack
from smartcity.errors import ConfigError, SmartcityError
from smartcity.settings import Settings
from smartcity.warehouse import kind_of, open_warehouse
from smartcity.warehouse.base import describe

APP = Path(__file__).with_name("app.py")
START_TIMEOUT_S = 120


def command(port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false", "--client.toolbarMode", "viewer"]


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def check_port(port: int, option: str) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"{option} {port} is not a TCP port (1-65535)")
    stack.check_port_free(port, "live dashboard", option)


def check_warehouse(settings: Settings) -> str:
    """Connect once, so that an unreachable warehouse is an error now rather than a page of errors later;
    returns host:port/database."""
    warehouse = open_warehouse(kind_of(settings.env), settings.warehouse_dsn, settings.redshift_iam_role)
    warehouse.connect().close()
    return describe(settings.warehouse_dsn)


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"{url(port)}/_stcore/health", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def serve(settings: Settings, port: int) -> int:
    """`smartcity dashboard`: run the dashboard in the foreground until Ctrl-C."""
    check_port(port, "--port")
    where = check_warehouse(settings)
    log = settings.home_dir / "logs" / "dashboard.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:  # same process group: Ctrl-C reaches Streamlit too, which stops by itself
        process = subprocess.Popen(command(port), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(port):
            if process.poll() is not None:
                raise SmartcityError(f"the dashboard exited at start (exit code {process.returncode}); see {log}")
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise SmartcityError(f"the dashboard did not answer within {START_TIMEOUT_S} s; see {log}")
            time.sleep(0.5)
        print(f"Live dashboard: {url(port)}  (reading the warehouse at {where}; log {log})", flush=True)
        print("Ctrl-C stops it.", flush=True)
        code = process.wait()
    except KeyboardInterrupt:
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
    if code not in (0, -signal.SIGINT, -signal.SIGTERM):  # Ctrl-C reaches Streamlit first at times
        raise SmartcityError(f"the dashboard stopped with exit code {code}; see {log}")
    print("dashboard stopped")
    return 0
