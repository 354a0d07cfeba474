"""Amazon Redshift warehouse: the partition's Parquet file (already in the S3 lake) is loaded with
COPY ... FORMAT AS PARQUET IAM_ROLE into a staging table, then the partition is replaced with DELETE +
INSERT in one transaction. Redshift speaks the PostgreSQL protocol, so the connection is psycopg2 (the
driver dagster-aws's Redshift resource uses); credentials come from SMARTCITY_WAREHOUSE_URL (EnvVar)."""

from __future__ import annotations

import psycopg2

from smartcity.warehouse.postgres import PostgresWarehouse, WarehouseUnavailable
from smartcity.warehouse.tables import MartTable, identifier


class RedshiftWarehouse(PostgresWarehouse):
    """Same tables and SQL as PostgreSQL (ensure_table is inherited); loads come from S3 instead of COPY
    FROM STDIN, which Redshift does not support."""

    def __init__(self, dsn: str, iam_role: str, connect=psycopg2.connect):
        if not iam_role.startswith("arn:aws:iam::"):
            raise ValueError("SMARTCITY_REDSHIFT_IAM_ROLE must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        super().__init__(dsn)
        self.iam_role, self._connect = iam_role, connect

    def connect(self):
        try:
            return self._connect(self.dsn, connect_timeout=10, sslmode="require")
        except psycopg2.OperationalError as exc:
            raise WarehouseUnavailable(f"cannot connect to Redshift at {self.dsn.split('@')[-1]}: "
                                       f"{str(exc).strip()}") from None

    def index_sql(self, table: MartTable) -> list[str]:
        return []  # Redshift has no indexes: it skips blocks by the zone maps of its (automatic) sort key

    def replace_partition(self, table, partition, rows):
        raise TypeError("Redshift cannot COPY FROM STDIN: load the partition's Parquet file with "
                        "replace_partition_from_s3")

    def copy_sql(self, staging: str, s3_uri: str) -> str:
        if not s3_uri.startswith("s3://") or "'" in s3_uri:
            raise ValueError(f"COPY needs a plain s3:// object, got {s3_uri!r}")
        return f"COPY {identifier(staging)} FROM '{s3_uri}' IAM_ROLE '{self.iam_role}' FORMAT AS PARQUET"

    def replace_partition_from_s3(self, table: MartTable, partition: dict, s3_uri: str) -> None:
        staging = identifier(f"staging_{table.name}")
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(f"CREATE TEMP TABLE {staging} (LIKE {table.qualified})")
                cur.execute(self.copy_sql(staging, s3_uri))
                for statement in table.replace_partition_sql(staging):
                    cur.execute(statement, partition)
                cur.execute(f"DROP TABLE {staging}")
        finally:
            conn.close()
