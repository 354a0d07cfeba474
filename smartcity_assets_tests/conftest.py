"""Shared fixtures: real embedded services on free ports, in a temporary state folder."""

from __future__ import annotations

import os

import pytest

# Dummy credentials for moto's S3 (set before Spark starts, so executors' Python workers inherit them).
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from smartcity import stack
from smartcity.settings import Settings, load_settings
from smartcity.stack import free_port


def embedded_settings(home, **overrides) -> Settings:
    """Settings for an embedded stack of our own: free ports, private state folder, nothing external."""
    values = dict(home=home, broker_port=free_port(), postgres_port=free_port(),
                  kafka_bootstrap_servers=None, warehouse_url=None, lake_uri=None)
    return load_settings(**{**values, **overrides})


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory):
    """The embedded broker and PostgreSQL, started once for the session and stopped at the end."""
    settings = embedded_settings(tmp_path_factory.mktemp("stack"))
    stack.up(settings)
    yield settings
    stack.down(settings)


@pytest.fixture
def broker_only(tmp_path):
    """A fresh embedded broker of its own (empty topics), with a private state folder and lake."""
    settings = embedded_settings(tmp_path)
    broker = stack.Broker()
    state = broker.start(settings)
    yield settings
    broker.stop(settings, state)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local Spark session for the test run (starting one costs several seconds)."""
    from streaming.spark import spark_session

    session = spark_session(embedded_settings(tmp_path_factory.mktemp("spark"), spark_master="local[2]"),
                            "smartcity-tests")
    yield session
    session.stop()
