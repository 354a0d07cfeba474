"""Amazon Redshift warehouse: the partition's Parquet file (already in the S3 lake) reaches the staging table
by COPY ... FORMAT AS PARQUET IAM_ROLE; connections are always encrypted. No indexes: a mart table is created
with a compound SORTKEY on its partition columns, so replacing an hour (DELETE ... WHERE event_date AND
event_hour) and reading a range of hours touch only that hour's blocks (zone maps); DISTSTYLE AUTO rather than a
DISTKEY on the partition columns, which would put every row of an hour — what a load writes and most queries
read — on one slice. Credentials come from SMARTCITY_WAREHOUSE_URL (dg.EnvVar)."""

from __future__ import annotations

import re

import psycopg2
from psycopg2.extensions import parse_dsn

from smartcity.errors import ConfigError
from smartcity.marts.spec import Mart
from smartcity.warehouse import sql
from smartcity.warehouse.base import PartitionData, Warehouse

SSL_MODES = ("require", "verify-ca", "verify-full")
_S3_OBJECT = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.()=/-]+")  # quoted into COPY too
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")  # it is quoted into COPY


def table_attributes(mart: Mart) -> str:
    """Redshift's distribution and sort of a mart table (appended to its CREATE TABLE)."""
    return f"DISTSTYLE AUTO COMPOUND SORTKEY ({', '.join(sql.identifier(c) for c in mart.partition_columns)})"


def create_sql(mart: Mart, existing_columns: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The shared SQL of the mart (`smartcity.warehouse.sql.create_sql`), the CREATE TABLE with Redshift's
    table attributes."""
    return [f"{s} {table_attributes(mart)}" if s.startswith("CREATE TABLE ") else s
            for s in sql.create_sql(mart, existing_columns)]


class RedshiftWarehouse(Warehouse):
    name = "Redshift"

    def __init__(self, dsn: str, iam_role: str, connect=psycopg2.connect):
        if not _ROLE_ARN.fullmatch(iam_role or ""):
            raise ConfigError("SMARTCITY_REDSHIFT_IAM_ROLE must be an IAM role ARN "
                              "(arn:aws:iam::<account>:role/<name>)")
        super().__init__(dsn, connect)
        self.iam_role = iam_role

    def connect_options(self) -> dict:
        """SSL always: `sslmode` from the URL when it is require / verify-ca / verify-full, else require."""
        try:
            mode = parse_dsn(self.dsn).get("sslmode")
        except psycopg2.Error:
            mode = None  # connect() reports the malformed URL
        if mode is None:
            return {"sslmode": "require"}
        if mode not in SSL_MODES:
            raise ConfigError(f"Redshift connections must be encrypted: sslmode={mode} in SMARTCITY_WAREHOUSE_URL "
                              f"is weaker than require (use one of {', '.join(SSL_MODES)})")
        return {}

    def table_sql(self, mart: Mart, existing: set[str]) -> list[str]:
        """With the sort key in the CREATE TABLE (a table created before keeps its own: `ALTER TABLE <t> ALTER
        SORTKEY (event_date, event_hour)` once)."""
        return create_sql(mart, existing)

    def copy_sql(self, staging: str, s3_uri: str) -> str:
        if not _S3_OBJECT.fullmatch(s3_uri):
            raise ValueError(f"COPY needs a plain s3:// object, got {s3_uri!r}")
        return f"COPY {sql.identifier(staging)} FROM '{s3_uri}' IAM_ROLE '{self.iam_role}' FORMAT AS PARQUET"

    def stage(self, cur, mart: Mart, staging: str, data: PartitionData) -> None:
        cur.execute(self.copy_sql(staging, data.lake_uri))
