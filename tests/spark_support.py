"""One local SparkSession for every Spark test (the JVM takes ~20 s to start)."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from fraudgraph.spark.options import SparkOptions
from fraudgraph.spark.session import spark_session


@pytest.fixture(scope="session", name="spark")
def spark_fixture(tmp_path_factory: pytest.TempPathFactory) -> SparkSession:
    options = SparkOptions(
        master="local[2]",
        shuffle_partitions=2,
        checkpoint_dir=tmp_path_factory.mktemp("spark-checkpoints"),
        ui_port=0,
    )
    return spark_session(options)
