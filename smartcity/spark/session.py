"""The Spark session: one place for its settings, shared by the streaming job and the batch transforms."""

from __future__ import annotations

import os
import shutil
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


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark settings of every session the project starts (streaming job, Dagster runs)."""
    # Executors' Python workers must use this interpreter (the project's environment).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if settings.spark_master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # a local Spark listens on loopback only
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "8",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.python.worker.reuse": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.streaming.noDataMicroBatches.enabled": "false",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=WARN",
    }
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # under spark-submit, its --master wins
        conf["spark.master"] = settings.spark_master
    return conf


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
