"""The dashboard's Streamlit script (`streamlit run smartcity_commands/dashboard/app.py`; `smartcity dashboard` does it
with the right options): two pages over the warehouse the settings name."""

import streamlit as st

from smartcity_commands.dashboard import hourly, live

st.set_page_config(page_title="Smart city operations", layout="wide")
st.navigation([st.Page(live.page, title="Live", url_path="live", default=True),
               st.Page(hourly.page, title="Hourly marts", url_path="hourly")]).run()
