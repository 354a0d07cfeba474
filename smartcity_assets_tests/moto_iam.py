"""AWS for the IAM tests: moto in server mode with IAM enforcement, and one role per component created from
the policies `smartcity iam-policies` renders.

moto authorizes S3 calls against bucket and object ARNs, but calls to every other service against the
resource "*", so a policy scoped to one Glue database or one Athena workgroup would be denied everything.
`scoped_authorization` teaches it what AWS does: a Glue call is authorized against the catalog, the
database and the table ARNs it touches (all three must be allowed — AWS Glue docs, "Specifying AWS Glue
resource ARNs"), an Athena call against its workgroup's ARN. And moto 5.2.6 authorizes some S3 calls under
their API's name (s3:ListObjectsV2, s3:HeadObject, ...), which no policy grants: they are authorized under the
IAM action AWS checks for them (s3:ListBucket, s3:GetObject, ... — "Amazon S3 API operations and the
permissions they need" in the S3 docs). Nothing else of moto is changed.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from moto.athena.responses import AthenaResponse
from moto.core.authorization import ActionAuthenticatorMixin
from moto.glue.responses import GlueResponse
from moto.iam.access_control import S3IAMRequest
from moto.server import ThreadedMotoServer

from smartcity_commands.stack import free_port

ADMIN = "admin"



def _glue_resources(response) -> list[str]:
    base = f"arn:aws:glue:{response.region}:{response.current_account}"
    params = json.loads(response.body or "{}")
    action = response._get_action()
    if "Crawler" in action:
        return [f"{base}:crawler/{params.get('Name') or params.get('CrawlerName')}"]
    database = (params.get("DatabaseName") or (params.get("DatabaseInput") or {}).get("Name")
                or (params.get("Name") if action.endswith("Database") else None))
    table = (params.get("TableName") or (params.get("TableInput") or {}).get("Name")
             or (params.get("Name") if action.endswith("Table") else None))
    resources = [f"{base}:catalog"]
    if database:
        resources.append(f"{base}:database/{database}")
        if table:
            resources.append(f"{base}:table/{database}/{table}")
    return resources


def _athena_resources(response) -> list[str]:
    params = json.loads(response.body or "{}")
    workgroup = params.get("WorkGroup")
    if workgroup is None and "QueryExecutionId" in params:
        try:
            execution = response.athena_backend.get_query_execution(params["QueryExecutionId"])
            workgroup = execution.workgroup.name if execution.workgroup else None
        except Exception:  # unknown id: moto answers that itself
            pass
    return [f"arn:aws:athena:{response.region}:{response.current_account}:workgroup/{workgroup or 'primary'}"]


# S3 API operations moto names as actions -> the IAM action AWS authorizes them with
S3_IAM_ACTIONS = {"ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket",
                  "HeadObject": "GetObject", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
                  "CompleteMultipartUpload": "PutObject", "ListObjectVersions": "ListBucketVersions",
                  "DeleteObjects": "DeleteObject"}


def scoped_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    """Authorize Glue and Athena calls against their resource ARNs instead of "*", S3 calls under their IAM
    action."""
    check = S3IAMRequest.check_action_permitted

    def check_s3(self, resource: str) -> None:
        service, _, operation = self._action.partition(":")
        self._action = f"{service}:{S3_IAM_ACTIONS.get(operation, operation)}"
        check(self, resource)

    monkeypatch.setattr(S3IAMRequest, "check_action_permitted", check_s3)
    for response_class, resources in ((GlueResponse, _glue_resources), (AthenaResponse, _athena_resources)):
        def authorize(self, resource: str = "*", _resources=resources) -> None:
            for arn in _resources(self):
                ActionAuthenticatorMixin._authenticate_and_authorize_normal_action(self, arn)

        monkeypatch.setattr(response_class, "_authenticate_and_authorize_normal_action", authorize, raising=False)


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


class EnforcingAws:
    """A moto server: `bootstrap()` runs without authentication, then `enforce()` checks every call."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.keys: dict[str, Keys] = {}

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self.server.start()
        # moto's state is per process and shared by its servers: start from nothing (other tests' buckets)
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        self._auth("inf")

    def stop(self) -> None:
        self._auth("inf")
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10)
        self.server.stop()

    def enforce(self) -> None:
        self._auth("0")

    def _auth(self, free_calls: str) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=free_calls.encode(), timeout=10).raise_for_status()

    def client(self, service: str, keys: Keys | None = None):
        keys = keys or self.keys.get(ADMIN) or Keys("bootstrap", "bootstrap")
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=keys.access_key, aws_secret_access_key=keys.secret_key,
                            aws_session_token=keys.session_token)

    def create_admin(self) -> None:
        iam = self.client("iam")
        iam.create_user(UserName=ADMIN)
        iam.put_user_policy(UserName=ADMIN, PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName=ADMIN)["AccessKey"]
        self.keys[ADMIN] = Keys(key["AccessKeyId"], key["SecretAccessKey"])

    def create_role(self, name: str, policies: Path) -> None:
        """The role from its rendered trust and permission documents; its temporary keys (AssumeRole)."""
        iam, sts = self.client("iam"), self.client("sts")
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=(policies / f"{name}.trust.json").read_text())
        iam.put_role_policy(RoleName=name, PolicyName=name,
                            PolicyDocument=(policies / f"{name}.policy.json").read_text())
        creds = sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName=f"{name}-test")["Credentials"]
        self.keys[name] = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    @contextmanager
    def acting_as(self, name: str, monkeypatch: pytest.MonkeyPatch):
        """The process's default AWS credentials (what pyarrow and boto3 pick up) are those of `name`."""
        with monkeypatch.context() as patched:
            patched.setattr(boto3, "DEFAULT_SESSION", None)  # boto3's default session caches credentials
            for variable, value in self.keys[name].env().items():
                patched.setenv(variable, value)
            if not self.keys[name].session_token:
                patched.delenv("AWS_SESSION_TOKEN", raising=False)
            yield
