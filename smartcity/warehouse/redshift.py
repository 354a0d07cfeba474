"""Amazon Redshift warehouse: the partition's Parquet file (already in the S3 lake) is loaded with
COPY ... FORMAT AS PARQUET IAM_ROLE into a staging table, then the partition is replaced with DELETE +
INSERT in one transaction. Redshift speaks the PostgreSQL protocol, so the connection is psycopg2 (the
driver dagster-aws's Redshift resource uses); credentials come from SMARTCITY_WAREHOUSE_URL (EnvVar)."""

from __future__ import annotations

import re

import psycopg2
from psycopg2.extensions import parse_dsn

from smartcity.errors import ConfigError
from smartcity.warehouse.postgres import PostgresWarehouse
from smartcity.warehouse.tables import MartTable, identifier

SSL_MODES = ("require", "verify-ca", "verify-full")
_S3_OBJECT = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.()=/-]+")  # quoted into COPY too
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")  # it is quoted into COPY


class RedshiftWarehouse(PostgresWarehouse):
    """Same tables and SQL as PostgreSQL (ensure_table is inherited); loads come from S3 instead of COPY
    FROM STDIN, which Redshift does not support."""

    name = "Redshift"

    def __init__(self, dsn: str, iam_role: str, connect=psycopg2.connect):
        if not _ROLE_ARN.fullmatch(iam_role):
            raise ValueError("SMARTCITY_REDSHIFT_IAM_ROLE must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
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

    def index_sql(self, table: MartTable) -> list[str]:
        return []  # Redshift has no indexes: it skips blocks by the zone maps of its (automatic) sort key

    def replace_partition(self, table, partition, rows):
        raise TypeError("Redshift cannot COPY FROM STDIN: load the partition's Parquet file with "
                        "replace_partition_from_s3")

    def copy_sql(self, staging: str, s3_uri: str) -> str:
        if not _S3_OBJECT.fullmatch(s3_uri):
            raise ValueError(f"COPY needs a plain s3:// object, got {s3_uri!r}")
        return f"COPY {identifier(staging)} FROM '{s3_uri}' IAM_ROLE '{self.iam_role}' FORMAT AS PARQUET"

    def replace_partition_from_s3(self, table: MartTable, partition: dict, s3_uri: str) -> None:
        staging = identifier(f"staging_{table.name}")
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(table.staging_sql(staging))
                cur.execute(self.copy_sql(staging, s3_uri))
                for statement in table.replace_partition_sql(staging):
                    cur.execute(statement, partition)
                cur.execute(f"DROP TABLE {staging}")
        finally:
            conn.close()
