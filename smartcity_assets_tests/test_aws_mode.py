"""AWS mode end to end on moto (S3, Glue, Athena) with IAM enforcement, each component under its own role's
keys, as each would run with its instance profile:

    streaming writer   `smartcity stream --available-now` (its Spark's executors write raw/ in S3, the driver commits)
    pipeline           the manifest sensor and the run it requests, in a process of its own, on a Spark Connect
                       server of its own (executors read and write the lake through pyarrow: no s3a) —
                       transformed (S3) -> Glue tables and partitions -> marts (lake copy, Glue, PostgreSQL
                       through the warehouse interface)
    warehouse loader   what Redshift's COPY reads: the marts' lake copies; Redshift's own statements run on
                       PostgreSQL with COPY done as Redshift does it (Parquet columns by position)
    analyst            Athena in its workgroup

One hour, a few hundred events: the logic of each layer is checked by the fast tests of its own module. And the
Glue database: the pipeline's role registers tables without glue:CreateDatabase once it exists, and a missing
database is created only where that is allowed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone

import boto3
import orjson
import psycopg2
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from pydantic import SecretStr

from smartcity import contracts
from smartcity_commands import stack
from smartcity.catalog.query import athena_query
from smartcity.catalog.tables import mart_table, transformed_table
from smartcity.lake.iceberg import LakeTables
from smartcity.errors import ConfigError
from smartcity.lake import Lake
from smartcity.lake.layout import Hour
from smartcity.marts import MARTS, Mart
from smartcity.security import iam
from smartcity.settings import load_settings
from smartcity.simulator.run import SimulationConfig, run_simulation
from smartcity.tables import BY_NAME as TABLES_BY_NAME
from smartcity.tables import TABLES
from smartcity.warehouse.base import PartitionData
from smartcity.warehouse.redshift import RedshiftWarehouse, create_sql, table_attributes

from .helpers import ROOT, command_env, embedded_settings, expected_messages, query
from .moto_iam import EnforcingAws, scoped_authorization

pytestmark = [pytest.mark.spark, pytest.mark.services]  # Spark and the stack in processes of their own

WRITER, PIPELINE, LOADER, ANALYST = ("smartcity-streaming-writer", "smartcity-pipeline",
                                     "smartcity-warehouse-loader", "smartcity-analyst")
ROLES = (WRITER, PIPELINE, LOADER, ANALYST)
BUCKET, PREFIX, DATABASE, WORKGROUP = "city-lake", "smartcity", "smartcity", "smartcity"
HOUR = Hour("2026-11-29", 10)
START = datetime(2026, 11, 29, 10, 20, tzinfo=timezone.utc)
LOADER_ROLE_ARN = "arn:aws:iam::123456789012:role/smartcity-warehouse-loader"


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    """moto with IAM enforcement: the bucket, the analysts' workgroup and the Glue database created at deployment,
    one role per component from the rendered policies (temporary keys through sts:AssumeRole)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        scoped_authorization(monkeypatch)
        server = EnforcingAws()
        server.start()
        try:
            policies = tmp_path_factory.mktemp("policies")
            iam.render(aws_settings(server.endpoint, policies), policies)
            server.client("s3").create_bucket(Bucket=BUCKET)
            server.client("athena").create_work_group(Name=WORKGROUP, Configuration={})
            server.client("glue").create_database(DatabaseInput={"Name": DATABASE})
            server.create_admin()
            for role in ROLES:
                server.create_role(role, policies)
            server.enforce()
            yield server
        finally:
            server.stop()


def aws_settings(endpoint: str, home, **overrides):
    return load_settings(**{**dict(env="aws", home=home, lake_uri=f"s3://{BUCKET}/{PREFIX}", s3_endpoint_url=endpoint,
                                   aws_endpoint_url=endpoint, aws_account_id="123456789012", glue_database=DATABASE,
                                   athena_workgroup=WORKGROUP), **overrides})


def role_env(aws: EnforcingAws, role: str, settings, **extra: str) -> dict[str, str]:
    """The environment of a component's process in AWS mode: its role's keys and nothing of this test's."""
    env = {k: v for k, v in command_env(settings).items() if not k.startswith("AWS_")}
    env.update(aws.keys[role].env(), AWS_DEFAULT_REGION="us-east-1", SMARTCITY_ENV="aws",
               SMARTCITY_LAKE_URI=settings.lake, SMARTCITY_S3_ENDPOINT_URL=aws.endpoint,
               SMARTCITY_AWS_ENDPOINT_URL=aws.endpoint, SMARTCITY_GLUE_DATABASE=DATABASE,
               SMARTCITY_ATHENA_WORKGROUP=WORKGROUP, SMARTCITY_LIVE_LAYER="false", **extra)
    return env


def filesystem(aws: EnforcingAws, role: str) -> pafs.S3FileSystem:
    keys = aws.keys[role]
    return pafs.S3FileSystem(endpoint_override=aws.endpoint.removeprefix("http://"), scheme="http", region="us-east-1",
                             access_key=keys.access_key, secret_key=keys.secret_key, session_token=keys.session_token)


@contextmanager
def connect_server_as(aws: EnforcingAws, role: str, home, monkeypatch):
    """A Spark Connect server of its own whose JVM and Python workers have `role`'s keys (its instance profile)."""
    settings = embedded_settings(home, spark_remote=None, kafka_bootstrap_servers="127.0.0.1:1",
                                 warehouse_url=SecretStr("postgresql://unused@127.0.0.1:1/x"), spark_master="local[2]")
    with monkeypatch.context() as patched:
        for variable, value in {**aws.keys[role].env(), "AWS_DEFAULT_REGION": "us-east-1"}.items():
            patched.setenv(variable, value)
        started = stack.up(settings)
    try:
        assert [line.split(":")[0] for line in started if "started at" in line] == ["spark-connect"]
        yield settings
    finally:
        stack.down(settings)


def committed_raw(aws: EnforcingAws) -> dict[str, pa.Table]:
    """Per source, the raw rows of the files the commit manifests name, read with pyarrow (the admin's keys)."""
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/_manifests/raw/")["Contents"]
    fs, out = filesystem(aws, "admin"), {}
    for item in listed:
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        for f in manifest["files"]:
            if f["zone"] == "raw":
                out.setdefault(f["source"], []).append(pq.read_table(f"{BUCKET}/{PREFIX}/{f['path']}", filesystem=fs))
    return {source: pa.concat_tables(tables) for source, tables in out.items()}


def warehouse_rows(dsn: str, mart: Mart) -> Counter:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(mart.column_names)} FROM {mart.qualified}")
        return Counter(map(tuple, cur.fetchall()))


def lake_rows(table: pa.Table, mart: Mart) -> Counter:
    """The rows as Python values, like the warehouse's (timestamps compare as instants, whatever their zone)."""
    return Counter(tuple(row[c] for c in mart.column_names) for row in table.to_pylist())


class RedshiftOnPostgres(RedshiftWarehouse):
    """Redshift's partition replace, statement for statement, on PostgreSQL. Everything runs as sent except the
    COPY, which no local engine runs: it is parsed, and done as Redshift documents it — the Parquet object at its
    s3:// URI read with the keys of the role it names (the warehouse loader's, which Redshift assumes), its
    columns mapped by position onto the staging table (their number must match)."""

    def __init__(self, dsn: str, loader_fs: pafs.S3FileSystem):
        super().__init__(dsn, LOADER_ROLE_ARN, connect=psycopg2.connect)
        self.loader_fs, self.copies = loader_fs, []

    def connect_options(self) -> dict:
        return {}  # the local server has no TLS; Redshift's require is checked in test_security

    def stage(self, cur, mart: Mart, staging: str, data: PartitionData) -> None:
        statement = self.copy_sql(staging, data.lake_uri)
        found = re.fullmatch(r"COPY (\w+) FROM 's3://([^']+)' IAM_ROLE '([^']+)' FORMAT AS PARQUET", statement)
        assert found and found[1] == staging and found[3] == LOADER_ROLE_ARN, statement
        parquet = pq.read_table(found[2], filesystem=self.loader_fs)
        cur.execute(f"SELECT * FROM {staging} LIMIT 0")
        assert len(cur.description) == parquet.num_columns, "COPY FORMAT AS PARQUET maps columns by position"
        for row in parquet.to_pylist():
            values = list(row.values())
            cur.execute(f"INSERT INTO {staging} VALUES ({', '.join(['%s'] * len(values))})", values)
        self.copies.append(statement)


def test_aws_mode_end_to_end_each_component_under_its_own_role(aws, broker_only, warehouse, tmp_path, monkeypatch):
    settings = aws_settings(aws.endpoint, broker_only.home_dir, broker_port=broker_only.broker_port,
                            postgres_port=broker_only.postgres_port)
    config = SimulationConfig(events=400, seed=7, start=START, vehicles=30, progress=False)
    assert run_simulation(broker_only, config).failed == 0
    sent = [orjson.loads(m.value) | {"topic": m.topic} for m in expected_messages(config) if not m.malformed]
    assert {Hour.of(datetime.fromisoformat(e["event_time"])) for e in sent} == {HOUR}

    # streaming writer: Kafka -> raw zone in S3 (executors write, the driver commits a manifest)
    stream = subprocess.run([sys.executable, "-m", "smartcity_commands.cli", "stream", "--available-now"], cwd=ROOT,
                            env=role_env(aws, WRITER, settings), capture_output=True, text=True, timeout=600)
    assert stream.returncode == 0, stream.stderr[-3000:]
    raw = committed_raw(aws)
    by_topic = Counter(e["topic"] for e in sent)
    assert {s: t.num_rows for s, t in raw.items()} == {c.name: by_topic[c.topic] for c in contracts.CONTRACTS
                                                      if by_topic[c.topic]}

    # pipeline: sensor -> one run of the hour, every layer, on its own warm Spark
    with connect_server_as(aws, PIPELINE, tmp_path / "connect", monkeypatch) as connect:
        env = role_env(aws, PIPELINE, settings, SMARTCITY_WAREHOUSE_URL=warehouse,
                       SMARTCITY_SPARK_CONNECT_PORT=str(connect.spark_connect_port))
        done = subprocess.run([sys.executable, "-m", "smartcity_assets_tests.pipeline_process"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    (run,) = json.loads(done.stdout.splitlines()[-1])["runs"]
    assert run["partition"] == HOUR.key and run["success"], run["failures"] or done.stderr[-4000:]
    assert {f"marts/{m.name}" for m in MARTS} <= set(run["assets"])

    # transformed tables in S3, read through their Iceberg tables in Glue with the analyst's keys: each event once
    with aws.acting_as(ANALYST, monkeypatch):
        tables = LakeTables.open(Lake(f"s3://{BUCKET}/{PREFIX}", s3_endpoint_url=aws.endpoint), "glue",
                                 database=DATABASE, glue_endpoint=aws.endpoint)
        gps = tables.read(transformed_table(TABLES_BY_NAME["gps"]), [HOUR])
        mart_files = {m.name: tables.hour_files(mart_table(m), [HOUR]) for m in MARTS}
    assert sorted(gps.column("event_id").to_pylist()) == sorted(raw["gps"].column("event_id").to_pylist())

    # Glue: every table of the run is an Iceberg table (what Athena and Redshift Spectrum read) in the lake
    glue = boto3.client("glue", endpoint_url=aws.endpoint, region_name="us-east-1",
                        aws_access_key_id=aws.keys[ANALYST].access_key,
                        aws_secret_access_key=aws.keys[ANALYST].secret_key,
                        aws_session_token=aws.keys[ANALYST].session_token)
    wanted = {a.split("/")[1] for a in run["assets"] if a.startswith("catalog/")} | {f"marts_{m.name}" for m in MARTS}
    assert {"raw_gps", "transformed_gps", "transformed_gps_matched"} <= wanted
    assert wanted <= {t["Name"] for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    for table in wanted:
        parameters = glue.get_table(DatabaseName=DATABASE, Name=table)["Table"]["Parameters"]
        assert parameters["table_type"] == "ICEBERG", table
        assert parameters["metadata_location"].startswith(f"s3://{BUCKET}/{PREFIX}/"), table

    # the warehouse holds each mart's hour as its lake copy holds it: what Redshift's COPY reads (loader's keys)
    loader_fs = filesystem(aws, LOADER)
    assert all(len(files) == 1 for files in mart_files.values())  # one file per hour and mart
    copies = {m.name: pq.read_table(next(iter(mart_files[m.name])), filesystem=loader_fs) for m in MARTS}
    assert copies["traffic_congestion"].num_rows > 0 and copies["environment"].num_rows > 0
    for mart in MARTS:
        assert warehouse_rows(warehouse, mart) == lake_rows(copies[mart.name], mart), mart.name

    # Redshift's statements for the same partitions, on PostgreSQL: the same rows, replaced in one transaction
    redshift = RedshiftOnPostgres(warehouse, loader_fs)
    for mart in MARTS:
        uri = f"s3://{next(iter(mart_files[mart.name]))}"
        redshift.replace_partition(mart, PartitionData(HOUR, copies[mart.name], uri))
        assert warehouse_rows(warehouse, mart) == lake_rows(copies[mart.name], mart), mart.name
    assert len(redshift.copies) == len(MARTS)

    # analyst: Athena in its workgroup over the catalogued tables
    with aws.acting_as(ANALYST, monkeypatch):
        columns, _ = athena_query(settings, "SELECT count(*) FROM transformed_gps", timeout_s=30)
    assert isinstance(columns, list)


def test_iceberg_tables_need_no_create_database_once_it_exists(aws, monkeypatch, tmp_path):
    """The pipeline's policy has no glue:CreateDatabase, and creating its tables works: the database exists."""
    pipeline = next(r for r in iam.roles(aws_settings(aws.endpoint, tmp_path)) if r.name == PIPELINE)
    assert not any("glue:CreateDatabase" in s["Action"] for s in pipeline.statements)
    with aws.acting_as(PIPELINE, monkeypatch):
        tables = LakeTables.open(Lake(f"s3://{BUCKET}/{PREFIX}", s3_endpoint_url=aws.endpoint), "glue",
                                 database=DATABASE, glue_endpoint=aws.endpoint)
        for table in TABLES[:2]:
            tables.table(transformed_table(table))
            assert tables.exists(transformed_table(table))


def test_a_missing_glue_database_is_a_clear_error_until_an_operator_creates_it(aws, monkeypatch):
    lake = Lake(f"s3://{BUCKET}/{PREFIX}", s3_endpoint_url=aws.endpoint)
    aws.client("glue").delete_database(Name=DATABASE)  # not deployed yet

    def tables() -> LakeTables:
        return LakeTables.open(lake, "glue", database=DATABASE, glue_endpoint=aws.endpoint)

    with aws.acting_as(PIPELINE, monkeypatch):  # missing, and the role may not create it: says how
        with pytest.raises(ConfigError, match=rf"the Glue database {DATABASE} does not exist yet and these "
                                              rf"credentials may not create it: .*aws glue create-database"):
            tables().table(transformed_table(TABLES[0]))
    with aws.acting_as("admin", monkeypatch):  # operator credentials: created with the first table
        tables().table(transformed_table(TABLES[1]))
        assert aws.client("glue").get_database(Name=DATABASE)["Database"]["Name"] == DATABASE
    with aws.acting_as(PIPELINE, monkeypatch):
        assert tables().table(transformed_table(TABLES[0])).name() == (DATABASE, transformed_table(TABLES[0]).name)


def test_redshift_tables_sort_on_the_partition_columns_and_the_rest_runs_on_postgres(warehouse):
    """Redshift's DDL: the shared SQL (run here on PostgreSQL) with DISTSTYLE AUTO and a compound SORTKEY on the
    partition columns on the CREATE TABLE only; PostgreSQL cannot run those two clauses, so they are checked as
    text and the statements without them run."""
    for mart in MARTS:
        statements = create_sql(mart)
        (create,) = [s for s in statements if s.startswith("CREATE TABLE ")]
        assert create.endswith(") DISTSTYLE AUTO COMPOUND SORTKEY (event_date, event_hour)")
        assert sum(table_attributes(mart) in s for s in statements) == 1
        with psycopg2.connect(warehouse) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement.replace(" " + table_attributes(mart), ""))
        columns = query(warehouse, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
                                   f"AND table_name = '{mart.name}' ORDER BY ordinal_position").column_name.tolist()
        assert columns[:2] == ["event_date", "event_hour"] == list(mart.partition_columns)
