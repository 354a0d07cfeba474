"""The commands layer: what users run (`smartcity` CLI, the demo, the live platform `smartcity up`, the embedded
stack and the local Spark cluster, the freshness measurement, the live dashboard). It sits above the Dagster code
location (`smartcity_assets`), which sits above the library (`smartcity`, `streaming`); nothing below imports it."""
