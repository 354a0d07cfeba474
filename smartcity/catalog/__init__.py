"""The catalog: the lake's tables (`tables`: raw, transformed, marts) derived from their specs, kept as Iceberg
tables in the SQL catalog on the embedded PostgreSQL or in AWS Glue (`smartcity.lake.iceberg`), and ad-hoc SQL
over them (`query`: DuckDB locally, Athena in AWS mode)."""
