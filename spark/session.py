"""One SparkSession per process, configured from SparkOptions, loopback by default."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from pyspark.sql import SparkSession

from fraudgraph.paths import PROJECT_ROOT
from spark.options import KAFKA_PACKAGE, POSTGRES_PACKAGE, SparkOptions

# The packages executors import (decoding, planning, PII hashing, ring analysis).
SHIPPED_PACKAGES = ("cdc", "graph", "detection", "alerts", "fraudgraph", "spark", "stream")


def spark_session(options: SparkOptions) -> SparkSession:
    """The process's session (created on first use; later calls return the same one)."""
    # Python workers must be this interpreter (the venv), not whatever python3 is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # The driver, its block manager and the UI bind here (Spark's default is every
    # interface and the host's public name).
    os.environ.setdefault("SPARK_LOCAL_IP", options.bind_address)
    options.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    builder = (
        SparkSession.builder.master(options.master)
        .appName(options.app_name)
        .config("spark.jars.packages", f"{KAFKA_PACKAGE},{POSTGRES_PACKAGE}")
        .config("spark.driver.memory", options.driver_memory)
        .config("spark.executor.memory", options.executor_memory)
        .config("spark.sql.shuffle.partitions", str(options.shuffle_partitions))
        .config("spark.default.parallelism", str(options.shuffle_partitions))
        .config("spark.driver.bindAddress", options.bind_address)
        .config("spark.driver.host", options.bind_address)
        .config("spark.ui.port", str(options.ui_port))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # Small local jobs: adaptive execution coalesces the shuffle partitions.
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.python.worker.reuse", "true")
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.setCheckpointDir(str(options.checkpoint_dir))
    if not options.master.startswith("local"):
        session.sparkContext.addPyFile(str(_project_zip(options.checkpoint_dir.parent)))
    return session


def ui_address(session: SparkSession) -> str:
    return session.sparkContext.uiWebUrl or "(Spark UI disabled)"


def _project_zip(folder: Path) -> Path:
    """The project's packages as one zip, for executors on other machines."""
    target = folder / "fraudgraph-py.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in SHIPPED_PACKAGES:
            for path in (PROJECT_ROOT / package).rglob("*"):
                if path.suffix in {".py", ".yaml"} and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(PROJECT_ROOT))
    return target
