"""One settings object for every component, read from `SMARTCITY_*` environment variables or `.env`.

The same names serve the embedded default (one machine, no cloud account) and an AWS / cluster
deployment: leave a setting unset and the embedded service started by `smartcity stack up` is used.
`.env.example` documents every variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTCITY_", env_file=".env", extra="ignore",
                                      validate_default=True)

    env: Literal["embedded", "aws"] = Field("embedded", description="Which deployment the resources target")
    home: Path = Field(Path(".smartcity"), description="Project-local state folder (stack, lake, logs)")

    # Embedded stack
    broker_port: int = Field(19092, ge=1024, le=65535, description="Port of the embedded Kafka broker")
    postgres_port: int = Field(15432, ge=1024, le=65535, description="Port of the embedded PostgreSQL")

    # Kafka
    kafka_bootstrap_servers: str | None = Field(None, description="host:port[,host:port]; unset = embedded")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = None
    topic_partitions: int = Field(3, ge=1, le=1024, description="Partitions of each topic when created")
    kafka_delivery_timeout_s: float = Field(
        120.0, gt=0, description="how long the producer retries a message before reporting it undelivered")
    broker_wait_s: float = Field(
        600.0, gt=0, description="how long the stream waits for an unreachable broker (at start or mid-run)")

    # Lake, warehouse, Spark, AWS
    lake_uri: str | None = Field(None, description="file:///path or s3://bucket/prefix; unset = <home>/lake")
    warehouse_url: SecretStr | None = Field(None, description="postgresql:// URL; unset = embedded")
    iceberg_catalog_url: SecretStr | None = Field(
        None, description="PostgreSQL URL of the embedded mode's Iceberg catalog (pyiceberg's SQL catalog, schema "
                          "iceberg); unset = the warehouse's database. AWS mode catalogs in Glue (glue_database)")
    redshift_iam_role: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$",
                                          description="IAM role ARN Redshift COPY uses to read the lake")
    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"
    spark_remote: str | None = Field(
        None, pattern=r"^(sc://[A-Za-z0-9.-]+:[0-9]{1,5}(/.*)?|in-process)$",
        description="Spark of the Dagster runs: unset = the embedded Spark Connect server (`smartcity stack up`); "
                    "sc://host:port = a Connect server elsewhere (a cluster's); in-process = each run starts "
                    "its own session on SMARTCITY_SPARK_MASTER")
    spark_connect_port: int = Field(15002, ge=1024, le=65535, description="Port of the embedded Spark Connect server")

    # Streaming job (Kafka -> raw zone)
    checkpoint_location: str | None = Field(None, description="unset = <home>/checkpoints/raw")
    stream_id: str | None = Field(None, pattern=r"^[0-9a-f]{16}$",
                                  description="id of the stream in manifests; unset = kept in the local checkpoint")
    trigger_interval_s: float = Field(1.0, gt=0, description="micro-batch interval of `smartcity stream`")
    max_offsets_per_trigger: int | None = Field(None, ge=1, description="cap on Kafka records per micro-batch")
    stream_tasks: int | None = Field(
        None, ge=0, description="Spark tasks a micro-batch's Kafka offset ranges are spread over; unset = one per "
                                "core (the session's default parallelism); 0 = one per Kafka partition")
    starting_offsets: str = Field("earliest", description="earliest | latest | JSON per topic partition")
    fail_on_data_loss: bool = Field(True, description="fail when checkpointed Kafka offsets no longer exist")
    live_layer: bool = Field(True, description="the stream keeps the warehouse's live.* tables up to date")
    warehouse_wait_s: float = Field(
        300.0, gt=0, description="how long the stream waits for an unreachable warehouse before it stops "
                                 "(the batch is in the lake; the restart applies it to the live tables)")
    aws_region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    aws_account_id: str | None = Field(None, pattern=r"^[0-9]{12}$",
                                       description="AWS account of the IAM policies `smartcity iam-policies` renders")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto); unset = AWS")
    s3_max_attempts: int = Field(5, ge=1, le=50, description="attempts per S3 request (throttling, 5xx, timeouts)")
    s3_timeout_s: float = Field(10.0, gt=0, description="connect and request timeout of S3 calls")
    lake_retries: int = Field(3, ge=0, le=20, description="retries of a whole lake operation after the S3 client's")
    lake_retry_backoff_s: float = Field(1.0, ge=0, description="first delay between lake retries (doubles)")
    aws_endpoint_url: str | None = Field(None, description="endpoint for Glue / Athena (moto in tests); unset = AWS")
    glue_database: str = Field("smartcity", pattern=r"^[a-z][a-z0-9_]{0,254}$", description="Glue database")
    athena_workgroup: str = Field("primary", pattern=r"^[A-Za-z0-9._-]{1,128}$")
    athena_output: str | None = Field(None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.()=-]+)*/?$",
                                      description="s3:// folder for Athena results; unset = <lake>/_athena")

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value.strip()

    @field_validator("spark_remote", mode="before")
    @classmethod
    def _empty_remote_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("warehouse_url", "iceberg_catalog_url")
    @classmethod
    def _check_warehouse_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("expected postgresql://user:password@host:port/database[?sslmode=...]")  # value not echoed
        return value

    @property
    def home_dir(self) -> Path:
        return Path(self.home).expanduser().resolve()

    @property
    def uses_embedded_broker(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.broker_port}"

    @property
    def uses_embedded_postgres(self) -> bool:
        return self.warehouse_url is None

    @property
    def warehouse_dsn(self) -> str:
        if self.warehouse_url is not None:
            return self.warehouse_url.get_secret_value()
        return f"postgresql://postgres@127.0.0.1:{self.postgres_port}/smartcity"

    @property
    def iceberg_catalog_dsn(self) -> str:
        return self.iceberg_catalog_url.get_secret_value() if self.iceberg_catalog_url else self.warehouse_dsn

    @property
    def uses_embedded_spark_connect(self) -> bool:
        return self.spark_remote is None

    @property
    def spark_connect_url(self) -> str | None:
        """The Spark Connect server the batch runs use, or None when each run starts its own session."""
        if self.spark_remote == "in-process":
            return None
        return self.spark_remote or f"sc://127.0.0.1:{self.spark_connect_port}"

    @property
    def lake(self) -> str:
        return self.lake_uri or (self.home_dir / "lake").as_uri()

    @property
    def athena_results(self) -> str:
        """Where Athena writes query results (s3://.../)."""
        return self.athena_output or f"{self.lake.rstrip('/')}/_athena/"

    @property
    def checkpoint(self) -> str:
        return self.checkpoint_location or str(self.home_dir / "checkpoints" / "raw")

    def kafka_config(self) -> dict[str, str]:
        """librdkafka client settings shared by producers, consumers and admin clients."""
        config = {"bootstrap.servers": self.bootstrap_servers,
                  "security.protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password is not None:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_ca_location:
            config["ssl.ca.location"] = self.kafka_ssl_ca_location
        return config


def load_settings(**overrides) -> Settings:
    """Read settings, turning validation errors into one message that names the variable to fix."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "SMARTCITY_" + "_".join(str(p) for p in err["loc"]).upper()
            shown = "<hidden>" if _is_secret(name) else repr(err.get("input"))
            problems.append(f"{name}: {err['msg']} (got {shown})")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems)) from None


def _is_secret(variable: str) -> bool:
    """Values never echoed in messages: secret fields, and anything named like a credential or a URL."""
    field = Settings.model_fields.get(variable.removeprefix("SMARTCITY_").lower())
    return ("SecretStr" in str(field.annotation) if field else False) or variable.endswith(
        ("PASSWORD", "URL", "SECRET", "TOKEN", "KEY"))
