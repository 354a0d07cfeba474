"""The command line: bad input and unreachable services give a clear message and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import orjson
import psutil

from smartcity import contracts
from smartcity.kafka import read_topic
from smartcity_commands.stack import free_port

from .helpers import smartcity


def test_bad_arguments_exit_non_zero_without_traceback(tmp_path):
    env = {"SMARTCITY_HOME": str(tmp_path)}
    cases = [
        (["simulate", "--events", "0"], "--events must be at least 1"),
        (["simulate"], "give --events or --duration"),
        (["simulate", "--events", "10", "--late-share", "1.5"], "not a share between 0 and 1"),
        (["simulate", "--events", "10", "--malformed-kinds", "gibberish"], "unknown kind"),
        (["simulate", "--events", "10", "--start", "2026-11-29T08:00:00"], "has no timezone"),
        (["stack", "sideways"], "invalid choice"),
    ]
    for args, message in cases:
        result = smartcity(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_out_of_range_numbers_and_unknown_options_are_one_line_errors(tmp_path):
    env = {"SMARTCITY_HOME": str(tmp_path)}
    cases = [
        (["up", "--ui-port", "70000"], "--ui-port: 70000 is not a TCP port between 1 and 65535"),
        (["query", "SELECT 1", "--max-rows", "-1"], "--max-rows: -1 is below 0"),
        (["report", "--hours", "0"], "--hours: 0 is below 1"),
        (["report", "--hours", "999999999"], "the report covers 1 to 8,784 hours"),
        (["query", ""], "no SQL"),
        (["--bogus"], "unknown option --bogus"),
        (["-v", "--bogus", "query", "SELECT 1"], "unknown option --bogus"),
    ]
    for args, message in cases:
        result = smartcity(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)


def test_up_stops_what_it_started_when_the_broker_does_not_answer(tmp_path):
    port = free_port()  # an external broker that is down
    env = {"SMARTCITY_HOME": str(tmp_path), "SMARTCITY_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
           "SMARTCITY_POSTGRES_PORT": str(free_port()), "SMARTCITY_SPARK_CONNECT_PORT": str(free_port())}
    result = smartcity("up", "--ui-port", str(free_port()), "--dashboard-port", str(free_port()), env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    assert f"cannot reach the Kafka broker at 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "postgres: started" in result.stdout  # it got as far as starting the stack ...
    status = smartcity("stack", "status", env=env)
    assert status.returncode == 0 and "running" not in status.stdout.replace("not running", ""), status.stdout
    leftovers = [p for p in psutil.process_iter(["environ"]) if (p.info["environ"] or {}).get("SMARTCITY_HOME")
                 == str(tmp_path)]
    assert not leftovers, [p.cmdline() for p in leftovers]  # ... and stopped all of it


def test_bad_setting_names_the_variable(tmp_path):
    result = smartcity("stack", "status", env={"SMARTCITY_HOME": str(tmp_path), "SMARTCITY_BROKER_PORT": "http"})
    assert result.returncode == 2
    assert "SMARTCITY_BROKER_PORT" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_broker_is_a_clear_error(tmp_path):
    port = free_port()  # nothing listens here
    result = smartcity("simulate", "--events", "10", "--no-progress",
                       env={"SMARTCITY_HOME": str(tmp_path), "SMARTCITY_BROKER_PORT": str(port)})
    assert result.returncode == 2
    assert f"cannot reach the Kafka broker at 127.0.0.1:{port}" in result.stderr
    assert "smartcity stack up" in result.stderr and "Traceback" not in result.stderr


def test_simulate_command_reports_per_topic(broker_only):
    env = {"SMARTCITY_HOME": str(broker_only.home_dir), "SMARTCITY_BROKER_PORT": str(broker_only.broker_port)}
    result = smartcity("simulate", "--events", "3000", "--speed", "0", "--malformed-share", "0.1",
                       "--no-progress", env=env)
    assert result.returncode == 0, result.stderr
    total = next(l for l in result.stdout.splitlines() if l.startswith("total"))
    assert total.split()[1:3] == ["3,000", "0"] and total.split()[4] == "300"
    assert all(c in result.stdout for c in ("smartcity.gps", "smartcity.emergency", "malformed by kind"))


def test_two_simulators_started_together_send_events_of_their_own(broker_only):
    """Two `smartcity simulate` runs with the default seed and no --start, at the same moment (what a restart of
    `smartcity up`, or a second simulator for more load, does): Kafka holds 2 x 1,500 different event ids, so
    the transformed tables, which keep one event per id, drop none of them. Unpaced (--speed 0), neither run
    stamps an event after the moment the broker received it (the platform quarantines events ahead of it)."""
    env = {"SMARTCITY_HOME": str(broker_only.home_dir), "SMARTCITY_BROKER_PORT": str(broker_only.broker_port)}
    command = [sys.executable, "-m", "smartcity_commands.cli", "simulate", "--events", "1500", "--speed", "0",
               "--no-progress"]
    runs = [subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(2)]
    for run in runs:
        assert run.wait(120) == 0, run.stderr.read()
    messages = [(orjson.loads(m.value()), m.timestamp()[1]) for c in contracts.CONTRACTS
                for m in read_topic(broker_only, c.topic, idle_timeout_s=1.0)]
    ids = [event["event_id"] for event, _ in messages]
    assert len(ids) == 3000
    assert len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} event ids sent twice"
    ahead = [(event["event_time"], produced_ms) for event, produced_ms in messages
             if datetime.fromisoformat(event["event_time"]).timestamp() * 1000 > produced_ms]
    assert not ahead, f"{len(ahead)} events stamped after they were produced, e.g. {ahead[:2]}"


def test_a_start_ahead_of_the_wall_clock_is_kept_with_a_warning(broker_only):
    """--start an hour from now: honoured (the report shows it), and the run says its events will be
    quarantined instead of sending them silently."""
    env = {"SMARTCITY_HOME": str(broker_only.home_dir), "SMARTCITY_BROKER_PORT": str(broker_only.broker_port)}
    start = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0)
    result = smartcity("simulate", "--events", "200", "--speed", "0", "--no-progress", "--start",
                       start.isoformat(), env=env)
    assert result.returncode == 0, result.stderr
    assert f"simulated {start:%Y-%m-%d %H:%M:%S}" in result.stdout
    assert "ahead of the wall clock" in result.stderr and "out_of_window:event_time" in result.stderr
