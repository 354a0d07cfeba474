"""Where the pages read from: the warehouse the settings name, read in one read-only transaction per refresh
(`queries.reading`). A warehouse that cannot be read is a plain message on the page, never a traceback."""

from __future__ import annotations

from contextlib import contextmanager

import psycopg2
import streamlit as st

from smartcity.settings import load_settings
from smartcity.warehouse import kind_of, open_warehouse
from smartcity.warehouse.base import Warehouse, WarehouseUnavailable


@st.cache_resource
def warehouse() -> Warehouse:
    settings = load_settings()
    return open_warehouse(kind_of(settings.env), settings.warehouse_dsn, settings.redshift_iam_role)


@contextmanager
def shown_errors():
    """Around a refresh: an unreachable warehouse or a refused query ends it with a message in plain words."""
    try:
        yield
    except WarehouseUnavailable as exc:
        st.error(f"Cannot read the warehouse: {exc}")
    except psycopg2.Error as exc:
        st.error(f"The warehouse refused a query: {' '.join(str(exc).split())}")
