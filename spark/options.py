"""How a Spark job runs: master, memory, partitions, checkpoints (options or env)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudgraph.paths import DEFAULT_STATE_DIR

# Spark 4.0.0 is the newest release whose Kafka source resolves completely from Maven
# Central here (later spark-sql-kafka builds miss spark-token-provider-kafka); the
# connector jar must match the pyspark version exactly.
SPARK_VERSION = "4.0.0"
KAFKA_PACKAGE = f"org.apache.spark:spark-sql-kafka-0-10_2.13:{SPARK_VERSION}"
POSTGRES_PACKAGE = "org.postgresql:postgresql:42.7.7"


class SparkOptions(BaseSettings):
    """FRAUDGRAPH_SPARK_* variables, overridden by command-line options."""

    model_config = SettingsConfigDict(env_prefix="FRAUDGRAPH_SPARK_", frozen=True, extra="ignore")

    master: str = "local[2]"
    driver_memory: str = Field(default="2g", pattern=r"^\d+[kmgt]?$")
    executor_memory: str = Field(default="2g", pattern=r"^\d+[kmgt]?$")
    shuffle_partitions: int = Field(default=8, ge=1, le=100_000)
    checkpoint_dir: Path = DEFAULT_STATE_DIR / "spark" / "checkpoints"
    # Where the driver and the UI listen: loopback unless a cluster needs otherwise.
    bind_address: str = "127.0.0.1"
    ui_port: int = Field(default=4040, ge=0, le=65535)
    app_name: str = "fraudgraph"
