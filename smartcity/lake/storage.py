"""`Lake`: one root URI (file:///path or s3://bucket/prefix) and the pyarrow filesystem behind it.

Picklable (Spark ships it to executors); the filesystem is created lazily in each process. S3 goes
through `pyarrow.fs.S3FileSystem` with an optional endpoint override for S3-compatible services
(MinIO, moto); credentials come from the usual AWS environment variables / instance profile.
Every operation is retried on transient S3 errors (throttling, 5xx, timeouts): see `smartcity.lake.retry`.
"""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from smartcity.errors import ConfigError
from smartcity.lake.retry import RetryPolicy, retrying
from smartcity.security.denials import reports_lake_denials


@reports_lake_denials  # a permission denial becomes AccessDenied naming the object (never retried)
@dataclass(frozen=True)
class Lake:
    uri: str
    s3_endpoint_url: str | None = None
    region: str = "us-east-1"
    s3_max_attempts: int = 5  # per request, by the S3 clients (pyarrow, boto3)
    s3_timeout_s: float = 10.0  # connect and request timeout of the S3 clients
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # whole operations, on top of the clients' attempts
    _fs: list = field(default_factory=list, init=False, repr=False, compare=False)  # lazy, per process

    def __post_init__(self) -> None:
        scheme = urlparse(self.uri).scheme
        if scheme not in ("file", "s3"):
            raise ConfigError(f"lake URI must start with file:// or s3://, got {self.uri!r} (SMARTCITY_LAKE_URI)")

    @classmethod
    def from_settings(cls, settings) -> "Lake":
        return cls(settings.lake, settings.s3_endpoint_url, settings.aws_region, settings.s3_max_attempts,
                   settings.s3_timeout_s, RetryPolicy(settings.lake_retries, settings.lake_retry_backoff_s))

    def options(self) -> dict[str, str]:
        """The data source options that rebuild this lake on Spark executors (`from_options`). No credentials:
        executors take theirs from their environment (instance profile, role of the process)."""
        return {"lake": self.uri, "s3EndpointUrl": self.s3_endpoint_url or "", "region": self.region,
                "s3MaxAttempts": str(self.s3_max_attempts), "s3TimeoutS": str(self.s3_timeout_s),
                "lakeRetries": str(self.retry.retries), "lakeRetryBackoffS": str(self.retry.backoff_s)}

    @classmethod
    def from_options(cls, options: dict[str, str], who: str) -> "Lake":
        """The lake that `options()` describes (option names in any case); `who` names the data source."""
        o = {k.lower(): v for k, v in options.items()}
        if "lake" not in o:
            raise ValueError(f"{who} needs the option lake (a file:// or s3:// URI)")
        return cls(o["lake"], o.get("s3endpointurl") or None, o.get("region", "us-east-1"),
                   int(o.get("s3maxattempts", 5)), float(o.get("s3timeouts", 10.0)),
                   RetryPolicy(int(o.get("lakeretries", 3)), float(o.get("lakeretrybackoffs", 1.0))))

    def __getstate__(self):
        return {"uri": self.uri, "s3_endpoint_url": self.s3_endpoint_url, "region": self.region,
                "s3_max_attempts": self.s3_max_attempts, "s3_timeout_s": self.s3_timeout_s, "retry": self.retry}

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_fs", [])

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def root(self) -> str:
        """Root path as the filesystem sees it: `/abs/path` locally, `bucket/prefix` on S3."""
        parsed = urlparse(self.uri)
        if self.is_s3:
            return (parsed.netloc + parsed.path).rstrip("/")
        return unquote(parsed.path).rstrip("/") or "/"  # file:// URIs percent-encode spaces, quotes, ...

    @property
    def fs(self) -> pafs.FileSystem:
        if not self._fs:
            if self.is_s3:
                # explicit: the standard strategy retries throttling, 5xx and timeouts, never AccessDenied
                kwargs = {"region": self.region, "connect_timeout": self.s3_timeout_s,
                          "request_timeout": self.s3_timeout_s,
                          "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=self.s3_max_attempts)}
                if self.s3_endpoint_url:
                    endpoint = urlparse(self.s3_endpoint_url)
                    kwargs.update(endpoint_override=endpoint.netloc or endpoint.path,
                                  scheme=endpoint.scheme or "https")
                self._fs.append(pafs.S3FileSystem(**kwargs))
            else:
                self._fs.append(pafs.LocalFileSystem())
        return self._fs[0]

    # -- paths ------------------------------------------------------------------------------------

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def uri_of(self, path: str) -> str:
        return ("s3://" if self.is_s3 else "file://") + path

    def relative(self, path: str) -> str:
        return path[len(self.root) + 1:]

    # -- operations ---------------------------------------------------------------------------------

    def _retrying(self, what: str, operation):
        return retrying(what, self.uri, self.retry, operation)

    def exists(self, path: str) -> bool:
        return self._retrying(f"checking {self.relative(path)}",
                              lambda: self.fs.get_file_info(path).type != pafs.FileType.NotFound)

    def read_bytes(self, path: str) -> bytes:
        def read() -> bytes:
            with self.fs.open_input_stream(path) as f:
                return f.read()

        return self._retrying(f"reading {self.relative(path)}", read)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole object so that readers see all of it or nothing (S3 PUT; local rename).

        Retried whole on transient errors: writing the same bytes to the same path again is harmless.
        """
        self._retrying(f"writing {self.relative(path)}", lambda: self._write_bytes(path, data))

    def _write_bytes(self, path: str, data: bytes) -> None:
        if self.is_s3:
            with self.fs.open_output_stream(path) as f:
                f.write(data)
            return
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with self.fs.open_output_stream(tmp) as f:
            f.write(data)
        self.fs.move(tmp, path)

    def create_bytes(self, path: str, data: bytes) -> bool:
        """Write a whole object only if nothing is at `path` yet: True when this call created it, False when it
        existed. Two writers racing for one path cannot both win: a local hard link of a finished temporary
        file (fails if the name exists), a conditional S3 PUT (`If-None-Match: *`).

        Retried on transient errors; an attempt whose answer was lost may make a retry find the object and
        answer False, so a caller that gets False reads the object to see whose it is."""
        return self._retrying(f"creating {self.relative(path)}", lambda: self._create_bytes(path, data))

    def _create_bytes(self, path: str, data: bytes) -> bool:
        if self.is_s3:
            from botocore.exceptions import ClientError

            bucket, _, key = path.partition("/")
            try:
                self.s3_client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
            except ClientError as exc:
                if exc.response["Error"]["Code"] in ("PreconditionFailed", "412"):
                    return False
                raise
            return True
        folder = path.rsplit("/", 1)[0]
        self.fs.create_dir(folder, recursive=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with self.fs.open_output_stream(tmp) as f:
            f.write(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        return True

    def write_parquet(self, table: pa.Table, path: str) -> int:
        """Write one Parquet file (zstd) atomically; returns its size in bytes."""
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd", row_group_size=256 * 1024)
        data = buffer.getvalue()
        self.write_bytes(path, data)
        return len(data)

    def read_parquet(self, paths: list[str], schema: pa.Schema | None = None) -> pa.Table:
        if not paths:
            return schema.empty_table() if schema is not None else pa.table({})
        tables = [self._retrying(f"reading {self.relative(p)}", lambda p=p: pq.read_table(p, filesystem=self.fs))
                  for p in paths]
        return pa.concat_tables(tables, promote_options="default")

    def read_parquet_part(self, path: str, part: int, parts: int) -> pa.Table:
        """Share `part` of `parts` of a Parquet file's row groups (all of it when `parts` is 1)."""
        def read() -> pa.Table:
            with self.fs.open_input_file(path) as f:
                parquet = pq.ParquetFile(f)
                groups = parquet.metadata.num_row_groups
                return parquet.read_row_groups(range(part * groups // parts, (part + 1) * groups // parts))
        return self._retrying(f"reading {self.relative(path)}", read)

    def parquet_rows(self, path: str) -> int:
        """Rows of a Parquet file, from its footer (the data is not read)."""
        return self.parquet_footer(path).num_rows

    def parquet_footer(self, path: str) -> pq.FileMetaData:
        """The footer of a Parquet file: rows, schema, row groups (the data is not read)."""
        def footer() -> pq.FileMetaData:
            with self.fs.open_input_file(path) as f:
                return pq.ParquetFile(f).metadata
        return self._retrying(f"reading the footer of {self.relative(path)}", footer)

    def size(self, path: str) -> int:
        """Bytes of one object."""
        return self._retrying(f"checking {self.relative(path)}", lambda: self.fs.get_file_info(path).size)

    def list_dir(self, path: str, recursive: bool = False) -> list[pafs.FileInfo]:
        """Files below `path` (empty if it does not exist), in name order."""
        selector = pafs.FileSelector(path, recursive=recursive, allow_not_found=True)
        listed = self._retrying(f"listing {self.relative(path)}", lambda: self.fs.get_file_info(selector))
        infos = [i for i in listed if i.type == pafs.FileType.File]
        return sorted(infos, key=lambda i: i.path)

    def list_subdirs(self, path: str) -> list[str]:
        selector = pafs.FileSelector(path, recursive=False, allow_not_found=True)
        listed = self._retrying(f"listing {self.relative(path)}", lambda: self.fs.get_file_info(selector))
        return sorted(i.base_name for i in listed if i.type == pafs.FileType.Directory)

    def list_names_after(self, directory: str, after: str) -> list[str]:
        """Names of the files directly in `directory` that sort after `after`, in order.

        On S3 this is one ListObjectsV2 with StartAfter, so its cost grows with what is new, not with
        what was listed before; locally it is a directory scan (names only, no file is opened).
        """
        if not self.is_s3:
            try:
                return sorted(n for n in os.listdir(directory) if n > after and ".tmp-" not in n)
            except FileNotFoundError:
                return []
        bucket, _, prefix = directory.partition("/")
        prefix = prefix + "/"

        def list_names() -> list[str]:
            names = []
            paginator = self.s3_client().get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/", StartAfter=prefix + after):
                names += [o["Key"][len(prefix):] for o in page.get("Contents", [])]
            return names

        return self._retrying(f"listing {self.relative(directory)}", list_names)

    def s3_client(self):
        import boto3
        from botocore.config import Config

        # standard mode retries throttling (SlowDown), 5xx and timeouts with backoff; the legacy default
        # gives up on a 500 after two retries
        config = Config(retries={"mode": "standard", "total_max_attempts": self.s3_max_attempts},
                        connect_timeout=self.s3_timeout_s, read_timeout=self.s3_timeout_s)
        return boto3.client("s3", region_name=self.region, endpoint_url=self.s3_endpoint_url, config=config)

    def delete(self, path: str) -> None:
        def delete() -> None:
            try:
                self.fs.delete_file(path)
            except FileNotFoundError:
                pass

        self._retrying(f"deleting {self.relative(path)}", delete)
