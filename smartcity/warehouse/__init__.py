"""The warehouse: mart tables in PostgreSQL (embedded default) or Amazon Redshift, loaded per partition."""


def open_warehouse(kind: str, url: str, redshift_iam_role: str | None = None):
    """The warehouse of a deployment: "redshift" (SMARTCITY_ENV=aws) or "postgres" (embedded, or any URL)."""
    if kind == "redshift":
        from smartcity.warehouse.redshift import RedshiftWarehouse

        return RedshiftWarehouse(url, redshift_iam_role or "")
    from smartcity.warehouse.postgres import PostgresWarehouse

    return PostgresWarehouse(url)


def kind_of(env: str) -> str:
    return "redshift" if env == "aws" else "postgres"
