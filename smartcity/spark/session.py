"""The Spark session: one place for its settings, shared by the streaming job and the batch transforms."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

from smartcity.errors import SmartcityError
from smartcity.settings import Settings

JAVA_HELP = ("Java 17 is required (Spark runs on it) and `java` was not found on PATH. Install it with\n"
             "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless\n"
             "  macOS:         brew install openjdk@17\n"
             "or put an existing JDK 17's bin folder on PATH.")


def require_java() -> str:
    """The Java version line, or a SmartcityError saying how to install Java 17."""
    java = shutil.which("java")
    if java is None:
        raise SmartcityError(JAVA_HELP)
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr.splitlines()
    return out[0] if out else "java (unknown version)"


# Session-level SQL settings: set on every session, also on a Spark Connect server's (they are per session there).
SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.streaming.noDataMicroBatches.enabled": "false",
    # List a table's files on the driver: a raw hour has one file per micro-batch and source, and listing
    # them with a Spark job costs more than it saves.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
}


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark settings of every session the project starts (streaming job, Dagster runs, Connect server)."""
    # Executors' Python workers must use this interpreter (the project's environment).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if settings.spark_master.startswith(("local", "spark://127.0.0.1:", "spark://localhost:")):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # a Spark on this machine listens on loopback only
    conf = {
        **SQL_CONF,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.python.worker.reuse": "true",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=WARN",
    }
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # under spark-submit, its --master wins
        conf["spark.master"] = settings.spark_master
    return conf


def connect_address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("sc://").split("/")[0].rpartition(":")
    return host, int(port)


def require_connect_server(url: str, timeout_s: float = 3.0) -> None:
    """A SmartcityError saying what to do when no Spark Connect server answers at `url`."""
    try:
        socket.create_connection(connect_address(url), timeout=timeout_s).close()
    except OSError as exc:
        raise SmartcityError(
            f"no Spark Connect server answers at {url} ({exc.strerror or exc}): start the embedded one with "
            "`smartcity stack up`, point SMARTCITY_SPARK_REMOTE at a running server, or set "
            "SMARTCITY_SPARK_REMOTE=in-process to start Spark inside each run") from None


def spark_server_answers(url: str) -> bool:
    try:
        require_connect_server(url, timeout_s=2.0)
        return True
    except SmartcityError:
        return False


def connect_session(url: str):
    """A new session of its own on the Spark Connect server at `url` (its SQL settings, temporary views and
    cached frames are private to it); `stop()` releases it on the server."""
    require_connect_server(url)
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:
        raise SmartcityError("this process already runs Spark in process; PySpark cannot use Spark Connect in the "
                             "same process (its DataFrame API serves one or the other): run it in its own process")
    # The builder marks the process as a Spark Connect client (pyspark's functions then build Connect plans).
    spark = SparkSession.builder.remote(url).create()
    # Retry a lost connection for about 15 s (a blip), not the client's default of 10 minutes: a run whose
    # server went away fails soon and says so (`SparkResource.connected`).
    from pyspark.sql.connect.client.retries import DefaultPolicy

    spark.client.set_retry_policies([DefaultPolicy(max_retries=6, initial_backoff=250, backoff_multiplier=2.0,
                                                   max_backoff=4000)])
    for key, value in SQL_CONF.items():
        spark.conf.set(key, value)
    return spark


def spark_session(settings: Settings, app_name: str = "smartcity"):
    """A SparkSession with the project's settings, quiet logging."""
    require_java()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
