"""Resources, chosen by one setting (`SMARTCITY_ENV`: embedded | aws). Secrets only through `dg.EnvVar`."""

from __future__ import annotations

import os

import dagster as dg
from dagster_pyspark import PySparkResource

from smartcity.lake import Lake
from smartcity.lake.retry import RetryPolicy
from smartcity.settings import Settings
from streaming.spark import spark_conf


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


def resources_for(settings: Settings) -> dict:
    from smartcity_assets.catalog import CatalogResource

    lake = LakeResource.from_settings(settings)
    conf = spark_conf(settings)
    if settings.env == "aws":
        # On EMR / a cluster the executors read the lake with their instance profile; S3 through s3a.
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "com.amazonaws.auth.DefaultAWSCredentialsProviderChain")
    if settings.env == "aws":
        catalog = CatalogResource(kind="glue", lake_uri=settings.lake, database=settings.glue_database,
                                  region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    else:
        catalog = CatalogResource(kind="local", lake_uri=settings.lake, local_path=str(settings.catalog_path))
    from smartcity_assets.marts import WarehouseResource

    if settings.env == "aws":
        warehouse = WarehouseResource(kind="redshift", url=dg.EnvVar("SMARTCITY_WAREHOUSE_URL"),
                                      redshift_iam_role=dg.EnvVar("SMARTCITY_REDSHIFT_IAM_ROLE"))
    else:  # the embedded PostgreSQL, or SMARTCITY_WAREHOUSE_URL when set
        warehouse = WarehouseResource(kind="postgres", url=_warehouse_url(settings))
    return {"lake": lake, "pyspark": PySparkResource(spark_config=conf), "catalog": catalog, "warehouse": warehouse}


def _warehouse_url(settings: Settings) -> str | dg.EnvVar:
    """A URL with a password reaches Dagster as the variable's name (what its UI shows), not as the value."""
    if settings.warehouse_url is not None and os.environ.get("SMARTCITY_WAREHOUSE_URL") == settings.warehouse_dsn:
        return dg.EnvVar("SMARTCITY_WAREHOUSE_URL")
    return settings.warehouse_dsn  # the embedded server (no password), or a URL given in code
