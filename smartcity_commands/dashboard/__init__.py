"""The live operations dashboard (Streamlit): the warehouse's `live` tables refreshed every few seconds, and the
city report's charts over the `bi` views of the hourly marts. `smartcity dashboard` starts it alone, `smartcity
up` beside the Dagster UI (`server`); `app` is the Streamlit script, `live` and `hourly` its pages, `queries` the
read-only SQL and `charts` the Altair charts."""

DEFAULT_PORT = 8501  # Streamlit's own default
