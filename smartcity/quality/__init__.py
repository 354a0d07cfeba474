"""Data quality of the transformed tables: the rules (`rules`), pandera's schemas of them (`pandera_schemas`)
and their evaluation on Spark while a partition is built (`spark_checks`)."""
