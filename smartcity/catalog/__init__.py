"""The catalog: table definitions derived from the contracts, registered in AWS Glue or in a local
DuckDB catalog (the embedded stand-in for Glue + Athena), and ad-hoc SQL over either."""
