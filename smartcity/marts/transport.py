"""Public transport: per bus route and hour, how fast buses run, how full they are, and how regular the
service is at the stops, from the buses' telemetry and their map-matched GPS fixes.

Regularity follows the Transit Capacity and Quality of Service Manual (TCQSM) and the excess-wait measure
of high-frequency bus networks (Transport for London): the headway at a stop is the time since the previous
bus arrived there (looking back into the previous hour, so the first bus of an hour has one too); its
coefficient of variation rates headway adherence; passengers arriving at random wait on average
E[h^2] / (2 E[h]); with no timetable to compare to, the excess wait is measured against evenly spaced buses
of the same frequency: AWT - mean / 2 = mean x cv^2 / 2.
"""

from smartcity.contracts import column
from smartcity.marts.spec import Mart, MartInput

GAP_FACTOR = 2.0  # a headway longer than twice the route's mean headway in the hour is a service gap
BUNCH_FACTOR = 0.5  # a headway shorter than half the route's mean headway in the hour is bunching

PUBLIC_TRANSPORT = Mart(
    "public_transport",
    "Bus service per route and hour: buses in service, commercial speed, passengers, and the regularity of the "
    "service at the stops: headways (time between consecutive buses arriving at a stop), their coefficient of "
    "variation (0 = perfectly regular), the average and the excess passenger wait, bunching and service gaps.",
    (
        column("event_date", "date", "UTC date of the hour"),
        column("event_hour", "int", "UTC hour, 0-23"),
        column("route_id", "string", "Bus route"),
        column("buses", "bigint", "Distinct buses that reported on the route in the hour (vehicle telemetry)"),
        column("reports", "bigint", "Telemetry reports of those buses in the hour"),
        column("mean_speed_kmh", "double", "Commercial speed: mean reported speed, stops included", unit="km/h"),
        column("mean_passengers", "double", "Mean passengers on board over the reports", unit="persons"),
        column("max_passengers", "int", "Most passengers on board a bus", unit="persons"),
        column("stop_arrivals", "bigint",
               "Arrivals at stops in the hour (a bus's matched GPS fix moving from the route's previous segment "
               "onto a stop's segment)"),
        column("headways", "bigint", "Headways measured: arrivals in the hour with an earlier arrival at the same "
                                     "stop (in this hour or the previous one)"),
        column("mean_headway_min", "double", "Mean headway", unit="min"),
        column("headway_cv", "double", "Coefficient of variation of the headways: standard deviation / mean "
                                       "(TCQSM headway adherence; 0 = perfectly regular)"),
        column("max_headway_min", "double", "Longest headway", unit="min"),
        column("mean_wait_min", "double", "Average wait of a passenger arriving at random: sum(h^2) / (2 sum(h))",
               unit="min"),
        column("excess_wait_min", "double",
               "Excess wait against evenly spaced buses of the same frequency: mean_wait - mean_headway / 2",
               unit="min"),
        column("bunched_headways", "bigint", f"Headways shorter than {BUNCH_FACTOR:g} x the mean headway (bunching)"),
        column("service_gaps", "bigint", f"Headways longer than {GAP_FACTOR:g} x the mean headway"),
    ),
    inputs=(MartInput("vehicle", hours=(-1, 0)), MartInput("gps_matched", hours=(-1, 0))),
    summary_column="route_id",
)
