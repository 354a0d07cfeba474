"""Event contracts: what each kind of city telemetry is (`events`), the column model every layer shares
(`model`), the Kafka envelope kept on every landed row (`envelope`) and how messages are validated
(`validation`). Import from here: `from smartcity import contracts; contracts.GPS`."""

from smartcity.contracts.contract import EventContract
from smartcity.contracts.envelope import KAFKA_COLUMNS, KAFKA_FIELDS
from smartcity.contracts.events import (
    BY_NAME,
    BY_TOPIC,
    CONTRACTS,
    EMERGENCY,
    FUEL_TYPES,
    GPS,
    INCIDENT_STATUSES,
    INCIDENT_TYPES,
    TRAFFIC_CAMERA,
    VEHICLE,
    VEHICLE_TYPES,
    WEATHER,
    WEATHER_CONDITIONS,
)
from smartcity.contracts.model import ARROW_TYPES, Field, FieldType, column

__all__ = ["ARROW_TYPES", "BY_NAME", "BY_TOPIC", "CONTRACTS", "EMERGENCY", "FUEL_TYPES", "GPS", "INCIDENT_STATUSES",
           "INCIDENT_TYPES", "KAFKA_COLUMNS", "KAFKA_FIELDS", "TRAFFIC_CAMERA", "VEHICLE", "VEHICLE_TYPES", "WEATHER",
           "WEATHER_CONDITIONS", "EventContract", "Field", "FieldType", "column"]
