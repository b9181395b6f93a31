"""One SparkSession per process, configured from SparkOptions, loopback by default."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from pyspark.sql import SparkSession

from fraudgraph.paths import package_path
from fraudgraph.spark.options import KAFKA_PACKAGE, POSTGRES_PACKAGE, SparkOptions


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
    """The whole fraudgraph package as one zip, for executors on other machines.

    All of it, data files included, rather than a list of the subpackages executors
    import: such a list drifts (one left out `observability`, which ring scoring needs).
    """
    root = package_path()
    target = folder / "fraudgraph-py.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        # followlinks: in a source checkout fraudgraph/graph is a link to ../graph.
        for directory, subfolders, names in os.walk(root, followlinks=True):
            subfolders[:] = [name for name in subfolders if name != "__pycache__"]
            for name in names:
                path = Path(directory) / name
                archive.write(path, Path("fraudgraph") / path.relative_to(root))
    return target
