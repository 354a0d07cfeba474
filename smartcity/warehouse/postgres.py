"""PostgreSQL warehouse (the embedded default; any PostgreSQL URL works): rows reach the staging table by
COPY FROM STDIN, and mart tables get an index on their partition columns."""

from __future__ import annotations

import csv
import io

from smartcity.marts.spec import Mart
from smartcity.warehouse import sql
from smartcity.warehouse.base import PartitionData, Warehouse


class PostgresWarehouse(Warehouse):
    def index_sql(self, mart: Mart) -> list[str]:
        """An index on the partition columns: replacing a partition finds its rows instead of scanning the whole
        table, so a load costs the new hour's rows, not the table's history."""
        columns = ", ".join(sql.identifier(c) for c in mart.partition_columns)
        return [f"CREATE INDEX IF NOT EXISTS {sql.identifier(mart.name + '_partition')} ON {mart.qualified} "
                f"({columns})"]

    def stage(self, cur, mart: Mart, staging: str, data: PartitionData) -> None:
        columns = mart.column_names
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in data.rows.select(columns).to_pylist():
            writer.writerow(["\\N" if row[c] is None else row[c] for c in columns])
        buffer.seek(0)
        cur.copy_expert(f"COPY {staging} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
