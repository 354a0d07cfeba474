"""Shared fixtures: real embedded services on free ports, in temporary state folders. Tests never share data:
each gets its own broker (`broker_only`), its own database on the session's PostgreSQL (`warehouse`) and its
own lake folder; what is shared (`live_stack`, `spark`) only saves start-up time."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr

# Dummy credentials for moto's S3 (set before Spark starts, so executors' Python workers inherit them).
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from smartcity_assets_tests.athena_protocol import athena_json_protocol  # noqa: E402

athena_json_protocol()  # Athena on moto (see its module), before any test creates a client

from smartcity_commands import stack  # noqa: E402
from smartcity_assets_tests.helpers import embedded_settings, running_broker, temporary_database  # noqa: E402


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory):
    """The embedded broker and PostgreSQL, started once for the session and stopped at the end. Tests use it
    through `warehouse` (a database of their own) or with topics of their own."""
    settings = embedded_settings(tmp_path_factory.mktemp("stack"))
    stack.up(settings)
    yield settings
    stack.down(settings)


@pytest.fixture
def warehouse(live_stack) -> str:
    """The URL of a new, empty database on the session's PostgreSQL, dropped afterwards."""
    with temporary_database(live_stack.warehouse_dsn) as dsn:
        yield dsn


@pytest.fixture
def lakehouse(tmp_path, warehouse):
    """Settings for a lake of this test's own whose Iceberg catalog (and warehouse) is a database of its own on
    the session's PostgreSQL; no broker."""
    return embedded_settings(tmp_path, warehouse_url=SecretStr(warehouse))


@pytest.fixture
def broker_only(tmp_path):
    """A fresh embedded broker of its own (empty topics), with a private state folder and lake; no warehouse,
    so the stream runs without the live layer."""
    with running_broker(embedded_settings(tmp_path)) as settings:
        yield settings


@pytest.fixture
def pipeline(broker_only, warehouse):
    """A broker, a lake and a warehouse database of this test's own; the stream keeps its live tables."""
    return broker_only.model_copy(update={"warehouse_url": SecretStr(warehouse), "live_layer": True})


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local Spark session for the test run (starting one costs several seconds)."""
    from smartcity.spark.session import spark_session
    from streaming.spark import register

    session = spark_session(embedded_settings(tmp_path_factory.mktemp("spark"), spark_master="local[2]"),
                            "smartcity-tests")
    register(session)
    yield session
    session.stop()


# -- markers for a fast inner loop: `pytest -m "not spark and not services and not browser"` -----------------------

MARKERS = {"spark": "runs Spark (the session's, or a Spark process of its own)",
           "services": "needs the embedded broker or PostgreSQL",
           "browser": "drives Chromium"}
_BY_FIXTURE = {"spark": "spark", "live_stack": "services", "broker_only": "services", "browser": "browser"}


def pytest_configure(config):
    for name, what in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")


def pytest_collection_modifyitems(items):
    """A test is marked by the fixtures it uses (directly or through others); the modules that start Spark or
    the stack in a process of their own mark themselves (`pytestmark`)."""
    for item in items:
        for fixture, marker in _BY_FIXTURE.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)
