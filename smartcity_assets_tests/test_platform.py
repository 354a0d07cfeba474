"""`smartcity up`: the live platform — stream, simulator, Dagster webserver + daemon on the embedded stack —
lands events, the sensor's runs bring them into the marts, freshness is measured, and Ctrl-C stops
everything it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import dagster as dg

from smartcity import stack
from smartcity.stack import free_port

from .conftest import embedded_settings


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead too
        return f.read().split()[2] != "Z"


def test_up_brings_events_into_the_marts_and_ctrl_c_stops_everything(tmp_path):
    settings = embedded_settings(tmp_path / "home")
    ui_port = free_port()
    env = dict(os.environ, SMARTCITY_HOME=str(settings.home_dir), SMARTCITY_BROKER_PORT=str(settings.broker_port),
               SMARTCITY_POSTGRES_PORT=str(settings.postgres_port), SMARTCITY_SPARK_MASTER="local[2]")
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "smartcity.cli", "up", "--ui-port", str(ui_port),
                               "--vehicles", "300", "--status-every", "20"],
                              stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        mart = dg.AssetKey(["marts", "traffic_congestion"])
        deadline, materialized, ui = time.monotonic() + 600, 0, False
        while time.monotonic() < deadline and not (materialized and ui):
            assert up.poll() is None, log.read_text()
            time.sleep(10)
            if not ui:
                try:
                    ui = urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/server_info", timeout=5).status == 200
                except OSError:
                    pass
            if (settings.home_dir / "dagster" / "dagster.yaml").exists():
                with dg.DagsterInstance.from_config(str(settings.home_dir / "dagster")) as instance:
                    materialized = len(instance.fetch_materializations(mart, limit=10).records)
        assert ui and materialized, f"no mart materialization within 10 minutes:\n{log.read_text()[-3000:]}"
        fresh = subprocess.run([sys.executable, "-m", "smartcity.cli", "freshness"], env=env, capture_output=True,
                               text=True, timeout=120)
        assert fresh.returncode == 0 and re.search(r"p50 [\d.]+ s, p95 [\d.]+ s", fresh.stdout), fresh.stdout
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)  # what Ctrl-C does
            up.wait(timeout=180)
    output = log.read_text()
    assert up.returncode == 0, output[-3000:]
    pids = [int(p) for p in re.findall(r"started \(pid (\d+)\)", output)]
    assert len(pids) == 3, output  # stream, simulator, dagster (the stack reports "started at ...")
    assert not [p for p in pids if _alive(p)]
    assert "stream: stopped" in output and "dagster: stopped" in output
    assert stack.running_services(settings) == set()
