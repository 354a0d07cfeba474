"""Marts: tables for BI tools, per hourly partition, in the lake, the catalog and the warehouse."""

from smartcity_assets.marts.build import NEXT_HOUR, WarehouseResource, build_mart
from smartcity_assets.marts.environment import ENVIRONMENT, WEATHER_IMPACT, environment_frame, weather_impact_frame
from smartcity_assets.marts.incidents import INCIDENT_RESPONSE, incident_response_frame
from smartcity_assets.marts.traffic import TRAFFIC_CONGESTION, traffic_congestion_frame
from smartcity_assets.marts.transport import PUBLIC_TRANSPORT, public_transport_frame

MARTS = [
    build_mart(TRAFFIC_CONGESTION, traffic_congestion_frame, ["gps_matched", "traffic_camera"], "congestion_level"),
    build_mart(ENVIRONMENT, environment_frame, ["weather"], "dominant_condition"),
    build_mart(WEATHER_IMPACT, weather_impact_frame, ["weather", "gps_matched", "emergency"], "condition"),
    build_mart(INCIDENT_RESPONSE, incident_response_frame,
               [("emergency", NEXT_HOUR), "weather"], "status"),
    build_mart(PUBLIC_TRANSPORT, public_transport_frame, ["vehicle", "gps_matched"], "route_id"),
]

__all__ = ["MARTS", "TRAFFIC_CONGESTION", "ENVIRONMENT", "WEATHER_IMPACT", "INCIDENT_RESPONSE", "PUBLIC_TRANSPORT",
           "WarehouseResource"]
