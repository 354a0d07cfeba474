"""Every resource of the code location, and the one place that chooses them from the settings
(`SMARTCITY_ENV`: embedded | aws). Secrets reach Dagster only as `dg.EnvVar`s (the UI shows their names)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Literal
from urllib.parse import urlsplit

import dagster as dg
from dagster_pyspark import PySparkResource

from smartcity.lake import Lake
from smartcity.lake.iceberg import NAMESPACE, LakeTables
from smartcity.lake.retry import RetryPolicy
from smartcity.settings import Settings
from smartcity.spark.session import connect_session, spark_conf, spark_server_answers
from smartcity.warehouse import open_warehouse
from smartcity.warehouse.base import Warehouse


class LakeResource(dg.ConfigurableResource):
    """The lake: a local folder (embedded) or an S3 prefix (AWS), read and written through pyarrow."""

    uri: str
    s3_endpoint_url: str | None = None
    region: str = "us-east-1"
    s3_max_attempts: int = 5
    s3_timeout_s: float = 10.0
    retries: int = 3
    retry_backoff_s: float = 1.0

    def lake(self) -> Lake:
        return Lake(self.uri, self.s3_endpoint_url, self.region, self.s3_max_attempts, self.s3_timeout_s,
                    RetryPolicy(self.retries, self.retry_backoff_s))

    @classmethod
    def from_settings(cls, settings: Settings) -> "LakeResource":
        return cls(uri=settings.lake, s3_endpoint_url=settings.s3_endpoint_url, region=settings.aws_region,
                   s3_max_attempts=settings.s3_max_attempts, s3_timeout_s=settings.s3_timeout_s,
                   retries=settings.lake_retries, retry_backoff_s=settings.lake_retry_backoff_s)


class TablesResource(dg.ConfigurableResource):
    """The lake's Iceberg tables and their catalog: pyiceberg's SQL catalog on PostgreSQL (embedded; the URL comes
    through dg.EnvVar when it carries a password) or the Glue Data Catalog (AWS)."""

    lake: LakeResource
    kind: Literal["sql", "glue"]
    catalog_url: str | None = None
    glue_database: str = "smartcity"
    region: str = "us-east-1"
    glue_endpoint: str | None = None

    def tables(self) -> LakeTables:
        return LakeTables.open(self.lake.lake(), self.kind, uri=self.catalog_url, database=self.glue_database,
                               region=self.region, glue_endpoint=self.glue_endpoint)

    def qualified(self, table: str) -> str:
        return f"{self.glue_database if self.kind == 'glue' else NAMESPACE}.{table}"


class WarehouseResource(dg.ConfigurableResource):
    """PostgreSQL (embedded default, or any URL) or Amazon Redshift. The URL carries the credentials and comes
    from SMARTCITY_WAREHOUSE_URL through dg.EnvVar when it is a secret."""

    kind: Literal["postgres", "redshift"]
    url: str
    redshift_iam_role: str | None = None

    def warehouse(self) -> Warehouse:
        return open_warehouse(self.kind, self.url, self.redshift_iam_role)


class SparkResource(PySparkResource):
    """The Spark of a run. `remote` set: a new session on that Spark Connect server — the embedded one that
    `smartcity stack up` keeps warm, or a cluster's — so a run starts no JVM; it is released when the run
    ends. `remote` unset: dagster-pyspark's in-process session from `spark_config` (one JVM per run process)."""

    remote: str | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.remote is None:
            super().setup_for_execution(context)
        else:
            self._spark_session = connect_session(self.remote)

    @contextmanager
    def connected(self):
        """The session, for a step's Spark work: an error while the Connect server is unreachable becomes one
        clear failure (partitions are written only after Spark finished them, so none is half-written)."""
        try:
            yield self.spark_session
        except Exception as exc:
            if self.remote is None or spark_server_answers(self.remote):
                raise
            raise dg.Failure(
                description=f"the Spark Connect server at {self.remote} went away during the run "
                            f"({type(exc).__name__}); no partition is half-written: each is replaced only after "
                            "Spark finished it. Restart the server (`smartcity stack up`; `smartcity up` restarts "
                            "it by itself) and run again.", allow_retries=False) from exc

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self.remote is not None and self._spark_session is not None:
            try:
                self._spark_session.stop()
            except Exception as exc:  # the server went away: nothing left to release
                context.log.warning(f"could not release the Spark Connect session: {exc}")


def resources_for(settings: Settings) -> dict:
    """The resources of a deployment: the lake and Spark from the settings; the tables' catalog and the warehouse
    by `SMARTCITY_ENV` (embedded: the SQL catalog and the warehouse on PostgreSQL; aws: Glue + Redshift)."""
    lake = LakeResource.from_settings(settings)
    if settings.env == "aws":
        tables = TablesResource(lake=lake, kind="glue", glue_database=settings.glue_database,
                                region=settings.aws_region, glue_endpoint=settings.aws_endpoint_url)
        warehouse = WarehouseResource(kind="redshift", url=dg.EnvVar("SMARTCITY_WAREHOUSE_URL"),
                                      redshift_iam_role=dg.EnvVar("SMARTCITY_REDSHIFT_IAM_ROLE"))
    else:
        tables = TablesResource(lake=lake, kind="sql", catalog_url=_catalog_url(settings))
        warehouse = WarehouseResource(kind="postgres", url=_warehouse_url(settings))
    # Spark reads and writes the lake through pyarrow on its executors (smartcity.spark.lake_files), with the
    # credentials of their environment (instance profile / role): no Hadoop S3 connector, no S3 settings here.
    spark = SparkResource(spark_config=spark_conf(settings), remote=settings.spark_connect_url)
    return {"lake": lake, "pyspark": spark, "tables": tables, "warehouse": warehouse}


def _warehouse_url(settings: Settings) -> str | dg.EnvVar:
    return _secret_url("SMARTCITY_WAREHOUSE_URL", settings.warehouse_dsn, settings.warehouse_url is not None)


def _catalog_url(settings: Settings) -> str | dg.EnvVar:
    """The embedded catalog's URL: its own variable, the warehouse's (the same database), or the embedded server's."""
    if settings.iceberg_catalog_url is None:
        return _warehouse_url(settings)
    return _secret_url("SMARTCITY_ICEBERG_CATALOG_URL", settings.iceberg_catalog_dsn, True)


def _secret_url(variable: str, value: str, given: bool) -> str | dg.EnvVar:
    """A URL with a password reaches Dagster as the name of its variable (what its UI and run config show), never
    as the value. A URL set only in `.env` is put into this process's environment under its name first, so the
    variable resolves here (run workers read `.env` again). A URL without a password (the embedded server) is
    passed as it is."""
    if not given:
        return value
    if os.environ.get(variable) == value:
        return dg.EnvVar(variable)
    if variable not in os.environ and (urlsplit(value).password or "password=" in value):
        os.environ[variable] = value
        return dg.EnvVar(variable)
    return value  # given in code, beside a different value in the environment
