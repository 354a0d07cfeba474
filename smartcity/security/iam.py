"""Least-privilege IAM policies, one role per component, rendered from the settings.

    smartcity-streaming-writer  the streaming job: writes the raw zone, its quarantine and commit manifests
    smartcity-pipeline          Dagster + Spark: reads raw, writes transformed, marts, catalog files and the report,
                                owns its Glue database
    smartcity-warehouse-loader  the role Redshift COPY assumes: reads the marts' lake copies
    smartcity-analyst           reads transformed, marts and the report, queries them with Athena in one workgroup

Every S3 statement is scoped to the lake's prefixes (objects) or to listing those prefixes (bucket), every
Glue statement to the catalog, the one database and its tables, every Athena statement to one workgroup.
Nothing may delete lake data: the raw zone is append-only (a replayed batch leaves invisible files, never
a gap), and transformed / marts partitions are replaced by overwriting one object.

`smartcity iam-policies --out DIR` writes `<role>.policy.json` (permissions) and `<role>.trust.json`
(who may assume it) per role; `deploy/iam/` holds them rendered for the example settings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from smartcity.errors import ConfigError
from smartcity.lake import layout
from smartcity.settings import Settings

TRANSFORMED, MARTS, REPORT = layout.TRANSFORMED, layout.MARTS, layout.REPORT  # zones the pipeline writes
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.()=-]+(/[A-Za-z0-9!_.()=-]+)*$")  # no wildcard may widen a policy

# No glue:CreateDatabase: the database is created once at deployment (docs/security.md); the catalog looks
# before it creates (`smartcity.lake.iceberg`). No partition actions: an Iceberg table's partitions live in its
# own metadata, and a commit is one glue:UpdateTable (pyiceberg passes the table's VersionId, so Glue refuses a
# commit whose base is no longer current; IAM has no condition key for it).
GLUE_PIPELINE = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable"]
GLUE_READ = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables"]
ATHENA_QUERY = ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                "athena:StopQueryExecution", "athena:GetWorkGroup"]
WRITE = ["s3:PutObject", "s3:AbortMultipartUpload"]  # multipart uploads are s3:PutObject too


@dataclass(frozen=True)
class Location:
    """A bucket and a key prefix ('' = the whole bucket)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str, setting: str) -> "Location":
        parsed = urlparse(uri)
        if parsed.scheme not in ("s3", "s3a"):
            raise ConfigError(f"IAM policies are for an S3 deployment: {setting} must be s3://bucket[/prefix], "
                              f"got {uri!r}")
        prefix = parsed.path.strip("/")
        if not _BUCKET.match(parsed.netloc) or (prefix and not _PREFIX.match(prefix)):
            raise ConfigError(f"{setting}: {uri!r} is not a plain s3://bucket/prefix (letters, digits, !_.()=- "
                              "and / only; a wildcard would widen the policies)")
        return cls(parsed.netloc, prefix)

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def objects(self, *folders: str) -> list[str]:
        return [f"arn:aws:s3:::{self.bucket}/{self.key(f)}/*" if self.key(f) else f"arn:aws:s3:::{self.bucket}/*"
                for f in folders]

    def listing(self, *folders: str) -> list[str]:
        return [f"{self.key(f)}/*" if self.key(f) else "*" for f in folders]


@dataclass(frozen=True)
class Scope:
    """Everything a policy is scoped to, taken from the settings."""

    lake: Location
    athena_results: Location
    checkpoint: Location | None  # when the streaming checkpoint lives in S3
    partition: str  # aws, aws-cn, aws-us-gov
    region: str
    account: str
    database: str
    workgroup: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "Scope":
        if not settings.aws_account_id:
            raise ConfigError("set SMARTCITY_AWS_ACCOUNT_ID (12 digits) to render IAM policies for that account")
        checkpoint = urlparse(settings.checkpoint)
        region = settings.aws_region
        partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        return cls(Location.parse(settings.lake, "SMARTCITY_LAKE_URI"),
                   Location.parse(settings.athena_results, "SMARTCITY_ATHENA_OUTPUT"),
                   Location.parse(settings.checkpoint, "SMARTCITY_CHECKPOINT_LOCATION")
                   if checkpoint.scheme in ("s3", "s3a") else None,
                   partition, region, settings.aws_account_id, settings.glue_database, settings.athena_workgroup)

    def glue(self) -> list[str]:
        """Glue authorizes a table call against the catalog, the database and the table: all three needed."""
        base = f"arn:{self.partition}:glue:{self.region}:{self.account}"
        return [f"{base}:catalog", f"{base}:database/{self.database}", f"{base}:table/{self.database}/*"]

    def workgroup_arn(self) -> str:
        return f"arn:{self.partition}:athena:{self.region}:{self.account}:workgroup/{self.workgroup}"


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    trusted: dict  # Principal of the trust policy
    statements: list[dict]

    def policy(self) -> dict:
        return {"Version": "2012-10-17", "Statement": self.statements}

    def trust_policy(self) -> dict:
        return {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": self.trusted, "Action": "sts:AssumeRole"}]}


def _allow(sid: str, actions: list[str], resources: list[str], condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _arn(scope: Scope, resource: str) -> str:
    return resource.replace("arn:aws:", f"arn:{scope.partition}:", 1)


def _list(sid: str, scope: Scope, where: Location, *folders: str) -> dict:
    """ListBucket limited to some prefixes (a missing object is then a 404, not a 403)."""
    return _allow(sid, ["s3:ListBucket"], [_arn(scope, f"arn:aws:s3:::{where.bucket}")],
                  {"StringLike": {"s3:prefix": where.listing(*folders)}})


def _objects(sid: str, scope: Scope, actions: list[str], where: Location, *folders: str) -> dict:
    return _allow(sid, actions, [_arn(scope, r) for r in where.objects(*folders)])


def roles(settings: Settings) -> list[Role]:
    s = Scope.from_settings(settings)
    lake, raw_zone = s.lake, (layout.RAW, layout.QUARANTINE, layout.MANIFESTS)
    writer = [
        _objects("WriteRawZoneAndManifests", s, WRITE, lake, *raw_zone),
        _objects("ReadManifestsForIdempotentCommit", s, ["s3:GetObject"], lake, layout.MANIFESTS),
        _list("ListRawZone", s, lake, *raw_zone),
    ]
    if s.checkpoint is not None:
        writer += [_objects("StreamingCheckpoint", s, ["s3:GetObject", "s3:DeleteObject", *WRITE], s.checkpoint, ""),
                   _list("ListStreamingCheckpoint", s, s.checkpoint, "")]
    return [
        Role("smartcity-streaming-writer",
             "Streaming job (Spark driver and executors): appends Parquet files to raw/ and quarantine/ and "
             "commits manifests under _manifests/raw/; cannot read data back, delete or touch other zones.",
             {"Service": ["ec2.amazonaws.com"]}, writer),
        Role("smartcity-pipeline",
             "Dagster and its Spark runs: read committed raw data, write transformed tables and mart lake copies, "
             f"register tables and partitions in the Glue database {s.database}; cannot delete lake data.",
             {"Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]}, [
                 _objects("ReadCommittedRawTransformedAndMarts", s, ["s3:GetObject"], lake,
                          layout.RAW, layout.MANIFESTS, TRANSFORMED, MARTS, layout.RAW_TABLES),
                 # the raw zone's Iceberg metadata, the transformed and mart Iceberg tables, the report
                 _objects("WriteTransformedMartsAndCatalogFiles", s, WRITE, lake, TRANSFORMED, MARTS,
                          layout.RAW_TABLES, REPORT),
                 _list("ListPipelineZones", s, lake, layout.RAW, layout.MANIFESTS, TRANSFORMED, MARTS,
                       layout.RAW_TABLES, REPORT),
                 _allow("ManageOwnGlueDatabase", GLUE_PIPELINE, s.glue()),
             ]),
        Role("smartcity-warehouse-loader",
             "Assumed by Redshift for COPY ... IAM_ROLE: reads the marts' Parquet lake copies, nothing else.",
             {"Service": ["redshift.amazonaws.com"]}, [
                 _objects("ReadMarts", s, ["s3:GetObject"], lake, MARTS),
                 _list("ListMarts", s, lake, MARTS),
             ]),
        Role("smartcity-analyst",
             f"Analysts and BI: read transformed tables and marts, query them with Athena in the workgroup "
             f"{s.workgroup} (Glue read-only), write query results under {settings.athena_results}.",
             {"AWS": [f"arn:{s.partition}:iam::{s.account}:root"]}, [
                 _objects("ReadTransformedMartsAndReport", s, ["s3:GetObject"], lake, TRANSFORMED, MARTS, REPORT),
                 _list("ListTransformedMartsAndReport", s, lake, TRANSFORMED, MARTS, REPORT),
                 _allow("QueryInOwnWorkgroup", ATHENA_QUERY, [s.workgroup_arn()]),
                 _allow("ReadCatalog", GLUE_READ, s.glue()),
                 _objects("WriteAndReadQueryResults", s, ["s3:GetObject", "s3:ListMultipartUploadParts", *WRITE],
                          s.athena_results, ""),
                 _list("ListQueryResults", s, s.athena_results, ""),
                 _allow("LocateResultsBucket", ["s3:GetBucketLocation"],
                        [_arn(s, f"arn:aws:s3:::{s.athena_results.bucket}")]),
             ]),
    ]


def render(settings: Settings, out: Path) -> list[Path]:
    """Write `<role>.policy.json` and `<role>.trust.json` for every role; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for role in roles(settings):
        for suffix, document in (("policy", role.policy()), ("trust", role.trust_policy())):
            path = out / f"{role.name}.{suffix}.json"
            path.write_text(json.dumps(document, indent=2) + "\n")
            written.append(path)
    return written
