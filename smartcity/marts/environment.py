"""Environment marts: weather and air quality per zone and hour, and the weather's impact on traffic."""

from smartcity.contracts import column
from smartcity.marts.spec import Mart, MartInput

AQI_ALERT = 100  # US EPA: above 100 the air is unhealthy for sensitive groups

ENVIRONMENT = Mart(
    "environment",
    "Weather and air quality per city zone and hour, from the zone's station: means and extremes, and "
    f"how many minutes the air-quality index was above the alert threshold ({AQI_ALERT}).",
    (
        column("event_date", "date", "UTC date of the hour"),
        column("event_hour", "int", "UTC hour, 0-23"),
        column("zone_id", "string", "City zone"),
        column("zone_name", "string", "Name of the zone"),
        column("readings", "bigint", "Station readings in the hour (one a minute when all arrive)"),
        column("mean_temperature_c", "double", "Mean air temperature of the readings", unit="°C"),
        column("mean_humidity_pct", "double", "Mean relative humidity of the readings", unit="%"),
        column("precipitation_mm", "double", "Precipitation in the hour: the mean rate of the readings x 1 h", unit="mm"),
        column("max_wind_speed_ms", "double", "Highest mean wind speed of a reading", unit="m/s"),
        column("mean_aqi", "double", "Mean US EPA air-quality index of the readings (0-500; PM2.5-based at the station)"),
        column("max_aqi", "int", "Highest air-quality index"),
        column("minutes_over_aqi_alert", "bigint", f"Readings (one a minute) with AQI above {AQI_ALERT}: unhealthy "
               "for sensitive groups (US EPA)", unit="min"),
        column("dominant_condition", "string", "Most frequent weather condition (ties: alphabetical)"),
    ),
    inputs=(MartInput("weather"),), summary_column="dominant_condition",
)


WEATHER_IMPACT = Mart(
    "weather_impact",
    "Traffic and incidents by weather condition, per zone and hour: how fast traffic flows (relative to the "
    "speed limit) and how many incidents are reported while it is clear, raining, foggy, snowing.",
    (
        column("event_date", "date", "UTC date of the hour"),
        column("event_hour", "int", "UTC hour, 0-23"),
        column("zone_id", "string", "City zone"),
        column("condition", "string", "Weather condition reported by the zone's station for the minute"),
        column("minutes", "bigint", "Minutes of the hour with this condition in the zone"),
        column("gps_fixes", "bigint", "GPS fixes on roads of the zone during those minutes"),
        column("mean_speed_kmh", "double", "Mean GPS speed, km/h"),
        column("mean_speed_ratio", "double", "Mean of speed / speed limit of the road driven on"),
        column("incidents_reported", "bigint", "Incidents reported in the zone during those minutes"),
        column("collisions_reported", "bigint", "Of which collisions"),
    ),
    inputs=(MartInput("weather"), MartInput("gps_matched"), MartInput("emergency")), summary_column="condition",
)
