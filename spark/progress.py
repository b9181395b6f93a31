"""Progress of Spark jobs on the terminal: tasks done of the running stages (rich)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def spark_progress(spark: SparkSession, console: Console, what: str) -> Iterator[None]:
    """A bar of the active stages' tasks while the block runs (polled, 4 times a second)."""
    tracker = spark.sparkContext.statusTracker()
    stop = threading.Event()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(what, total=None)

        def poll() -> None:
            while not stop.wait(0.25):
                done = total = 0
                for stage_id in tracker.getActiveStageIds():
                    info = tracker.getStageInfo(stage_id)
                    if info is not None:
                        done += info.numCompletedTasks
                        total += info.numTasks
                if total:
                    progress.update(task, completed=done, total=total)

        poller = threading.Thread(target=poll, name="spark-progress", daemon=True)
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join()
    console.print(f"[green]done[/] {what}")
