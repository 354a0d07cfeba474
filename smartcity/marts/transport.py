"""Public transport: per bus route and hour, how fast buses run, how full they are, and how regular the
service is at the stops (headways), from the buses' telemetry and their map-matched GPS fixes."""

from smartcity.contracts import column
from smartcity.marts.spec import Mart, MartInput

GAP_FACTOR = 2.0  # a headway longer than twice the route's mean headway in the hour is a service gap

PUBLIC_TRANSPORT = Mart(
    "public_transport",
    "Bus service per route and hour: buses in service, commercial speed, passengers, and the regularity of "
    "the service at the stops: headways (time between consecutive buses arriving at a stop), their "
    "coefficient of variation (0 = perfectly regular; bunching raises it) and service gaps.",
    (
        column("event_date", "date", "UTC date of the hour"),
        column("event_hour", "int", "UTC hour, 0-23"),
        column("route_id", "string", "Bus route"),
        column("buses", "bigint", "Distinct buses that served the route in the hour"),
        column("reports", "bigint", "Telemetry reports of those buses"),
        column("mean_speed_kmh", "double", "Mean reported speed, stops included (commercial speed), km/h"),
        column("mean_passengers", "double", "Mean passengers on board"),
        column("max_passengers", "int", "Most passengers on board a bus"),
        column("stop_arrivals", "bigint",
                   "Arrivals at stops (a bus's GPS fix moving onto the route's next segment)"),
        column("headways", "bigint", "Headways measured (consecutive arrivals at the same stop in the hour)"),
        column("mean_headway_min", "double", "Mean headway, minutes"),
        column("headway_cv", "double", "Standard deviation / mean of the headways (regularity)"),
        column("max_headway_min", "double", "Longest headway, minutes"),
        column("service_gaps", "bigint", f"Headways longer than {GAP_FACTOR:g} x the mean headway"),
    ),
    inputs=(MartInput("vehicle"), MartInput("gps_matched")), summary_column="route_id",
)
