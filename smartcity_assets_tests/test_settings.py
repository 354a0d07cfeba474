"""Settings: documented, validated, secrets kept secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smartcity.errors import ConfigError
from smartcity.settings import Settings, load_settings


def test_env_example_documents_every_setting():
    text = (Path(__file__).parents[1] / ".env.example").read_text()
    documented = {n.lower() for n in re.findall(r"SMARTCITY_([A-Z0-9_]+)=", text)}
    assert documented == set(Settings.model_fields)


def test_invalid_values_name_the_variable_and_hide_secrets():
    with pytest.raises(ConfigError, match="SMARTCITY_BROKER_PORT"):
        load_settings(broker_port=80)
    with pytest.raises(ConfigError, match="SMARTCITY_KAFKA_BOOTSTRAP_SERVERS.*host:port"):
        load_settings(kafka_bootstrap_servers="no-port-here")
    with pytest.raises(ConfigError, match="SMARTCITY_STREAM_ID"):
        load_settings(stream_id="not hex")
    settings = load_settings(kafka_sasl_password="s3cret", warehouse_url="postgresql://u:pw@h/db")
    assert "s3cret" not in repr(settings) and "pw@" not in repr(settings)
    assert settings.kafka_config()["sasl.password"] == "s3cret"
