"""Security: least-privilege IAM proven against moto with IAM enforcement, secrets kept out of everything a
user or operator sees, identifiers checked before they reach SQL or object keys.

The IAM tests create one role per component from the policies `smartcity iam-policies` renders, then run
each component's own library code with that role's temporary keys:

- streaming writer: `streaming.parse.parse_batch` and the lake sink (`LakeStreamWriter.write_batch` on the
  executors, `commit` on the driver: Parquet files + commit manifest);
- pipeline: the manifest sensor's `manifests.list_after`, `LakeReader.read_partition`, `Lake.write_parquet`
  at the transformed and mart paths, and the Dagster catalog asset (GlueCatalog);
- warehouse loader: `Lake.read_parquet` of a mart's lake copy (what Redshift COPY reads);
- analyst: `athena_query` / `smartcity query` in AWS mode, `read_transformed`, Glue reads.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from smartcity.catalog.glue import GlueCatalog
from smartcity.catalog.query import athena_query
from smartcity.errors import AccessDenied
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.reader import LakeReader
from smartcity.security import iam
from smartcity.settings import load_settings
from smartcity.simulator.run import EventStream, SimulationConfig
from smartcity_assets.catalog import CATALOG, CatalogResource, catalog_key, table_def
from smartcity_assets.transformed import TABLES, read_transformed, transformed_path
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
MART = "marts/traffic_congestion/event_date=2026-11-29/event_hour=10/data.parquet"


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

    def glue(self, database: str = "smartcity") -> GlueCatalog:
        return GlueCatalog(database, self.settings.lake, self.settings.aws_region, self.settings.aws_endpoint_url)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """Roles created from the rendered policies; the streaming writer has landed one micro-batch and the
    pipeline has written the transformed partition and a mart's lake copy of its hour."""
    home = tmp_path_factory.mktemp("iam")
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
            aws.client("glue").create_database(DatabaseInput={"Name": "other_db"})
            aws.create_admin()
            for role in (WRITER, PIPELINE, LOADER, ANALYST):
                aws.create_role(role, home / "policies")
            aws.enforce()
            p = Platform(aws, settings, monkeypatch)
            with p.acting_as(WRITER):
                sink = p.sink()
                sink.commit([sink.write_batch(iter(parse_batch(kafka_records(3000), START)), 0)], 0)
            with p.acting_as(PIPELINE):
                lake = p.lake()
                gps = LakeReader(lake).read_partition(layout.PartitionKey("raw", "gps", "2026-11-29", 10))
                lake.write_parquet(gps, lake.path(transformed_path("gps", HOUR)))
                lake.write_parquet(pa.table({"segment_id": ["SEG-0001"], "vehicles": [3]}), lake.path(MART))
            yield p
        finally:
            aws.stop()


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
        replay = sink.write_batch(iter(parse_batch(kafka_records(200), START)), 0)
        with caplog.at_level(logging.WARNING, "smartcity.streaming.lake_sink"):
            sink.commit([replay], 0)
        assert "may not delete" in caplog.text
        raw_file = lake.path(next(f.path for f in batch.files if f.zone == "raw"))
        with pytest.raises(AccessDenied, match=DENIED.format(r"write s3://city-lake/smartcity/transformed/")):
            lake.write_parquet(pa.table({"x": [1]}), lake.path(transformed_path("gps", HOUR)))
        with pytest.raises(AccessDenied, match=DENIED.format("delete s3://city-lake/smartcity/raw/")):
            lake.delete(raw_file)
        with pytest.raises(AccessDenied, match=DENIED.format("read s3://city-lake/smartcity/raw/")):
            lake.read_parquet([raw_file])
        with pytest.raises(AccessDenied, match=DENIED.format("create the Glue database smartcity")):
            p.glue().ensure_database()
    assert committed_rows(p) == rows


def test_pipeline_reads_raw_writes_transformed_and_manages_its_glue_database(platform):
    p = platform
    with p.acting_as(PIPELINE):
        lake = p.lake()
        found, cursor = manifests.list_after(lake, manifests.Cursor())  # what the manifest sensor does
        assert [m.batch_id for m in found] == [0] and cursor == {STREAM: 0}
        gps = read_transformed(lake, "gps", HOUR)
        assert gps.num_rows == sum(f.rows for f in found[0].files if f.zone == "raw" and f.source == "gps") > 0
        catalog = CatalogResource(kind="glue", lake_uri=p.settings.lake, database="smartcity",
                                  region=p.settings.aws_region, endpoint_url=p.settings.aws_endpoint_url)
        gps_catalog = next(a for a in CATALOG if a.key == catalog_key("gps"))
        result = dg.materialize([gps_catalog], partition_key=HOUR, resources={"catalog": catalog})
        assert result.success
        assert [x["Values"] for x in p.glue().partitions("transformed_gps")] == [["2026-11-29", "10"]]

        raw_file = lake.path(next(f.path for f in found[0].files if f.zone == "raw"))
        with pytest.raises(AccessDenied, match=DENIED.format("write s3://city-lake/smartcity/raw/")):
            lake.write_parquet(gps, lake.path("raw/source=gps/event_date=2026-11-29/event_hour=10/x.parquet"))
        with pytest.raises(AccessDenied, match=DENIED.format("delete s3://city-lake/smartcity/raw/")):
            lake.delete(raw_file)
        with pytest.raises(AccessDenied, match=DENIED.format("read s3://city-lake/smartcity/quarantine/")):
            lake.read_bytes(lake.path(next(f.path for f in found[0].files if f.zone == "quarantine")))
        with pytest.raises(AccessDenied, match=DENIED.format("create the Glue database other_db")):
            p.glue("other_db").register_table(table_def(TABLES[0]))

        # the same denial inside a Dagster run: the run fails with the message, not a botocore dump
        other = CatalogResource(kind="glue", lake_uri=p.settings.lake, database="other_db",
                                region=p.settings.aws_region, endpoint_url=p.settings.aws_endpoint_url)
        failed = dg.materialize([gps_catalog], partition_key=HOUR, resources={"catalog": other}, raise_on_error=False)
    assert not failed.success
    (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error.cause  # Dagster wraps what the asset raised
    assert error.cls_name == "AccessDenied" and error.cause is None  # no botocore error chained below it
    assert "cannot create the Glue database other_db" in error.message and "lack permission" in error.message


def test_warehouse_loader_reads_only_the_marts(platform):
    p = platform
    with p.acting_as(LOADER):
        lake = p.lake()
        assert lake.read_parquet([lake.path(MART)]).column("vehicles").to_pylist() == [3]
        assert [i.base_name for i in lake.list_dir(lake.path(MART.rsplit("/", 1)[0]))] == ["data.parquet"]
        with pytest.raises(AccessDenied, match=DENIED.format("read s3://city-lake/smartcity/transformed/")):
            read_transformed(lake, "gps", HOUR)
        with pytest.raises(AccessDenied, match=DENIED.format("write s3://city-lake/smartcity/marts/")):
            lake.write_parquet(pa.table({"x": [1]}), lake.path(MART))
        with pytest.raises(AccessDenied, match=DENIED.format("list the partitions of the Glue table")):
            p.glue().partitions("transformed_gps")


def test_analyst_queries_in_own_workgroup_and_reads_transformed_only(platform):
    p = platform
    with p.acting_as(ANALYST):
        columns, rows = athena_query(p.settings, "SELECT count(*) FROM transformed_gps", timeout_s=30)
        assert isinstance(columns, list) and isinstance(rows, list)
        lake = p.lake()
        assert read_transformed(lake, "gps", HOUR).num_rows > 0
        assert lake.read_parquet([lake.path(MART)]).num_rows == 1
        assert len(p.glue().partitions("transformed_gps")) == 1

        elsewhere = p.settings.model_copy(update={"athena_workgroup": "other"})
        with pytest.raises(AccessDenied, match=DENIED.format("run an Athena query in the workgroup other")):
            athena_query(elsewhere, "SELECT 1", timeout_s=30)
        with pytest.raises(AccessDenied, match=DENIED.format("list the partitions of the Glue table other_db")):
            p.glue("other_db").partitions("anything")
        with pytest.raises(AccessDenied, match=DENIED.format("create the Glue database smartcity .*as arn:aws:sts::123456789012:assumed-role/smartcity-analyst")):
            p.glue().register_table(table_def(TABLES[0]))
        # (moto does not evaluate the s3:prefix condition on listing, so the manifest read is what fails here)
        with pytest.raises(AccessDenied, match=DENIED.format("read s3://city-lake/smartcity/_manifests/raw/")):
            LakeReader(lake).read_partition(layout.PartitionKey("raw", "gps", "2026-11-29", 10))
        with pytest.raises(AccessDenied, match=DENIED.format("write s3://city-lake/smartcity/transformed/")):
            lake.write_parquet(pa.table({"x": [1]}), lake.path(transformed_path("gps", HOUR)))

    # the command line reports the denial in one line, no traceback
    env = {**os.environ, **p.aws.keys[ANALYST].env(), "SMARTCITY_ENV": "aws", "SMARTCITY_HOME": str(p.settings.home),
           "SMARTCITY_LAKE_URI": p.settings.lake, "SMARTCITY_AWS_ENDPOINT_URL": p.aws.endpoint,
           "SMARTCITY_ATHENA_WORKGROUP": "other"}
    cli = subprocess.run([sys.executable, "-m", "smartcity.cli", "query", "SELECT 1"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "access denied: cannot run an Athena query in the workgroup other" in cli.stderr


@pytest.mark.parametrize("role", [WRITER, PIPELINE, LOADER, ANALYST])
def test_no_role_deletes_lake_data(platform, role):
    p = platform
    with p.acting_as("admin"):
        (batch,), _ = manifests.list_after(p.lake(), manifests.Cursor())
    with p.acting_as(role):
        lake = p.lake()
        for path in (batch.files[0].path, transformed_path("gps", HOUR), MART,
                     layout.manifest_path(STREAM, 0)):
            with pytest.raises(AccessDenied, match=DENIED.format("delete")):
                lake.delete(lake.path(path))
    with p.acting_as("admin"):
        assert read_transformed(p.lake(), "gps", HOUR).num_rows > 0
