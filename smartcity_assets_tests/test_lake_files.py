"""The lake's files as a Spark data source (`smartcity.spark.lake_files`) on small hand-built files, in a local
folder and in S3 (a moto server): only committed files are read, one input partition per group of small files or
share of a large one's row groups, and the rows and schema equal what pyarrow reads from the same files on its
own; a written file is the frame's rows sorted, replaced whole, and an empty frame still gives a file with the
schema."""

from __future__ import annotations

import json
import pickle
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from smartcity.lake import Lake, layout, manifests
from smartcity.lake.layout import Hour
from smartcity.lake.manifests import DataFile, Manifest
from smartcity.lake.schemas import RAW_FILE_SCHEMAS
from smartcity.spark.inputs import lake_frame, raw_rows
from smartcity.spark.transform import write_sorted
from smartcity.spark.types import spark_from_arrow

from .helpers import moto_server

HOUR = Hour("2026-11-29", 10)
STREAM = "0f" * 8
T0 = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)


class Files:
    """Where the test writes and reads with pyarrow alone: the lake's filesystem and root, independently."""

    def __init__(self, lake: Lake, fs: pafs.FileSystem, root: str):
        self.lake, self.fs, self.root = lake, fs, root

    def write(self, relative: str, table: pa.Table, row_group_size: int | None = None) -> str:
        path = f"{self.root}/{relative}"
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        pq.write_table(table, path, filesystem=self.fs, row_group_size=row_group_size)
        return path

    def read(self, paths: list[str]) -> pa.Table:
        return pa.concat_tables([pq.read_table(p, filesystem=self.fs) for p in paths])


@pytest.fixture(params=["local", "s3"])
def files(request, tmp_path):
    if request.param == "local":
        yield Files(Lake((tmp_path / "lake").as_uri()), pafs.LocalFileSystem(), str(tmp_path / "lake"))
        return
    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="city-lake")
        fs = pafs.S3FileSystem(endpoint_override=endpoint.removeprefix("http://"), scheme="http",
                               region="us-east-1", access_key="testing", secret_key="testing")
        yield Files(Lake("s3://city-lake/smartcity", endpoint), fs, "city-lake/smartcity")


def gps_rows(n: int, first: int) -> pa.Table:
    """`n` raw GPS rows (offsets first..first+n-1) in the raw file schema."""
    rows = [{"event_id": str(uuid.UUID(int=first + i)), "vehicle_id": f"V{(first + i) % 7:03d}",
             "event_time": T0 + timedelta(seconds=first + i), "latitude": 52.3 + i / 1e4, "longitude": 4.9,
             "speed_kmh": float(i % 50), "heading_deg": 90.0, "accuracy_m": 3.0, "satellites": 9,
             "kafka_topic": "smartcity.gps", "kafka_partition": 0, "kafka_offset": first + i,
             "kafka_timestamp": T0, "ingest_time": T0} for i in range(n)]
    schema = RAW_FILE_SCHEMAS["gps"]
    return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)


def land(files: Files, batch: int, table: pa.Table, commit: bool = True, row_group_size: int | None = None) -> str:
    """A raw GPS file of hour 10 as the streaming sink names it; its manifest when `commit`."""
    relative = (f"{layout.PartitionKey.raw('gps', HOUR).directory}/"
                f"{layout.data_file_name(STREAM, batch, uuid.uuid4().hex)}")
    path = files.write(relative, table, row_group_size)
    if commit:
        manifests.commit(files.lake, Manifest(STREAM, batch, manifests.now_iso(), [
            DataFile(relative, "raw", "gps", HOUR.date, HOUR.hour, table.num_rows, 0)], []))
    return path


def arrow_of(frame, key: str = "event_id") -> pa.Table:
    return frame.toArrow().sort_by(key)


def test_reads_exactly_the_committed_raw_files(files, spark):
    committed = [land(files, b, gps_rows(n, 100 * b)) for b, n in ((0, 5), (1, 3), (2, 4))]
    land(files, 3, gps_rows(6, 300), commit=False)  # a batch that crashed before its commit
    read = raw_rows(spark, files.lake, "gps", HOUR)
    want = files.read(committed).sort_by("event_id")
    got = arrow_of(read.frame)
    assert (read.files, read.rows) == (3, 12)
    assert got.schema.names == want.schema.names == RAW_FILE_SCHEMAS["gps"].names
    assert [f.type for f in got.schema] == [f.type for f in want.schema]
    assert got.to_pylist() == want.to_pylist()


def test_one_input_partition_per_group_of_small_files_or_share_of_a_large_one(files, spark):
    from pyspark.sql import functions as F

    # 9 rows in 3 row groups of 3: larger than a partition, so split along its row groups
    paths = [land(files, b, gps_rows(n, 100 * b), row_group_size=3) for b, n in enumerate((4, 4, 3, 9, 2))]
    sizes = {p: files.read([p]).num_rows for p in paths}
    frame = lake_frame(spark, files.lake, sizes, spark_from_arrow(RAW_FILE_SCHEMAS["gps"]), rows_per_partition=8)
    assert frame.rdd.getNumPartitions() == 5  # [4, 4] [3] [9: row group 1] [9: row groups 2, 3] [2]
    tagged = frame.select(F.spark_partition_id().alias("task"), "kafka_offset").toArrow().to_pylist()
    got = {}
    for row in tagged:
        got.setdefault(row["task"], set()).add(row["kafka_offset"])
    offsets = [files.read([p]).column("kafka_offset").to_pylist() for p in paths]
    assert sorted(got.values(), key=min) == [set(offsets[0]) | set(offsets[1]), set(offsets[2]), set(offsets[3][:3]),
                                             set(offsets[3][3:]), set(offsets[4])]
    assert arrow_of(frame).to_pylist() == files.read(paths).sort_by("event_id").to_pylist()


def test_an_hour_without_files_is_empty_in_its_schema(files, spark):
    read = raw_rows(spark, files.lake, "gps", HOUR)
    assert (read.files, read.rows) == (0, 0)
    got = read.frame.toArrow()
    assert got.num_rows == 0 and got.schema.names == RAW_FILE_SCHEMAS["gps"].names


def test_a_file_reads_in_its_own_schema_and_older_files_lack_new_columns(files, spark):
    table = pa.table({"event_id": ["b", "a", "c"], "speed_kmh": [30.5, None, 12.0],
                      "event_time": pa.array([T0, T0 + timedelta(seconds=1), T0], pa.timestamp("us", tz="UTC"))})
    path = files.write("transformed/gps/data/event_time_hour=2026-11-29-10/a.parquet", table)
    got = arrow_of(lake_frame(spark, files.lake, {path: 3}, spark_from_arrow(table.schema)))
    assert got.schema == files.read([path]).schema.remove_metadata()
    assert got.to_pylist() == files.read([path]).sort_by("event_id").to_pylist()
    # an older file without a column the schema asks for: NULL there
    wider = spark_from_arrow(pa.schema([*table.schema, pa.field("zone_id", pa.string())]))
    old = lake_frame(spark, files.lake, {path: 3}, wider).toArrow().sort_by("event_id")
    assert old.column("zone_id").to_pylist() == [None, None, None]
    assert old.drop_columns(["zone_id"]).to_pylist() == got.to_pylist()


def test_small_files_of_several_hours_are_one_task(files, spark):
    tables = {h: pa.table({"event_id": [f"{h}-{i}" for i in range(h)], "n": list(range(h))}) for h in (10, 12)}
    paths = [files.write(f"transformed/weather/data/event_time_hour=2026-11-29-{h}/{h}.parquet", t)
             for h, t in tables.items()]
    frame = lake_frame(spark, files.lake, {p: files.read([p]).num_rows for p in paths},
                       spark_from_arrow(tables[10].schema))
    assert frame.rdd.getNumPartitions() == 1  # small files: one task
    assert arrow_of(frame).to_pylist() == files.read(paths).sort_by("event_id").to_pylist()


def test_written_file_is_the_frame_sorted_replaced_whole(files, spark):
    rows = [{"event_id": str(uuid.UUID(int=i)), "event_time": T0 + timedelta(seconds=(7 * i) % 11), "n": i}
            for i in range(40)]
    frame = spark.createDataFrame(rows).repartition(3)
    path = files.lake.path("transformed/weather/data/event_time_hour=2026-11-29-10/data.parquet")
    write_sorted(frame, files.lake, path, field_ids={"event_id": 1, "event_time": 2, "n": 3})
    written = files.read([path])
    # the Iceberg table's column ids travel in the file's schema (how Iceberg readers match columns)
    assert [f.metadata[b"PARQUET:field_id"] for f in written.schema] == [b"1", b"2", b"3"]
    want = sorted(rows, key=lambda r: (r["event_time"], r["event_id"]))
    assert written.to_pylist() == [{k: r[k] for k in written.schema.names} for r in want]
    assert pq.ParquetFile(path, filesystem=files.fs).metadata.num_row_groups == 1  # one file, one task
    cached = frame.cache()
    cached.count()  # computed and cached, as the transformed asset's checks leave it: written without a shuffle
    write_sorted(cached, files.lake, path)
    assert files.read([path]).to_pylist() == written.to_pylist()
    cached.unpersist()
    write_sorted(frame.where("n >= 30"), files.lake, path)  # a recomputation replaces the file whole
    assert sorted(files.read([path]).column("n").to_pylist()) == list(range(30, 40))
    write_sorted(frame.where("n < 0"), files.lake, path)  # an hour without rows: a file that says so
    empty = files.read([path])
    assert empty.num_rows == 0 and empty.schema.names == written.schema.names
    listed = files.fs.get_file_info(pafs.FileSelector(path.rsplit("/", 1)[0]))
    assert [i.base_name for i in listed] == ["data.parquet"]  # nothing else left beside it


def test_what_reaches_the_executors_carries_no_credentials(files, monkeypatch):
    """A lake used where credentials are set (the driver's environment): neither its data source options nor
    the pickled lake (what Spark ships to executors) hold them; executors use their own."""
    key_id, secret = "AKIA" + secrets.token_hex(8).upper(), secrets.token_hex(20)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    lake = Lake.from_options(files.lake.options(), "the test")
    lake.write_bytes(lake.path("probe.txt"), b"x")  # its filesystem exists, made with those credentials
    assert lake.read_bytes(lake.path("probe.txt")) == b"x"
    shipped = [json.dumps(lake.options()).encode(), pickle.dumps(lake)]
    assert not [s for s in shipped if key_id.encode() in s or secret.encode() in s]
