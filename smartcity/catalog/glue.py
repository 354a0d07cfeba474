"""A small typed AWS Glue Data Catalog client (dagster-aws has none): tables and partitions, on boto3.

Registration is deterministic: a table is created or updated from its definition, and partitions are
added one by one as Dagster materializes them. Nothing scans the lake, so the catalog changes exactly
when the data does (a crawler would re-list every prefix on a schedule, guess types from samples and
could register a partition before it is complete). `start_crawler` is there for teams that want one.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from smartcity import names
from smartcity.catalog.tables import TableDef
from smartcity.lake.layout import Hour
from smartcity.security.denials import reports_denials

PARQUET_SERDE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}

# Athena reads the data files that per-partition symlink.txt files name (used for the raw zone).
SYMLINK_SERDE = {**PARQUET_SERDE, "InputFormat": "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat",
                 "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"}


class GlueCatalog:
    def __init__(self, database: str, lake_uri: str, region: str = "us-east-1", endpoint_url: str | None = None):
        if not lake_uri.startswith("s3://"):
            raise ValueError(f"the Glue catalog needs an s3:// lake, got {lake_uri}")
        self.database = names.identifier(database, "Glue database name")
        self.lake_uri = lake_uri.rstrip("/")
        import boto3  # here, not at import: the embedded deployment never loads it

        self.glue = boto3.client("glue", region_name=region, endpoint_url=endpoint_url)
        self._database_exists = False

    def _columns(self, columns) -> list[dict]:
        return [{"Name": c.name, "Type": c.type, "Comment": c.comment} for c in columns]

    def _storage(self, table: TableDef, location: str) -> dict:
        serde = SYMLINK_SERDE if table.symlinks else PARQUET_SERDE
        return {**serde, "Columns": self._columns(table.columns), "Location": f"{self.lake_uri}/{location}/"}

    def ensure_database(self) -> None:
        """Make sure the database exists: look first (glue:GetDatabase), create it only when it is missing. A
        deployment creates it once, so the role that registers tables needs no glue:CreateDatabase; without that
        permission a missing database is an AccessDenied that says how to create it. Checked once per client."""
        if self._database_exists:
            return
        try:
            self._get_database()
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "EntityNotFoundException":
                raise
            self._create_database()
        self._database_exists = True

    @reports_denials("read the Glue database", lambda self: self.database)
    def _get_database(self) -> None:
        self.glue.get_database(Name=self.database)

    @reports_denials("create the Glue database", lambda self: f"{self.database} (it does not exist yet: create it "
                     f"once with operator credentials, `aws glue create-database --database-input Name={self.database}`)")
    def _create_database(self) -> None:
        try:
            self.glue.create_database(DatabaseInput={"Name": self.database,
                                                     "Description": "smartcity lakehouse (raw, transformed, marts)"})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "AlreadyExistsException":  # created meanwhile by someone else
                raise

    @reports_denials("create or update the Glue table", lambda self, table: f"{self.database}.{table.name}")
    def register_table(self, table: TableDef) -> str:
        """Create the table, or update it when its columns changed. Returns created | updated | unchanged."""
        self.ensure_database()
        wanted = {
            "Name": table.name, "Description": table.description, "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
            "StorageDescriptor": self._storage(table, table.location),
            "PartitionKeys": self._columns(table.partition_keys),
        }
        try:
            current = self.glue.get_table(DatabaseName=self.database, Name=table.name)["Table"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "EntityNotFoundException":
                raise
            self.glue.create_table(DatabaseName=self.database, TableInput=wanted)
            return "created"
        if (current["StorageDescriptor"]["Columns"] == wanted["StorageDescriptor"]["Columns"]
                and current.get("PartitionKeys") == wanted["PartitionKeys"]
                and current.get("Description") == wanted["Description"]):
            return "unchanged"
        # Older partitions keep their own column lists; Parquet is read by column name, so a new
        # optional column reads as NULL there and nothing breaks.
        self.glue.update_table(DatabaseName=self.database, TableInput=wanted)
        return "updated"

    @reports_denials("add a partition to the Glue table", lambda self, table, hour: f"{self.database}.{table.name} "
                     f"({hour.date} {hour.hour:02d}h)")
    def add_partition(self, table: TableDef, hour: Hour) -> bool:
        """Register one hourly partition; False if it was registered before (idempotent)."""
        try:
            self.glue.create_partition(DatabaseName=self.database, TableName=table.name, PartitionInput={
                "Values": [hour.date, str(hour.hour)],
                "StorageDescriptor": self._storage(table, table.partition_location(hour))})
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "AlreadyExistsException":
                return False
            raise

    @reports_denials("list the partitions of the Glue table", lambda self, table: f"{self.database}.{table}")
    def partitions(self, table: str) -> list[dict]:
        pages = self.glue.get_paginator("get_partitions").paginate(DatabaseName=self.database, TableName=table)
        return [p for page in pages for p in page["Partitions"]]

    @reports_denials("start the Glue crawler", lambda self, name: name)
    def start_crawler(self, name: str) -> None:
        """For teams that also want a Glue crawler: start an existing one (it is not created here)."""
        self.glue.start_crawler(Name=name)
