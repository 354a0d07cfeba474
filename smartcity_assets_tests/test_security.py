"""Security: least-privilege IAM proven against moto with IAM enforcement, secrets kept out of everything a
user or operator sees, identifiers checked before they reach SQL or object keys.

The IAM tests create one role per component from the policies `smartcity iam-policies` renders, then run
each component's own library code with that role's temporary keys:

- streaming writer: `streaming.parse.parse_batch` and the lake sink (`LakeStreamWriter.write_batch` on the
  executors, `commit` on the driver: Parquet files + commit manifest);
- pipeline: the manifest sensor's `manifests.list_after`, `LakeReader.read_partition`, Iceberg commits to the
  transformed, mart and raw tables in Glue (`LakeTables`), and the Dagster catalog assets;
- warehouse loader: `Lake.read_parquet` of a mart's lake copy (what Redshift COPY reads);
- analyst: `athena_query` / `smartcity query` in AWS mode, the Iceberg tables read through Glue, no commit.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import subprocess
import sys
import traceback
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from confluent_kafka import Consumer
from dagster._serdes import serialize_value
from psycopg2.extensions import make_dsn, parse_dsn

from smartcity.catalog.query import athena_query
from smartcity.catalog.tables import mart_table, raw_table, transformed_table
from smartcity.errors import AccessDenied, ConfigError
from smartcity.kafka import admin_client, ensure_topics, make_producer, partitions_of
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.iceberg import LakeTable, LakeTables
from smartcity.lake.layout import Hour
from smartcity.lake.reader import LakeReader
from smartcity.marts import TRAFFIC_CONGESTION, Mart
from smartcity.security import iam
from smartcity.settings import load_settings
from smartcity.simulator.run import EventStream, SimulationConfig
from smartcity_commands.stack import free_port
from smartcity.tables import BY_NAME as TABLES_BY_NAME
from smartcity.tables import TABLES
from smartcity.warehouse.base import WarehouseUnavailable
from smartcity.warehouse.postgres import PostgresWarehouse
from smartcity.warehouse.redshift import RedshiftWarehouse
from smartcity.warehouse.sql import identifier
from smartcity_assets.defs.catalog import CATALOG_ASSETS
from smartcity_assets.keys import raw_catalog_key, transformed_catalog_key
from smartcity_assets.resources import LakeResource, TablesResource
from streaming.kafka_source import client_config
from streaming.lake_sink import LakeStreamWriter
from streaming.parse import parse_batch
from streaming.schemas import KAFKA_RECORD

from .moto_iam import EnforcingAws, scoped_authorization

START = datetime(2026, 11, 29, 10, 10, tzinfo=timezone.utc)
HOUR = "2026-11-29-10:00"
STREAM = "00000000000000aa"
WRITER, PIPELINE, LOADER, ANALYST = ("smartcity-streaming-writer", "smartcity-pipeline",
                                     "smartcity-warehouse-loader", "smartcity-analyst")
DENIED = r"access denied: cannot {}.*the AWS credentials in use lack permission"
GPS_CATALOG = next(a for a in CATALOG_ASSETS if a.key == transformed_catalog_key("gps"))
GPS_TABLE, MART_TABLE = transformed_table(TABLES_BY_NAME["gps"]), mart_table(TRAFFIC_CONGESTION)
MART = f"{MART_TABLE.folder}/data/event_date=2026-11-29/event_hour=10/copy.parquet"  # written by the fixture
GPS_TRANSFORMED = f"{GPS_TABLE.folder}/data/event_time_hour=2026-11-29-10/copy.parquet"


def aws_settings(endpoint: str, home: Path, **overrides):
    return load_settings(**{**dict(env="aws", home=home, lake_uri="s3://city-lake/smartcity",
                                   s3_endpoint_url=endpoint, aws_endpoint_url=endpoint, aws_account_id="123456789012",
                                   glue_database="smartcity", athena_workgroup="smartcity"), **overrides})


def kafka_records(n: int) -> pa.RecordBatch:
    """Simulated messages (5 % malformed) as the Kafka source hands them to the parser."""
    stream = EventStream(SimulationConfig(events=n, seed=11, start=START, vehicles=100, malformed_share=0.05))
    messages = []
    while stream.generated < n:
        messages += stream.tick(n - stream.generated)
    return pa.RecordBatch.from_pylist(
        [{"topic": m.topic, "partition": 0, "offset": i, "timestamp": START, "key": m.key, "value": m.value}
         for i, m in enumerate(messages)], schema=KAFKA_RECORD)


class Platform:
    def __init__(self, aws: EnforcingAws, settings, monkeypatch: pytest.MonkeyPatch):
        self.aws, self.settings, self.monkeypatch = aws, settings, monkeypatch

    def acting_as(self, role: str):
        return self.aws.acting_as(role, self.monkeypatch)

    def lake(self) -> Lake:
        """A new Lake (its S3 client takes the credentials in force now)."""
        return Lake.from_settings(self.settings)

    def sink(self) -> LakeStreamWriter:
        return LakeStreamWriter({"lake": self.settings.lake, "s3EndpointUrl": self.settings.s3_endpoint_url,
                                 "region": self.settings.aws_region, "streamId": STREAM})

    def tables_resource(self, database: str) -> TablesResource:
        return TablesResource(lake=self.lake_resource(), kind="glue", glue_database=database,
                              region=self.settings.aws_region, glue_endpoint=self.settings.aws_endpoint_url)

    def lake_resource(self) -> LakeResource:
        return LakeResource(uri=self.settings.lake, s3_endpoint_url=self.settings.s3_endpoint_url,
                            region=self.settings.aws_region)

    def tables(self, database: str = "smartcity") -> LakeTables:
        """The lake's Iceberg tables in Glue (a new client: the credentials in force now)."""
        return LakeTables.open(self.lake(), "glue", database=database, region=self.settings.aws_region,
                               glue_endpoint=self.settings.aws_endpoint_url)


@contextmanager
def running_platform(home: Path):
    """Roles created from the rendered policies; the streaming writer has landed one micro-batch and the
    pipeline has written the transformed partition and a mart's lake copy of its hour."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        scoped_authorization(monkeypatch)
        aws = EnforcingAws()
        aws.start()
        try:
            settings = aws_settings(aws.endpoint, home)
            iam.render(settings, home / "policies")
            aws.client("s3").create_bucket(Bucket="city-lake")
            athena = aws.client("athena")
            for workgroup in ("smartcity", "other"):
                athena.create_work_group(Name=workgroup, Configuration={})
            for database in ("smartcity", "other_db"):  # created once at deployment (the roles cannot)
                aws.client("glue").create_database(DatabaseInput={"Name": database})
            aws.create_admin()
            for role in (WRITER, PIPELINE, LOADER, ANALYST):
                aws.create_role(role, home / "policies")
            aws.enforce()
            p = Platform(aws, settings, monkeypatch)
            with p.acting_as(WRITER):
                sink = p.sink()
                sink.commit([sink.write_batch(iter(parse_batch(kafka_records(3000), START)), 0)], 0)
            with p.acting_as(PIPELINE):
                lake, tables, hour = p.lake(), p.tables(), Hour.parse(HOUR)
                gps = LakeReader(lake).read_partition(layout.PartitionKey("raw", "gps", "2026-11-29", 10))
                schema = tables.arrow_schema(GPS_TABLE)
                lake.write_parquet(pa.table([gps.column(f.name).cast(f.type) if f.name in gps.column_names
                                             else pa.nulls(gps.num_rows, f.type) for f in schema], schema=schema),
                                   lake.path(GPS_TRANSFORMED))
                tables.replace_hours(GPS_TABLE, {hour: [lake.path(GPS_TRANSFORMED)]})
                mart = pa.table({"event_date": [hour.start.date()], "event_hour": [10], "segment_id": ["SEG-0001"],
                                 "vehicles": [3]})
                written = tables.write_hour(MART_TABLE, hour, mart)
                lake.write_bytes(lake.path(MART), lake.read_bytes(written))
                tables.replace_hours(MART_TABLE, {hour: [lake.path(MART)]})
                p.catalog_run = dg.materialize([GPS_CATALOG], partition_key=HOUR,
                                               resources={"tables": p.tables_resource("smartcity")})
            yield p
        finally:
            aws.stop()


@pytest.fixture
def platform(tmp_path):
    """A platform of the test's own (moto keeps one state per process: a shared one could not stay apart)."""
    with running_platform(tmp_path) as p:
        yield p


def committed_rows(p: Platform) -> int:
    with p.acting_as("admin"):
        return sum(m.rows for m in manifests.list_after(p.lake(), manifests.Cursor())[0])


# -- the rendered policies ------------------------------------------------------------------------------------

def test_rendered_policies_are_committed_under_deploy_iam(tmp_path):
    """deploy/iam holds exactly what the renderer produces for the example settings (what is tested deploys)."""
    example = load_settings(lake_uri="s3://city-lake/smartcity", aws_account_id="123456789012",
                            aws_region="us-east-1", glue_database="smartcity", athena_workgroup="primary",
                            athena_output=None, checkpoint_location=None, home=tmp_path)
    written = iam.render(example, tmp_path / "out")
    committed = Path(__file__).parents[1] / "deploy" / "iam"
    assert sorted(p.name for p in committed.glob("*.json")) == sorted(p.name for p in written)
    for path in written:
        assert (committed / path.name).read_text() == path.read_text(), f"re-render deploy/iam: {path.name}"


def test_policies_are_scoped_never_wildcard_and_never_delete(tmp_path):
    settings = aws_settings("http://unused", tmp_path)
    for role in iam.roles(settings):
        for statement in role.policy()["Statement"]:
            assert statement["Effect"] == "Allow" and statement["Resource"] != "*"
            assert all(":*" not in a and a != "*" for a in statement["Action"]), statement
            assert "s3:DeleteObject" not in statement["Action"]  # no role deletes lake data
            assert "glue:CreateDatabase" not in statement["Action"]  # the database is created at deployment
            for resource in statement["Resource"]:
                assert resource.startswith(("arn:aws:s3:::city-lake", "arn:aws:glue:us-east-1:123456789012:",
                                            "arn:aws:athena:us-east-1:123456789012:workgroup/smartcity"))
            if statement["Action"] == ["s3:ListBucket"]:  # listing only below the role's own prefixes
                prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
                assert all(p.startswith("smartcity/") and p.endswith("/*") for p in prefixes)
    # a checkpoint in S3 gets its own statements; a prefix with a wildcard is refused
    with_checkpoint = aws_settings("http://unused", tmp_path, checkpoint_location="s3a://city-ops/ckpt/raw")
    writer = next(r for r in iam.roles(with_checkpoint) if r.name == WRITER)
    assert "arn:aws:s3:::city-ops/ckpt/raw/*" in json.dumps(writer.policy())
    with pytest.raises(Exception, match="wildcard"):
        iam.roles(aws_settings("http://unused", tmp_path, lake_uri="s3://city-lake/smart*"))


# -- each component: its real code path succeeds, what it must not do is denied and reported clearly -----------

def test_streaming_writer_appends_raw_zone_and_nothing_else(platform, caplog):
    p = platform
    rows = committed_rows(p)
    assert rows > 2000  # the fixture's micro-batch landed and was committed
    with p.acting_as("admin"):
        (batch,), _ = manifests.list_after(p.lake(), manifests.Cursor())
    assert batch.quarantine_reasons and {f.zone for f in batch.files} == {"raw", "quarantine"}

    with p.acting_as(WRITER):
        lake, sink = p.lake(), p.sink()
        # a replayed batch: the manifest exists, so the new files are not committed; the writer may not
        # delete them (append-only), says so, and nothing changes for readers
        replay = sink.write_batch(iter(parse_batch(kafka_records(3000), START)), 0)  # the same records again
        with caplog.at_level(logging.WARNING, "smartcity.streaming.lake_sink"):
            sink.commit([replay], 0)
        assert "may not delete" in caplog.text
        raw_file = lake.path(next(f.path for f in batch.files if f.zone == "raw"))
        with pytest.raises(AccessDenied, match=DENIED.format(r"write s3://city-lake/smartcity/transformed/")):
            lake.write_parquet(pa.table({"x": [1]}), lake.path(GPS_TRANSFORMED))
        with pytest.raises(AccessDenied, match=DENIED.format("delete s3://city-lake/smartcity/raw/")):
            lake.delete(raw_file)
        with pytest.raises(AccessDenied, match=DENIED.format("read s3://city-lake/smartcity/raw/")):
            lake.read_parquet([raw_file])
        with pytest.raises(AccessDenied, match=DENIED.format("read the Iceberg table smartcity.transformed_gps")):
            p.tables().exists(GPS_TABLE)
    assert committed_rows(p) == rows


def test_pipeline_reads_raw_writes_transformed_and_manages_its_glue_database(platform):
    p = platform
    with p.acting_as(PIPELINE):
        lake = p.lake()
        found, cursor = manifests.list_after(lake, manifests.Cursor())  # what the manifest sensor does
        assert [m.batch_id for m in found] == [0] and cursor == {STREAM: 0}
        gps = p.tables().read(GPS_TABLE, [Hour.parse(HOUR)])
        assert gps.num_rows == sum(f.rows for f in found[0].files if f.zone == "raw" and f.source == "gps") > 0
        assert p.catalog_run.success  # the fixture ran the catalog asset with the pipeline's keys; again:
        result = dg.materialize([GPS_CATALOG], partition_key=HOUR,
                                resources={"tables": p.tables_resource("smartcity")})
        assert result.success
        assert p.tables().hours(GPS_TABLE) == [Hour.parse(HOUR)]
        # the raw table: the pipeline commits the hour's committed files to its Iceberg table
        raw_catalog = next(a for a in CATALOG_ASSETS if a.key == raw_catalog_key("gps"))
        assert dg.materialize([raw_catalog], partition_key=HOUR, resources={
            "tables": p.tables_resource("smartcity")}).success
        raw_gps = p.tables().hour_files(raw_table("gps"), [Hour.parse(HOUR)])
        assert sum(raw_gps.values()) == sum(f.rows for f in found[0].files if f.zone == "raw" and f.source == "gps")

        raw_file = lake.path(next(f.path for f in found[0].files if f.zone == "raw"))
        with pytest.raises(AccessDenied, match=DENIED.format("write s3://city-lake/smartcity/raw/")):
            lake.write_parquet(gps, lake.path("raw/source=gps/event_date=2026-11-29/event_hour=10/x.parquet"))
        with pytest.raises(AccessDenied, match=DENIED.format("delete s3://city-lake/smartcity/raw/")):
            lake.delete(raw_file)
        with pytest.raises(AccessDenied, match=DENIED.format("read s3://city-lake/smartcity/quarantine/")):
            lake.read_bytes(lake.path(next(f.path for f in found[0].files if f.zone == "quarantine")))
        with pytest.raises(AccessDenied, match=DENIED.format("read the Iceberg table other_db.transformed_gps")):
            p.tables("other_db").table(GPS_TABLE)

        # the same denial inside a Dagster run: the run fails with the message, not a botocore dump
        failed = dg.materialize([GPS_CATALOG], partition_key=HOUR,
                                resources={"tables": p.tables_resource("other_db")}, raise_on_error=False)
    assert not failed.success
    keys = p.aws.keys[PIPELINE]  # nothing Dagster recorded (metadata, logs, errors) holds the role's credentials
    events = serialize_value([*p.catalog_run.all_events, *result.all_events, *failed.all_events])
    assert keys.secret_key not in events and keys.session_token not in events
    (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error.cause  # Dagster wraps what the asset raised
    assert error.cls_name == "AccessDenied" and error.cause is None  # no botocore error chained below it
    assert "cannot read the Iceberg table other_db.transformed_gps" in error.message and "lack permission" in error.message


def test_warehouse_loader_reads_only_the_marts(platform):
    p = platform
    with p.acting_as(LOADER):
        lake = p.lake()
        assert lake.read_parquet([lake.path(MART)]).column("vehicles").to_pylist() == [3]
        assert "copy.parquet" in [i.base_name for i in lake.list_dir(lake.path(MART.rsplit("/", 1)[0]))]
        with pytest.raises(AccessDenied, match=DENIED.format("read s3://city-lake/smartcity/transformed/")):
            lake.read_parquet([lake.path(GPS_TRANSFORMED)])
        with pytest.raises(AccessDenied, match=DENIED.format("write s3://city-lake/smartcity/marts/")):
            lake.write_parquet(pa.table({"x": [1]}), lake.path(MART))
        with pytest.raises(AccessDenied, match=DENIED.format("read the Iceberg table smartcity.transformed_gps")):
            p.tables().exists(GPS_TABLE)


def test_analyst_queries_in_own_workgroup_and_reads_transformed_only(platform):
    p = platform
    with p.acting_as(ANALYST):
        columns, rows = athena_query(p.settings, "SELECT count(*) FROM transformed_gps", timeout_s=30)
        assert isinstance(columns, list) and isinstance(rows, list)
        lake = p.lake()
        assert p.tables().read(GPS_TABLE, [Hour.parse(HOUR)]).num_rows > 0  # Glue and the table's files, read only
        assert p.tables().read(MART_TABLE, [Hour.parse(HOUR)]).num_rows == 1

        elsewhere = p.settings.model_copy(update={"athena_workgroup": "other"})
        with pytest.raises(AccessDenied, match=DENIED.format("run an Athena query in the workgroup other")):
            athena_query(elsewhere, "SELECT 1", timeout_s=30)
        with pytest.raises(AccessDenied, match=DENIED.format("read the Iceberg table other_db.transformed_gps")):
            p.tables("other_db").exists(GPS_TABLE)
        with pytest.raises(AccessDenied, match=DENIED.format("commit to the Iceberg table smartcity.transformed_gps")):
            p.tables().replace_hours(GPS_TABLE, {Hour.parse(HOUR): []})
        # (moto does not evaluate the s3:prefix condition on listing, so the manifest read is what fails here)
        with pytest.raises(AccessDenied, match=DENIED.format("read s3://city-lake/smartcity/_manifests/raw/")):
            LakeReader(lake).read_partition(layout.PartitionKey("raw", "gps", "2026-11-29", 10))
        with pytest.raises(AccessDenied, match=DENIED.format("write s3://city-lake/smartcity/transformed/")):
            lake.write_parquet(pa.table({"x": [1]}), lake.path(GPS_TRANSFORMED))

    # the command line reports the denial in one line, no traceback
    env = {**os.environ, **p.aws.keys[ANALYST].env(), "SMARTCITY_ENV": "aws", "SMARTCITY_HOME": str(p.settings.home),
           "SMARTCITY_LAKE_URI": p.settings.lake, "SMARTCITY_AWS_ENDPOINT_URL": p.aws.endpoint,
           "SMARTCITY_ATHENA_WORKGROUP": "other"}
    cli = subprocess.run([sys.executable, "-m", "smartcity_commands.cli", "-v", "query", "SELECT 1"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "access denied: cannot run an Athena query in the workgroup other" in cli.stderr
    keys = p.aws.keys[ANALYST]  # -v logs at DEBUG, but never the role's credentials (botocore logs its token)
    assert keys.secret_key not in cli.stderr + cli.stdout and keys.session_token not in cli.stderr + cli.stdout


@pytest.mark.parametrize("role", [WRITER, PIPELINE, LOADER, ANALYST])
def test_no_role_deletes_lake_data(platform, role):
    p = platform
    with p.acting_as("admin"):
        (batch,), _ = manifests.list_after(p.lake(), manifests.Cursor())
    with p.acting_as(role):
        lake = p.lake()
        for path in (batch.files[0].path, GPS_TRANSFORMED, MART,
                     layout.manifest_path(STREAM, 0)):
            with pytest.raises(AccessDenied, match=DENIED.format("delete")):
                lake.delete(lake.path(path))
    with p.acting_as("admin"):
        assert p.tables().read(GPS_TABLE, [Hour.parse(HOUR)]).num_rows > 0


# -- secrets: never in settings output, error messages, logs, CLI output or Dagster metadata -----------------

WAREHOUSE_PASSWORD, SASL_PASSWORD, AWS_SECRET = (f"{kind}-{secrets.token_hex(8)}" for kind in ("pg", "sasl", "aws"))
SECRETS = (WAREHOUSE_PASSWORD, SASL_PASSWORD, AWS_SECRET)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked into: {text[:2000]}"


@pytest.fixture
def secret_env(monkeypatch, tmp_path):
    """Distinctive secrets in the environment, as a deployment sets them."""
    env = {"SMARTCITY_HOME": str(tmp_path), "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_ACCESS_KEY_ID": "testing",
           "SMARTCITY_WAREHOUSE_URL": f"postgresql://loader:{WAREHOUSE_PASSWORD}@127.0.0.1:{free_port()}/city",
           "SMARTCITY_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
           "SMARTCITY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "SMARTCITY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "SMARTCITY_KAFKA_SASL_USERNAME": "smartcity", "SMARTCITY_KAFKA_SASL_PASSWORD": SASL_PASSWORD}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_settings_and_their_errors_hide_secrets(secret_env, monkeypatch):
    settings = load_settings()
    assert_no_secret(repr(settings), str(settings), settings.model_dump_json())
    assert settings.kafka_config()["sasl.password"] == SASL_PASSWORD  # the client still gets it
    monkeypatch.setenv("SMARTCITY_BROKER_PORT", "80")
    monkeypatch.setenv("SMARTCITY_WAREHOUSE_URL", f"mysql://loader:{WAREHOUSE_PASSWORD}@db.example/city")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "SMARTCITY_BROKER_PORT" in str(err.value) and "SMARTCITY_WAREHOUSE_URL" in str(err.value)
    assert_no_secret(str(err.value))


def test_a_warehouse_url_set_only_in_dot_env_reaches_dagster_as_a_variable_name(tmp_path, monkeypatch):
    from smartcity_assets.resources import resources_for

    pw = secrets.token_hex(8)
    url = f"postgresql://loader:{pw}@127.0.0.1:5439/city"
    monkeypatch.chdir(tmp_path)
    for variable in ("SMARTCITY_WAREHOUSE_URL", "SMARTCITY_ICEBERG_CATALOG_URL", "SMARTCITY_ENV", "SMARTCITY_HOME"):
        monkeypatch.setenv(variable, "")  # so that the test's end restores whatever was there
        monkeypatch.delenv(variable)
    (tmp_path / ".env").write_text(f"SMARTCITY_WAREHOUSE_URL={url}\nSMARTCITY_HOME={tmp_path}\n")
    resources = resources_for(load_settings())
    for name in ("warehouse", "tables"):
        config = resources[name]._get_non_default_public_field_values()
        assert pw not in json.dumps(config, default=str), (name, config)
    assert isinstance(resources["warehouse"].url, dg.EnvVar)
    assert resources["warehouse"].url.env_var_name == "SMARTCITY_WAREHOUSE_URL"
    assert isinstance(resources["tables"].catalog_url, dg.EnvVar)
    assert os.environ["SMARTCITY_WAREHOUSE_URL"] == url  # what the variable resolves to in this process


@pytest.mark.parametrize("dsn,shown", [
    ("postgresql://loader:{pw}@127.0.0.1:{port}/city", "127.0.0.1:{port}/city"),
    ("host=127.0.0.1 port={port} dbname=city user=loader password={pw}", "127.0.0.1:{port}/city"),
    ("postgresql://loader:{pw}@127.0.0.1:notaport/city", "127.0.0.1:notaport/city"),
    ("postgresql//loader:{pw}@db.example/city", "SMARTCITY_WAREHOUSE_URL is not a valid connection URL"),
])
def test_warehouse_errors_never_show_the_password(dsn, shown):
    port = free_port()
    dsn, shown = dsn.format(pw=WAREHOUSE_PASSWORD, port=port), shown.format(port=port)
    for warehouse in (PostgresWarehouse(dsn), RedshiftWarehouse(dsn, "arn:aws:iam::123456789012:role/loader")):
        with pytest.raises(WarehouseUnavailable) as err:
            warehouse.ensure_table(TRAFFIC_CONGESTION)
        assert shown in str(err.value)
        assert_no_secret(str(err.value), "".join(traceback.format_exception(err.value)))


def test_ssl_settings_pass_through_to_the_warehouse_connection():
    def effective(warehouse) -> dict:  # what libpq receives: psycopg2.connect merges its keywords the same way
        warehouse._connect = lambda dsn, **options: parse_dsn(make_dsn(dsn, **options))
        return warehouse.connect()

    url = "postgresql://loader:pw@cluster.example:5439/city"
    role = "arn:aws:iam::123456789012:role/smartcity-warehouse-loader"
    assert effective(RedshiftWarehouse(url, role))["sslmode"] == "require"
    assert effective(RedshiftWarehouse(url + "?sslmode=verify-full&sslrootcert=/etc/rs.pem", role))["sslmode"] \
        == "verify-full"
    assert effective(PostgresWarehouse(url + "?sslmode=verify-ca"))["sslmode"] == "verify-ca"
    assert "sslmode" not in effective(PostgresWarehouse(url))
    with pytest.raises(ConfigError, match="sslmode=disable .*weaker than require"):
        effective(RedshiftWarehouse(url + "?sslmode=disable", role))
    with pytest.raises(ConfigError, match="IAM role ARN"):  # the role is quoted into COPY: nothing else gets in
        RedshiftWarehouse(url, role + "' CREDENTIALS 'x")


def test_kafka_sasl_and_tls_settings_reach_every_client(secret_env, monkeypatch):
    ca = "/etc/ssl/certs/ca-certificates.crt"
    monkeypatch.setenv("SMARTCITY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    if Path(ca).exists():
        monkeypatch.setenv("SMARTCITY_KAFKA_SSL_CA_LOCATION", ca)
    settings = load_settings()
    config = settings.kafka_config()
    assert {k: config[k] for k in ("security.protocol", "sasl.mechanism", "sasl.username", "sasl.password")} == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "smartcity",
        "sasl.password": SASL_PASSWORD}
    assert config.get("ssl.ca.location") == (ca if Path(ca).exists() else None)
    # the streaming job hands them to its Kafka source as kafka.* options; the source gives them back whole
    assert client_config({f"kafka.{k}": v for k, v in config.items()}) == config
    # librdkafka accepts every key and value (a misspelt key or mechanism fails here)
    make_producer(settings, on_delivery_error=lambda *a: None).flush(0)
    Consumer({**config, "group.id": "smartcity-test"}).close()
    admin_client(settings)


def test_cli_output_never_shows_secrets(secret_env):
    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "smartcity_commands.cli", "-v", *args], capture_output=True, text=True,
                              env={**os.environ, **extra}, timeout=120)

    unreachable = run("simulate", "--events", "1", "--no-progress")
    assert unreachable.returncode == 2 and "cannot reach the Kafka broker" in unreachable.stderr
    invalid = run("stack", "status", SMARTCITY_BROKER_PORT="80",
                  SMARTCITY_WAREHOUSE_URL=f"mysql://x:{WAREHOUSE_PASSWORD}@h/db")
    assert invalid.returncode == 2 and "SMARTCITY_WAREHOUSE_URL" in invalid.stderr
    status = run("stack", "status")
    assert status.returncode == 0
    for done in (unreachable, invalid, status):
        assert_no_secret(done.stdout, done.stderr)


@pytest.mark.parametrize("env", ["embedded", "aws"])
def test_dagster_definitions_carry_no_secret(secret_env, env, monkeypatch):
    """Everything Dagster's UI and storage get about the code location: assets, jobs, resources and their config."""
    monkeypatch.setenv("SMARTCITY_ENV", env)
    monkeypatch.setenv("SMARTCITY_LAKE_URI", "s3://city-lake/smartcity" if env == "aws" else "")
    from dagster._core.remote_representation.external_data import RepositorySnap

    from smartcity_assets.definitions import definitions_for

    defs = definitions_for(load_settings())
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "SMARTCITY_WAREHOUSE_URL" in snapshot  # the warehouse resource is there, by the variable's name
    assert_no_secret(snapshot)


# Credentials that look real; placeholders in docs and tests are fine.
KEY_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key": re.compile(r"(?i)aws_?secret_?access_?key\W{1,4}[A-Za-z0-9/+]{40}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "GitHub / Slack token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|xox[abprs]-[A-Za-z0-9-]{10,})"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:([^\s@/'\"{}]+)@"),
}
PLACEHOLDER_PASSWORDS = {"pass", "password", "pw", "s3cret", "change-me", "...", "secret"}


def test_repository_holds_no_credentials():
    root = Path(__file__).parents[1]
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True,
                            text=True)
    files = [root / f for f in listed.stdout.splitlines()] if listed.returncode == 0 else [
        p for p in root.rglob("*") if p.is_file() and not {".git", ".venv", ".smartcity"} & set(p.parts)]
    assert len(files) > 50
    found = []
    for path in files:
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for what, pattern in KEY_PATTERNS.items():
            for match in pattern.finditer(text):
                if what == "password in a URL" and match.group(1) in PLACEHOLDER_PASSWORDS:
                    continue
                found.append(f"{path.relative_to(root)}: {what}: {match.group(0)[:12]}...")
    assert not found, "credentials committed:\n" + "\n".join(found)
    assert ".env" in (root / ".gitignore").read_text().split()


# -- input safety: identifiers are checked before they reach SQL, object keys or Kafka ------------------------

BAD_NAMES = ["gps\n", "GPS", "gps;drop table x", "../raw", 'a"b', "a'b", "", "x" * 64, "٣gps", "gps-matched", "1gps"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_unsafe_names_are_refused_everywhere_they_could_reach(bad, tmp_path):
    column = transformed_table(TABLES[0]).fields[0]
    attempts = {
        "SQL identifier": lambda: identifier(bad),
        "mart": lambda: Mart(bad, "d", TRAFFIC_CONGESTION.columns, (), "segment_id").qualified,
        "raw partition": lambda: layout.PartitionKey("raw", bad, "2026-11-29", 10),
        "catalog table": lambda: LakeTable(bad, "transformed/gps", "d", (column,), column.name),
        "catalog column": lambda: LakeTable("t", "transformed/t", "d", (replace(column, name=bad),), bad),
        "transformed table folder": lambda: layout.transformed_folder(bad),
        "mart table folder": lambda: layout.mart_folder(bad),
        "raw table folder": lambda: layout.raw_table_folder(bad),
        "Glue database": lambda: LakeTables.open(Lake("s3://city-lake/smartcity"), "glue", database=bad),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ValueError, match="not a safe"):
            attempt()
            pytest.fail(f"{what} accepted {bad!r}")


@pytest.mark.parametrize("bad", ["topic with space", "a/b", "..", "t\n", "x" * 250, "tópico", ""])
def test_unsafe_topic_names_are_refused_before_the_broker_is_asked(bad, tmp_path):
    settings = load_settings(home=tmp_path, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")  # nobody there
    for attempt in (lambda: ensure_topics(settings, ["smartcity.gps", bad]), lambda: partitions_of(settings, bad)):
        with pytest.raises(ValueError, match="not a valid Kafka topic name"):
            attempt()


def test_partition_values_and_stream_ids_are_checked():
    for date, hour in [("2026-02-30", 1), ("2026-11-29\n", 1), ("٢٠٢٦-11-29", 1), ("2026-11-29", 24),
                       ("2026-11-29", True), ("../x", 1)]:
        with pytest.raises(ValueError, match="not a partition"):
            layout.PartitionKey("raw", "gps", date, hour)
        with pytest.raises(ValueError, match="not a partition"):
            Hour(date, hour)
    for stream in ("../../x", "0123456789ABCDEF", "0123456789abcdef/"):
        with pytest.raises(ValueError, match="not a stream id"):
            layout.manifest_path(stream, 1)
    for key in ("2026-11-29-10:00/../../raw", "2026-11-29-1a:00", "2026-11-29 10:00", "2026-13-29-10:00"):
        with pytest.raises(ValueError, match="not an hourly partition key|not a partition date"):
            Hour.parse(key)
    for bad in ["s3://city-lake/x'; DROP TABLE y; --", "s3://city-lake/x\\' y", "s3://city-lake/"]:
        with pytest.raises(ValueError, match="plain s3://"):
            RedshiftWarehouse("postgresql://h/db", "arn:aws:iam::123456789012:role/r").copy_sql("staging_x", bad)
    with pytest.raises(ConfigError, match="SMARTCITY_ATHENA_WORKGROUP"):  # it would widen the analysts' policy
        load_settings(athena_workgroup="primary*")


def test_manifest_listing_skips_folders_that_are_not_streams(tmp_path):
    """Something else under _manifests/raw (a stray upload) never reaches the sensor as a manifest."""
    lake = Lake((tmp_path / "lake").as_uri())
    lake.write_bytes(lake.path(layout.MANIFESTS, "not-a-stream", "000000000000.json"), b"{not json")
    lake.write_bytes(lake.path(layout.MANIFESTS, "..%2f..", "000000000001.json"), b"{}")
    good = manifests.Manifest(STREAM, 3, manifests.now_iso(), [], [])
    assert manifests.commit(lake, good)
    found, cursor = manifests.list_after(lake, manifests.Cursor())
    assert [m.batch_id for m in found] == [3] and cursor == {STREAM: 3} == manifests.head(lake)
