"""The warehouse: mart tables in PostgreSQL (embedded default) or Amazon Redshift, loaded per partition."""
