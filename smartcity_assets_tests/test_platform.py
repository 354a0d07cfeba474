"""`smartcity up`: the live platform — stream, simulator, Dagster webserver + daemon on the embedded stack —
lands events, the sensor's runs bring them into the marts, Ctrl-C stops everything it started, and
`smartcity freshness` reports the latency an independent computation over the same lake and runs finds."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime
from pathlib import Path

import dagster as dg
import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest

from smartcity_commands import stack
from smartcity_commands.stack import free_port

from .helpers import command_env, embedded_settings, smartcity, wait_until

pytestmark = [pytest.mark.spark, pytest.mark.services]  # Spark and the stack in processes of their own

MART = dg.AssetKey(["marts", "traffic_congestion"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead too
        return f.read().split()[2] != "Z"


def _home_of(process: psutil.Process) -> str | None:
    try:
        return process.environ().get("SMARTCITY_HOME")
    except psutil.Error:
        return None


def _answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=5).status == 200
    except OSError:
        return False


def _materializations(home: Path) -> int:
    if not (home / "dagster.yaml").exists():
        return 0
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return len(instance.fetch_materializations(MART, limit=10).records)


def expected_freshness(lake_root: Path, dagster_home: Path) -> dict:
    """For every landed event: produced (Kafka timestamp) -> the end of the first mart run of its hour that
    started after its micro-batch was committed; read straight from the manifests, the raw files and the
    Dagster instance's run records."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.fetch_materializations(MART, limit=10_000).records
        done: dict[str, list[tuple[float, float]]] = {}
        for r in records:
            run = instance.get_run_record_by_id(r.run_id)
            done.setdefault(r.partition_key, []).append((run.start_time, r.timestamp))
    latencies, waiting = [], 0
    for path in sorted((lake_root / "_manifests" / "raw").glob("*/*.json")):
        manifest = json.loads(path.read_text())
        committed = datetime.fromisoformat(manifest["committed_at"]).timestamp()
        for f in manifest["files"]:
            if f["zone"] != "raw":
                continue
            produced = pq.read_table(lake_root / f["path"], columns=["kafka_timestamp"]).column(0)
            produced = produced.drop_null().cast("int64").to_numpy() / 1e6
            ends = [end for start, end in done.get(f"{f['date']}-{f['hour']:02d}:00", []) if start >= committed]
            if ends:
                latencies.append(min(ends) - produced)
            else:
                waiting += len(produced)
    values = np.concatenate(latencies)
    return {"p50": np.percentile(values, 50), "p95": np.percentile(values, 95), "max": values.max(),
            "events": len(values), "waiting": waiting, "runs": sum(len(v) for v in done.values())}


def test_up_brings_events_into_the_marts_and_ctrl_c_stops_everything(tmp_path):
    settings = embedded_settings(tmp_path / "home")
    ui_port, dashboard_port = free_port(), free_port()
    env = command_env(settings)
    log = tmp_path / "up.log"
    dagster_home = settings.home_dir / "dagster"
    with log.open("wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "smartcity_commands.cli", "up", "--ui-port", str(ui_port),
                               "--dashboard-port", str(dashboard_port), "--vehicles", "300", "--status-every", "20"],
                              stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_until("the Dagster UI, the live dashboard and a mart materialization",
                   lambda: _answers(f"http://127.0.0.1:{ui_port}/server_info")
                   and _answers(f"http://127.0.0.1:{dashboard_port}/_stcore/health")
                   and _materializations(dagster_home),
                   timeout_s=600, every_s=10, alive=lambda: up.poll() is None, details=lambda: log.read_text()[-3000:])
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)  # what Ctrl-C does
            up.wait(timeout=180)
    output = log.read_text()
    assert up.returncode == 0, output[-3000:]
    pids = [int(p) for p in re.findall(r"started \(pid (\d+)\)", output)]
    assert len(pids) == 4, output  # stream, simulator, dagster, dashboard (the stack reports "started at ...")
    assert not [p for p in pids if _alive(p)]
    assert "stream: stopped" in output and "dagster: stopped" in output and "dashboard: stopped" in output
    assert f"Dagster UI: http://127.0.0.1:{ui_port}" in output
    assert f"Live dashboard: http://127.0.0.1:{dashboard_port}" in output
    assert "spark-connect: started at" in output  # the runs' warm Spark
    assert stack.running_services(settings) == set()
    # nothing of the platform outlives it: no JVM, Python worker or run process still carries its home
    home = str(settings.home_dir)
    assert not [p.info for p in psutil.process_iter(["pid", "name", "cmdline"]) if _home_of(p) == home]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:  # no run left "started"
        assert not instance.get_run_records(dg.RunsFilter(statuses=[
            dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]))

    # freshness over what the platform did, as the command reports it and as computed here
    fresh = smartcity("freshness", env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert "measuring the micro-batches of the last `smartcity up`" in fresh.stdout
    found = re.search(r"p50 ([\d.]+) s, p95 ([\d.]+) s, max ([\d.]+) s over ([\d,]+) events and (\d+) runs "
                      r"\(([\d,]+) still waiting\)", fresh.stdout)
    assert found, fresh.stdout
    want = expected_freshness(settings.home_dir / "lake", dagster_home)
    p50, p95, top = (float(found.group(i)) for i in (1, 2, 3))
    assert abs(p50 - want["p50"]) <= 0.051 and abs(p95 - want["p95"]) <= 0.051 and abs(top - want["max"]) <= 0.051
    assert int(found.group(4).replace(",", "")) == want["events"] > 0
    assert int(found.group(5)) == want["runs"] and int(found.group(6).replace(",", "")) == want["waiting"]
