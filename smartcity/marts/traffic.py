"""Traffic marts: congestion per road segment and hour, and congestion episodes across hours."""

from smartcity.contracts import column
from smartcity.contracts.event_time import FIRST_DATE
from smartcity.marts.spec import BiView, Mart, MartInput

# Ratio of mean speed to the speed limit -> congestion level (thresholds as in common practice for
# urban travel-time indices).
CONGESTION_LEVELS = ((0.8, "free"), (0.6, "moderate"), (0.4, "heavy"), (0.0, "severe"))
CONGESTED = ("heavy", "severe")  # the levels counted as congestion (episodes, headlines, maps)

# Consecutive hours of heavy or severe congestion on a segment form one episode (gaps-and-islands over
# an hour index; plain SQL that PostgreSQL and Redshift both run). A view, so late data re-materializing
# one hour changes the episodes it belongs to at once.
_CONGESTED = ", ".join(f"'{level}'" for level in CONGESTED)
_HOUR_INDEX = f"(event_date - DATE '{FIRST_DATE}') * 24 + event_hour"
CONGESTION_EPISODES = BiView(
    "congestion_episodes",
    "Congestion episodes: runs of consecutive hours in which a road segment was heavily or severely congested "
    "(speed below 60 % of the limit), with their start, end, length and worst level.",
    (
        column("segment_id", "string", "Directed road segment"),
        column("zone_id", "string", "City zone of the segment"),
        column("start_date", "date", "UTC date of the episode's first hour"),
        column("start_hour", "int", "UTC hour of the episode's first hour, 0-23"),
        column("end_date", "date", "UTC date of the episode's last hour"),
        column("end_hour", "int", "UTC hour of the episode's last hour, 0-23"),
        column("hours", "bigint", "Length of the episode in hours"),
        column("worst_level", "string", "severe if any hour was severe, else heavy"),
        column("min_speed_ratio", "double", "Lowest hourly mean speed / speed limit in the episode"),
        column("mean_speed_ratio", "double", "Mean of the hourly speed ratios in the episode"),
    ),
    f"""SELECT segment_id, MIN(zone_id) AS zone_id,
  MIN(event_date) AS start_date, CAST(MIN(hour_index) - (MIN(event_date) - DATE '{FIRST_DATE}') * 24 AS INTEGER) AS start_hour,
  MAX(event_date) AS end_date, CAST(MAX(hour_index) - (MAX(event_date) - DATE '{FIRST_DATE}') * 24 AS INTEGER) AS end_hour,
  COUNT(*) AS hours, MAX(congestion_level) AS worst_level,
  MIN(speed_ratio) AS min_speed_ratio, ROUND(CAST(AVG(speed_ratio) AS NUMERIC), 3)::DOUBLE PRECISION AS mean_speed_ratio
FROM (SELECT *, hour_index - ROW_NUMBER() OVER (PARTITION BY segment_id ORDER BY hour_index) AS island
      FROM (SELECT segment_id, zone_id, event_date, congestion_level, speed_ratio, {_HOUR_INDEX} AS hour_index
            FROM marts.traffic_congestion WHERE congestion_level IN ({_CONGESTED})) AS congested) AS runs
GROUP BY segment_id, island""",
)

TRAFFIC_CONGESTION = Mart(
    "traffic_congestion",
    "Traffic per road segment and hour: GPS-observed vehicles and speeds (mean, 85th percentile), their ratio "
    "to the speed limit and a congestion level, with the camera count where the segment has a camera.",
    (
        column("event_date", "date", "UTC date of the hour"),
        column("event_hour", "int", "UTC hour, 0-23"),
        column("segment_id", "string", "Directed road segment"),
        column("zone_id", "string", "City zone of the segment"),
        column("road_class", "string", "ring | arterial | residential"),
        column("speed_limit_kmh", "double", "Speed limit, standing for the free-flow speed (road network)", unit="km/h"),
        column("gps_fixes", "bigint", "GPS fixes matched to the segment in the hour (map matching)"),
        column("vehicles", "bigint", "Distinct vehicles seen on the segment in the hour (GPS)"),
        column("mean_speed_kmh", "double", "Mean GPS speed of the fixes on the segment (spot speeds)", unit="km/h"),
        column("p85_speed_kmh", "double", "85th percentile of the GPS speeds (linear interpolation), the traffic "
                                          "engineer's operating speed", unit="km/h"),
        column("speed_ratio", "double", "mean_speed_kmh / speed_limit_kmh"),
        column("congestion_level", "string",
                   "free (ratio >= 0.8), moderate (>= 0.6), heavy (>= 0.4), severe (< 0.4)"),
        column("travel_time_index", "double",
               "Travel time index (congestion index): travel time / free-flow travel time = speed_limit_kmh / "
               "mean_speed_kmh, the limit standing for the free-flow speed (1 = free flow; 1.5 = trips take 50 % "
               "longer); null when the mean speed is 0"),
        column("camera_vehicles", "bigint", "Vehicles counted by the segment's camera(s) in the hour; null without "
                                            "camera"),
    ),
    views=(CONGESTION_EPISODES,),
    inputs=(MartInput("gps_matched"), MartInput("traffic_camera")), summary_column="congestion_level",
)
