"""The command line: bad input and unreachable services give a clear message and a non-zero exit."""

from __future__ import annotations

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
