"""The marts' hours computed with Spark: one function per mart, `frame(spark, hour, inputs)`, where `inputs`
maps each input table of the mart's spec to its DataFrame for the hour (None when the hour has no data)."""

from smartcity.spark.marts.environment import environment, weather_impact
from smartcity.spark.marts.incidents import incident_response
from smartcity.spark.marts.traffic import traffic_congestion
from smartcity.spark.marts.transport import public_transport

FRAMES = {"traffic_congestion": traffic_congestion, "environment": environment, "weather_impact": weather_impact,
          "incident_response": incident_response, "public_transport": public_transport}
