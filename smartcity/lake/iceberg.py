"""The lake's transformed tables and marts as Apache Iceberg tables (through pyiceberg).

A table is partitioned by the UTC hour of its rows: hidden partitioning `hour(event_time)` for a transformed
table, the mart's own `event_date` / `event_hour` columns for a mart. Every data file is written once under
the table's `data/` folder and never changed; the table's state is its current snapshot, and a materialization
of hours is **one commit**: one OVERWRITE snapshot that removes the files those hours had and adds one file per
hour (an hour without rows gets an empty file, so "computed, no rows" and "not computed" stay distinct).
Readers see the old hours or the new ones, never a mix; earlier snapshots stay readable (time travel) until
maintenance expires them (`smartcity.lake.table_maintenance`).

Who writes the files: Spark's executors for a transformed hour (`smartcity.spark.lake_files`, with the
table's field ids in the Parquet schema), the run's process for a mart hour; the committing process only reads
their footers. Concurrent commits to one table (two runs, two hours or the same hour) are optimistic: the
catalog refuses a commit whose base is no longer current, and `replace_hours` then re-plans on the new snapshot
and commits again, so no commit is lost and no hour ends with two files.

Catalogs: embedded, pyiceberg's SQL catalog on the stack's PostgreSQL (schema `iceberg`); AWS, the Glue Data
Catalog (`table_type=ICEBERG`, read by Athena and Redshift Spectrum).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from urllib.parse import quote

import pyarrow as pa

from smartcity import names
from smartcity.contracts import Field, FieldType
from smartcity.errors import AccessDenied, ConfigError, SmartcityError
from smartcity.lake import layout
from smartcity.lake.layout import Hour
from smartcity.lake.storage import Lake
from smartcity.security.denials import denial, is_access_denied, reporting_denials

log = logging.getLogger(__name__)

NAMESPACE = "smartcity"
CATALOG_SCHEMA = "iceberg"  # the PostgreSQL schema of the embedded catalog's own tables
NAME_MAPPING = "schema.name-mapping.default"  # columns by name, for files written without field ids (the raw zone)
HELD_BACK = "smartcity.held-back-hours"  # table property: hours whose blocking checks failed (not published)
COMMIT_ATTEMPTS = 10
# Every commit writes a new metadata file; older ones beyond this many are removed by the commit itself.
# A commit that lost a race is planned again here (`replace_hours`), not replayed by pyiceberg on the new base.
TABLE_PROPERTIES = {"format-version": "2", "write.metadata.delete-after-commit.enabled": "true",
                    "commit.retry.num-retries": "0",
                    "write.metadata.previous-versions-max": "20", "write.parquet.compression-codec": "zstd"}


class TableError(SmartcityError):
    """An Iceberg table cannot be read or written as it is (missing or corrupt metadata, a schema that no longer
    matches its spec): nothing was committed."""


@dataclass(frozen=True)
class LakeTable:
    """An hourly table of the lake as Iceberg sees it, derived from a spec (`smartcity.catalog.tables`)."""

    name: str  # catalog table name, e.g. transformed_gps
    folder: str  # location relative to the lake root, e.g. transformed/gps
    description: str
    fields: tuple[Field, ...]
    time_column: str | None = None  # partitioned by hour(time_column); None: by the event_date, event_hour columns

    def __post_init__(self) -> None:
        names.identifier(self.name, "table name")
        columns = [names.identifier(f.name, "column name") for f in self.fields]
        if self.time_column is None:
            assert tuple(columns[:2]) == layout.PARTITION_COLUMNS, f"{self.name}: event_date, event_hour first"
        else:
            assert self.time_column in columns, f"{self.name}: no column {self.time_column}"

    def partition_path(self, hour: Hour) -> str:
        """The data folder of an hour, as Iceberg names partitions (event_time_hour=2026-11-29-10)."""
        if self.time_column is None:
            return hour.folder
        return f"{self.time_column}_hour={hour.date}-{hour.hour:02d}"

    def new_data_file(self, hour: Hour) -> str:
        """A fresh data file path for an hour, relative to the lake root."""
        return f"{self.folder}/data/{self.partition_path(hour)}/{uuid.uuid4().hex}.parquet"


@dataclass(frozen=True)
class Commit:
    """What one commit did: the snapshot it made and the files and rows it added and removed."""

    table: str  # namespace.name
    snapshot_id: int
    hours: tuple[str, ...]
    files_added: int
    files_removed: int
    rows_added: int
    rows_removed: int
    attempts: int

    def metadata(self) -> dict:
        return {"iceberg_table": self.table, "snapshot_id": str(self.snapshot_id),
                "files_added": self.files_added, "files_removed": self.files_removed,
                "rows_added": self.rows_added, "rows_removed": self.rows_removed, "commit_attempts": self.attempts}


# -- types -------------------------------------------------------------------------------------------------------

def _iceberg_type(t: FieldType):
    from pyiceberg import types as it

    return {FieldType.STRING: it.StringType(), FieldType.UUID: it.StringType(), FieldType.TIMESTAMP: it.TimestamptzType(),
            FieldType.DOUBLE: it.DoubleType(), FieldType.INT: it.IntegerType(), FieldType.BIGINT: it.LongType(),
            FieldType.DATE: it.DateType(), FieldType.BOOLEAN: it.BooleanType()}[t]


def iceberg_schema(definition: LakeTable):
    """The table's Iceberg schema: every column optional (nullability is a quality rule, checked before a
    commit), ids in column order, each column's comment as its doc."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import NestedField

    return Schema(*(NestedField(i, f.name, _iceberg_type(f.type), required=False, doc=f.comment)
                    for i, f in enumerate(definition.fields, start=1)))


def _partition_spec(definition: LakeTable, schema):
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import HourTransform, IdentityTransform

    if definition.time_column is not None:
        source = schema.find_field(definition.time_column).field_id
        return PartitionSpec(PartitionField(source, 1000, HourTransform(), f"{definition.time_column}_hour"))
    return PartitionSpec(*(PartitionField(schema.find_field(c).field_id, 1000 + n, IdentityTransform(), c)
                           for n, c in enumerate(layout.PARTITION_COLUMNS)))


def _partition_of(definition: LakeTable, hour: Hour):
    """The partition tuple of an hour, as a data file records it."""
    from pyiceberg.typedef import Record

    if definition.time_column is not None:
        return Record(int(hour.start.timestamp()) // 3600)  # hours since the epoch
    return Record((date.fromisoformat(hour.date) - date(1970, 1, 1)).days, hour.hour)


def _hours_filter(definition: LakeTable, hours: Iterable[Hour]):
    from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan, Or

    terms = []
    for h in hours:
        if definition.time_column is not None:
            terms.append(And(GreaterThanOrEqual(definition.time_column, h.start.isoformat()),
                             LessThan(definition.time_column, h.end.isoformat())))
        else:
            terms.append(And(EqualTo("event_date", h.date), EqualTo("event_hour", h.hour)))
    return terms[0] if len(terms) == 1 else Or(*terms)


# -- the catalog ----------------------------------------------------------------------------------------------

@dataclass
class LakeTables:
    """The lake's Iceberg tables in one catalog: create or evolve a table from its definition, read which files
    hold which hours (at the current or an earlier snapshot), replace hours in one commit."""

    catalog: object  # a pyiceberg Catalog
    lake: Lake
    namespace: str = NAMESPACE  # the Glue database in AWS mode
    _loaded: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings) -> "LakeTables":
        """The catalog of a deployment: Glue in AWS mode, the SQL catalog on PostgreSQL embedded."""
        lake = Lake.from_settings(settings)
        if settings.env == "aws":
            return cls.open(lake, "glue", database=settings.glue_database, region=settings.aws_region,
                            glue_endpoint=settings.aws_endpoint_url)
        return cls.open(lake, "sql", uri=settings.iceberg_catalog_dsn)

    @classmethod
    def open(cls, lake: Lake, kind: str, uri: str | None = None, database: str = NAMESPACE,
             region: str = "us-east-1", glue_endpoint: str | None = None) -> "LakeTables":
        """`kind` sql: pyiceberg's SQL catalog at the SQLAlchemy `uri` (a PostgreSQL URL; its tables live in the
        schema `iceberg`); glue: the Glue Data Catalog (the namespace is the Glue database `database`)."""
        io = _file_io_properties(lake)
        if kind == "glue":
            from pyiceberg.catalog.glue import GlueCatalog

            names.identifier(database, "Glue database name")
            properties = {"glue.region": region, **io}
            if glue_endpoint:
                properties["glue.endpoint"] = glue_endpoint
            return cls(GlueCatalog(database, **properties), lake, database)
        elif kind == "sql":
            if not uri:
                raise ConfigError("the embedded Iceberg catalog needs a PostgreSQL URL (SMARTCITY_WAREHOUSE_URL or "
                                  "SMARTCITY_ICEBERG_CATALOG_URL)")
            catalog = _sql_catalog(uri, lake, io)
        else:
            raise ConfigError(f"unknown Iceberg catalog kind {kind!r} (sql or glue)")
        return cls(catalog, lake)

    def _identifier(self, definition: LakeTable) -> str:
        return f"{self.namespace}.{definition.name}"

    # -- tables ---------------------------------------------------------------------------------------------

    def table(self, definition: LakeTable, refresh: bool = False):
        """The table, created on first use; a spec that gained columns evolves it in place (older snapshots and
        files keep reading, the new columns as NULL). A column whose type changed or that the spec lost is a
        `TableError`: nothing is changed."""
        if not refresh and definition in self._loaded:
            return self._loaded[definition]
        from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError, TableAlreadyExistsError

        try:
            table = self._load(definition)
        except NoSuchTableError:
            schema = iceberg_schema(definition)
            try:
                with reporting_denials("create the catalog namespace", self.namespace):
                    self.catalog.create_namespace(self.namespace)
            except (NamespaceAlreadyExistsError, AccessDenied):
                pass  # exists (in AWS it is created at deployment; a role may not create it)
            try:
                with reporting_denials("create the Iceberg table", self._identifier(definition)), \
                        _namespace_needed(self.namespace, self.catalog):
                    table = self.catalog.create_table(
                        self._identifier(definition), schema,
                        location=self.lake.uri_of(self.lake.path(definition.folder)),
                        partition_spec=_partition_spec(definition, schema),
                        properties={**TABLE_PROPERTIES, "comment": definition.description,
                                    NAME_MAPPING: _name_mapping(schema)})
            except TableAlreadyExistsError:  # created meanwhile by another run
                table = self._load(definition)
        table = self._evolved(definition, table)
        self._loaded[definition] = table
        return table

    def _load(self, definition: LakeTable):
        from pyiceberg.exceptions import NoSuchTableError

        try:
            return self.catalog.load_table(self._identifier(definition))
        except NoSuchTableError:
            raise
        except Exception as exc:
            raise self._read_failure(definition, exc, f"cannot be loaded: {_unreadable(exc)}. Nothing was written; "
                                                      f"{self._recovery(definition)}") from None

    def _read_failure(self, definition: LakeTable, exc: Exception, problem: str) -> Exception:
        """What to raise for `exc` met while reading the table: a denial, or a TableError saying `problem`."""
        if is_access_denied(exc):
            return denial("read the Iceberg table", self._identifier(definition), exc)
        return TableError(f"the Iceberg table {self._identifier(definition)} {problem}")

    def _recovery(self, definition: LakeTable) -> str:
        """What to do about a table whose current metadata cannot be read."""
        folder = self.lake.path(definition.folder, "metadata")
        try:
            previous = [i.path for i in self.lake.list_dir(folder) if i.path.endswith(".metadata.json")]
        except Exception:
            previous = []
        if not previous:
            return "its metadata folder holds no earlier metadata file"
        return (f"the earlier metadata files are intact (newest: {self.lake.uri_of(previous[-1])}): register it "
                f"again (pyiceberg `catalog.register_table`) to return to that snapshot")

    def _evolved(self, definition: LakeTable, table):
        wanted = iceberg_schema(definition)
        current = table.schema()
        have = {f.name: f for f in current.fields}
        changed = [f"{f.name} ({have[f.name].field_type} in the table, {f.field_type} in the spec)"
                   for f in wanted.fields if f.name in have and have[f.name].field_type != f.field_type]
        lost = [n for n in have if n not in {f.name for f in wanted.fields}]
        if changed or lost:
            raise TableError(
                f"the Iceberg table {self._identifier(definition)} no longer matches its spec: "
                + "; ".join([*(["types changed: " + ", ".join(changed)] if changed else []),
                             *(["columns no longer in the spec: " + ", ".join(lost)] if lost else [])])
                + ". Nothing was written and the current snapshot stays readable; a column can be added in place, "
                  "anything else needs a new table (or a migration of this one)")
        if len(wanted.fields) == len(current.fields):
            return table
        with table.transaction() as tx:
            with tx.update_schema() as update:
                update.union_by_name(wanted)
            tx.set_properties({NAME_MAPPING: _name_mapping(tx.table_metadata.schema())})
        log.info("evolved %s: added %s", definition.name,
                 ", ".join(f.name for f in wanted.fields if f.name not in have))
        return table.refresh()

    def exists(self, definition: LakeTable) -> bool:
        from pyiceberg.exceptions import NoSuchTableError

        try:
            self._load(definition)
            return True
        except NoSuchTableError:
            return False

    def arrow_schema(self, definition: LakeTable) -> pa.Schema:
        """The table's current schema in Arrow, with the Iceberg field ids every data file carries."""
        from pyiceberg.io.pyarrow import schema_to_pyarrow

        return schema_to_pyarrow(self.table(definition).schema())

    def field_ids(self, definition: LakeTable) -> dict[str, int]:
        return {f.name: f.field_id for f in self.table(definition).schema().fields}

    def held_back(self, definition: LakeTable) -> set[str]:
        """Hour keys whose last materialization failed a blocking check (so their rows were not published)."""
        if not self.exists(definition):
            return set()
        return set(json.loads(self.table(definition, refresh=True).properties.get(HELD_BACK, "[]")))

    # -- reading ------------------------------------------------------------------------------------------

    def files(self, definition: LakeTable, hours: list[Hour], snapshot_id: int | None = None
              ) -> dict[Hour, list[tuple[str, int]]]:
        """Per hour, the data files (full lake path, rows) that hold it at the current (or the given) snapshot;
        hours the table does not have are absent."""
        from pyiceberg.exceptions import NoSuchTableError

        if not hours:
            return {}
        try:
            table = self._load(definition)
        except NoSuchTableError:
            return {}
        return self._files(definition, table, hours, snapshot_id)

    def _files(self, definition: LakeTable, table, hours: list[Hour], snapshot_id: int | None = None
               ) -> dict[Hour, list]:
        """Planned on partitions only: manifests pruned by their partition summaries, entries kept by their
        partition. (A scan's row filter would also drop an hour's empty file: no statistics match.)"""
        from pyiceberg.expressions.visitors import inclusive_projection, manifest_evaluator

        snapshot = table.snapshot_by_id(snapshot_id) if snapshot_id is not None else table.current_snapshot()
        if snapshot is None:
            if snapshot_id is not None:
                raise TableError(f"{self._identifier(definition)} has no snapshot {snapshot_id}")
            return {}
        wanted = {_partition_of(definition, h): h for h in hours}
        row_filter, schema, out = _hours_filter(definition, hours), table.schema(), {}
        try:
            evaluators = {spec_id: manifest_evaluator(spec, schema, inclusive_projection(schema, spec)(row_filter))
                          for spec_id, spec in table.specs().items()}
            for manifest in snapshot.manifests(table.io):
                if manifest.content.value != 0:
                    raise TableError(f"{self._identifier(definition)} has delete files (written by another engine): "
                                     "this project reads tables whose snapshots hold data files only")
                if not evaluators[manifest.partition_spec_id](manifest):
                    continue
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                    hour = wanted.get(entry.data_file.partition)
                    if hour is not None:
                        out.setdefault(hour, []).append(entry.data_file)
        except TableError:
            raise
        except Exception as exc:
            raise self._read_failure(definition, exc, f"cannot be read at snapshot {snapshot.snapshot_id}: "
                                     f"{_unreadable(exc)}. Nothing was written; an earlier snapshot may still be "
                                     "readable (`smartcity query --as-of <snapshot id>`)") from None
        return out

    def hour_files(self, definition: LakeTable, hours: list[Hour], snapshot_id: int | None = None
                   ) -> dict[str, int]:
        """The data files of these hours as {full lake path: rows}, in hour order."""
        found = self.files(definition, hours, snapshot_id)
        return {self.lake_path(f.file_path): f.record_count for h in sorted(found) for f in found[h]}

    def lake_path(self, file_path: str) -> str:
        """A data file's URI (as `Lake.uri_of` made it) as the lake's filesystem names it."""
        return file_path.removeprefix("s3://" if self.lake.is_s3 else "file://")

    def snapshot_for(self, definition: LakeTable, as_of: int | datetime | None):
        """The snapshot a read `as_of` a snapshot id or a moment sees (None: the current one; None is also returned
        for a table that had no snapshot yet at that moment)."""
        table = self._load(definition)
        if as_of is None:
            return table.current_snapshot()
        if isinstance(as_of, int):
            snapshot = table.snapshot_by_id(as_of)
            if snapshot is None:
                raise TableError(f"{self._identifier(definition)} has no snapshot {as_of} (expired, or of another "
                                 f"table); its snapshots: {', '.join(str(s.snapshot_id) for s in table.snapshots()[-5:])}")
            return snapshot
        return table.snapshot_as_of_timestamp(int(as_of.timestamp() * 1000))

    # -- writing ------------------------------------------------------------------------------------------

    def replace_hours(self, definition: LakeTable, files: dict[Hour, list[str]], held_back: Iterable[Hour] = (),
                      properties: dict[str, str] | None = None) -> Commit:
        """One commit after which each hour of `files` holds exactly the files given (full lake paths: the
        files it had and keeps are left as they are, the others removed, the new ones added), and the
        `held_back` hours are recorded as such (their rows stay as they were). A concurrent commit in between is
        met by re-planning on the new snapshot and committing again."""
        from pyiceberg.exceptions import CommitFailedException, ValidationException

        from smartcity.lake.iceberg_commit import Transaction, bounded_overwrite

        hours = sorted(files)
        wanted = {h: {self.lake.uri_of(p): p for p in files[h]} for h in hours}
        held = {h.key for h in held_back}
        footers: dict[str, tuple] = {}  # read once, whatever the attempts
        summary = {"smartcity.hours": ",".join(h.key for h in hours), **(properties or {})}
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            table = self.table(definition, refresh=attempt > 1)
            old = self._files(definition, table, hours) if hours else {}
            removed = [f for h in hours for f in old.get(h, []) if f.file_path not in wanted[h]]
            kept = {f.file_path for h in hours for f in old.get(h, []) if f.file_path in wanted[h]}
            added = []
            for h in hours:
                for uri, path in wanted[h].items():
                    if uri not in kept:
                        footers.setdefault(path, (self.lake.parquet_footer(path), self.lake.size(path)))
                        added.append(self._data_file(definition, table, h, path, *footers[path]))
            current_marks = set(json.loads(table.properties.get(HELD_BACK, "[]")))
            marks = (current_marks - {h.key for h in hours}) | held
            try:
                with reporting_denials("commit to the Iceberg table", self._identifier(definition)), \
                        Transaction(table) as tx:
                    if removed or added:
                        with bounded_overwrite(tx, table.io, summary) as overwrite:
                            for f in removed:
                                overwrite.delete_data_file(f)
                            for f in added:
                                overwrite.append_data_file(f)
                    if marks != current_marks:
                        tx.set_properties({HELD_BACK: json.dumps(sorted(marks))})
            except (CommitFailedException, ValidationException) as exc:  # neither landed anything
                if attempt == COMMIT_ATTEMPTS:
                    raise TableError(f"{self._identifier(definition)}: {COMMIT_ATTEMPTS} commits in a row lost to "
                                     f"concurrent ones ({exc}); nothing of this one is visible") from None
                log.info("%s: a concurrent commit won (%s); planning again (attempt %d)", definition.name, exc, attempt)
                time.sleep(random.uniform(0.05, 0.2) * attempt)
                continue
            snapshot = table.current_snapshot()  # the commit updated `table` (the cached one) in place
            return Commit(self._identifier(definition), snapshot.snapshot_id if snapshot else 0,
                          tuple(h.key for h in hours), len(added), len(removed),
                          sum(f.record_count for f in added), sum(f.record_count for f in removed), attempt)
        raise AssertionError("unreachable")

    def _data_file(self, definition: LakeTable, table, hour: Hour, path: str, footer, size: int):
        """A data file entry for a Parquet file of one hour, from its footer (statistics) and the hour (partition)."""
        from pyiceberg.io.pyarrow import (
            compute_statistics_plan,
            data_file_statistics_from_parquet_metadata,
            parquet_path_to_id_mapping,
        )
        from pyiceberg.manifest import DataFile, DataFileContent, FileFormat

        schema = table.schema()
        stats = data_file_statistics_from_parquet_metadata(
            parquet_metadata=footer, stats_columns=compute_statistics_plan(schema, table.properties),
            parquet_column_mapping=parquet_path_to_id_mapping(schema))
        return DataFile.from_args(
            content=DataFileContent.DATA, file_path=self.lake.uri_of(path), file_format=FileFormat.PARQUET,
            partition=_partition_of(definition, hour), file_size_in_bytes=size, sort_order_id=None,
            spec_id=table.metadata.default_spec_id, equality_ids=None, key_metadata=None,
            **stats.to_serialized_dict())

    def write_hour(self, definition: LakeTable, hour: Hour, rows: pa.Table) -> str:
        """Write an hour's rows (from this process) as a new data file in the table's schema; its full path."""
        schema = self.arrow_schema(definition)
        data = pa.table([rows.column(f.name).cast(f.type) if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
                         for f in schema], schema=schema) if rows.num_rows else schema.empty_table()
        path = self.lake.path(definition.new_data_file(hour))
        self.lake.write_parquet(data, path)
        return path

    def read(self, definition: LakeTable, hours: list[Hour], snapshot_id: int | None = None) -> pa.Table:
        """The rows of these hours, in this process (for small tables: marts, reports, tests)."""
        schema = self.arrow_schema(definition) if self.exists(definition) else None
        files = list(self.hour_files(definition, hours, snapshot_id))
        if not files:
            return schema.empty_table() if schema is not None else pa.table({})
        tables = [self.lake.read_parquet([p]) for p in files]
        return pa.concat_tables(tables, promote_options="default")

    def hours(self, definition: LakeTable) -> list[Hour]:
        """Every hour the current snapshot holds, oldest first (reads the manifests, not the data)."""
        from pyiceberg.exceptions import NoSuchTableError

        try:
            table = self._load(definition)
        except NoSuchTableError:
            return []
        snapshot = table.current_snapshot()
        if snapshot is None:
            return []
        found = set()
        for manifest in snapshot.manifests(table.io):
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                found.add(_hour_of_partition(definition, entry.data_file.partition))
        return sorted(found)


@contextmanager
def _namespace_needed(namespace: str, catalog):
    """A table cannot be created in a namespace that is missing (and that this role could not create)."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    try:
        yield
    except NoSuchNamespaceError:
        where = "Glue database" if type(catalog).__name__ == "GlueCatalog" else "catalog namespace"
        raise ConfigError(f"the {where} {namespace} does not exist yet and these credentials may not create it: "
                          f"create it once with operator credentials (`aws glue create-database --database-input "
                          f"Name={namespace}`; the deployment does)") from None


def _name_mapping(schema) -> str:
    from pyiceberg.table.name_mapping import create_mapping_from_schema

    return create_mapping_from_schema(schema).model_dump_json()


def _hour_of_partition(definition: LakeTable, partition) -> Hour:
    if definition.time_column is not None:
        return Hour.of(datetime.fromtimestamp(partition[0] * 3600, tz=timezone.utc))
    day = date(1970, 1, 1).toordinal() + partition[0]
    return Hour(date.fromordinal(day).isoformat(), partition[1])


def _unreadable(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, FileNotFoundError) or "No such file" in text or "NoSuchKey" in text or "not found" in text.lower():
        return f"a metadata file is missing ({text})"
    return f"its metadata cannot be read ({type(exc).__name__}: {text})"


def _file_io_properties(lake: Lake) -> dict[str, str]:
    """pyiceberg's FileIO for the lake: the local filesystem, or S3 with the lake's endpoint and region
    (credentials from the environment, as for every other reader of the lake)."""
    if not lake.is_s3:
        return {}
    properties = {"s3.region": lake.region}
    if lake.s3_endpoint_url:
        properties["s3.endpoint"] = lake.s3_endpoint_url
    return properties


def _sql_catalog(uri: str, lake: Lake, io: dict[str, str]):
    """pyiceberg's SQL catalog on PostgreSQL, its tables in the schema `iceberg` (created here if needed)."""
    import sqlalchemy
    from pyiceberg.catalog.sql import SqlCatalog

    url = sqlalchemy.make_url(uri.replace("postgresql://", "postgresql+psycopg2://", 1)
                              if uri.startswith("postgresql://") else uri)
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {CATALOG_SCHEMA}"))
    except sqlalchemy.exc.IntegrityError:
        pass  # created at the same moment by another process
    except sqlalchemy.exc.OperationalError as exc:
        raise ConfigError(f"the Iceberg catalog's PostgreSQL at {url.render_as_string(hide_password=True)} cannot be "
                          f"reached ({str(exc.orig).strip().splitlines()[0]}): start it (`smartcity stack up`) or set "
                          "SMARTCITY_ICEBERG_CATALOG_URL") from None
    finally:
        engine.dispose()
    options = quote(f"-csearch_path={CATALOG_SCHEMA}")
    separator = "&" if "?" in url.render_as_string(hide_password=False) else "?"
    return SqlCatalog(NAMESPACE, uri=f"{url.render_as_string(hide_password=False)}{separator}options={options}",
                      warehouse=lake.uri, **io)
