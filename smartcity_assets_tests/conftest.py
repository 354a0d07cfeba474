"""Shared fixtures: real embedded services on free ports, in a temporary state folder."""

from __future__ import annotations

import socket

import pytest

from smartcity import stack
from smartcity.settings import Settings, load_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
