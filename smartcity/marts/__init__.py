"""The marts: tables for BI tools, one row per entity and hour, specified once (see `spec`)."""

from smartcity.marts.environment import AQI_ALERT, ENVIRONMENT, WEATHER_IMPACT
from smartcity.marts.incidents import INCIDENT_RESPONSE
from smartcity.marts.spec import BI_SCHEMA, SCHEMA, BiView, Mart, MartInput
from smartcity.marts.traffic import CONGESTED, CONGESTION_LEVELS, TRAFFIC_CONGESTION
from smartcity.marts.transport import GAP_FACTOR, PUBLIC_TRANSPORT

MARTS: tuple[Mart, ...] = (TRAFFIC_CONGESTION, ENVIRONMENT, WEATHER_IMPACT, INCIDENT_RESPONSE, PUBLIC_TRANSPORT)
BY_NAME: dict[str, Mart] = {m.name: m for m in MARTS}

__all__ = ["AQI_ALERT", "BI_SCHEMA", "BY_NAME", "CONGESTED", "CONGESTION_LEVELS", "ENVIRONMENT", "GAP_FACTOR",
           "INCIDENT_RESPONSE", "MARTS", "PUBLIC_TRANSPORT", "SCHEMA", "TRAFFIC_CONGESTION", "WEATHER_IMPACT", "BiView", "Mart", "MartInput"]
