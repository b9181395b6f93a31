"""Kafka → Neo4j ingest: the batching worker against a per-event baseline, same events, same graph.

One run, in this order:
1. preload N simulated change events on topics unique to the run;
2. baseline: clear the graph, write the first share of every partition one
   event per transaction (bench/baseline.py);
3. worker: clear the graph, run `fraudgraph worker` on the topics until its
   group has committed all N, sampling its memory and CPU and profiling it
   (tracing on, spans to a scratch file, as in production);
   with --compare-tracing, again in a second group with FRAUDGRAPH_TRACING=off;
4. check the graph holds the Transaction nodes the events imply;
5. delete the run's topics and consumer groups, and clear the graph (unless kept).
The baseline goes first so the graph left at the end is the worker's own.
"""

from __future__ import annotations

import math
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fraudgraph.bench.baseline import measure_per_event
from fraudgraph.bench.observe import GroupProgress
from fraudgraph.bench.preload import BENCH_ID_BASE, PARTITIONS, delete_run_topics, preload
from fraudgraph.bench.pyspy import ProfileSummary, summarise, writer_wall_shares
from fraudgraph.bench.worker_run import WorkerRun, run_worker, worker_environment
from fraudgraph.errors import ConfigError, FraudgraphError
from fraudgraph.graph.admin import clear_graph
from fraudgraph.graph.connection import graph_writer, open_driver
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings

SHORT_EVENTS = 5_000
SHORT_BASELINE_EVENTS = 500
# Only the bench's own ids: others may write to the same graph while it runs.
COUNT_TRANSACTIONS = "MATCH (t:Transaction) WHERE t.txn_id > $base RETURN count(t) AS n"
CLEAR_ATTEMPTS = 5


class IngestOptionError(ConfigError):
    """An option of `fraudgraph bench ingest` is out of range."""


class GraphClearError(FraudgraphError):
    """The graph could not be emptied before a measured run."""


@dataclass(frozen=True)
class IngestOptions:
    events: int
    baseline_events: int
    batch_size: int | None = None
    keep_graph: bool = False
    profile_out: Path | None = None
    # Also run the worker with FRAUDGRAPH_TRACING=off on the same events: the overhead.
    compare_tracing: bool = False
    # Run the worker with detection on (the packaged detectors, or this file's).
    detection: bool = False
    detectors_file: Path | None = None
    # With detection: run it again on the same events with these detectors, the baseline
    # a change of detectors is measured against (e.g. the rules before a new one).
    compare_detectors: Path | None = None

    @classmethod
    def resolve(
        cls,
        *,
        short: bool,
        events: int | None,
        baseline_events: int | None,
        batch_size: int | None,
        keep_graph: bool = False,
        profile_out: Path | None = None,
        compare_tracing: bool = False,
        detection: bool = False,
        detectors_file: Path | None = None,
        compare_detectors: Path | None = None,
    ) -> IngestOptions:
        """Defaults (full or --short) filled in, and every number checked."""
        chosen = events if events is not None else (SHORT_EVENTS if short else 500_000)
        baseline = (
            baseline_events
            if baseline_events is not None
            else (SHORT_BASELINE_EVENTS if short else 20_000)
        )
        if not 100 <= chosen <= 5_000_000:
            raise IngestOptionError(f"--events must be between 100 and 5,000,000 (got {chosen})")
        if not 1 <= baseline <= chosen:
            raise IngestOptionError(
                f"--baseline-events must be between 1 and --events ({chosen:,}) (got {baseline})"
            )
        if batch_size is not None and not 1 <= batch_size <= 100_000:
            raise IngestOptionError(
                f"--batch-size must be between 1 and 100,000 (got {batch_size})"
            )
        if (detectors_file or compare_detectors) and not detection:
            raise IngestOptionError("--detectors-file and --compare-detectors need --detection")
        for given in (detectors_file, compare_detectors):
            if given is not None and not given.is_file():
                raise IngestOptionError(f"no detectors file at {given}")
        return cls(
            chosen,
            baseline,
            batch_size,
            keep_graph,
            profile_out,
            compare_tracing,
            detection,
            detectors_file,
            compare_detectors,
        )


def measure_ingest(settings: Settings, options: IngestOptions, console: Console) -> dict[str, Any]:
    run_id = f"bench-{uuid.uuid4().hex[:10]}"
    mapping = default_mapping()
    driver = open_driver(settings)
    writer = graph_writer(settings, driver, mapping)
    worker_progress = GroupProgress(settings.kafka_bootstrap, f"{run_id}-worker", [])
    try:
        with _progress(console) as bar, tempfile.TemporaryDirectory(prefix=run_id) as scratch:
            loaded = preload(
                settings.kafka_bootstrap,
                mapping,
                topic_prefix=run_id,
                schema=settings.source_schema,
                events=options.events,
                on_simulate=bar("simulate customers"),
                on_progress=bar("preload events"),
            )
            partitions = [(topic, p) for topic in loaded.topics for p in range(PARTITIONS)]
            writer.setup()  # constraints first: MERGE without them scans whole labels

            clear_shared_graph(driver)
            share = options.baseline_events / loaded.events
            ends = {tp: math.ceil(end * share) for tp, end in _ends(settings, partitions).items()}
            baseline = measure_per_event(
                settings.kafka_bootstrap,
                f"{run_id}-baseline",
                ends=ends,
                mapping=mapping,
                writer=writer,
                on_progress=bar("baseline, per event"),
                timeout=120 + options.baseline_events / 20,
            )

            clear_shared_graph(driver)
            worker_progress = GroupProgress(
                settings.kafka_bootstrap, f"{run_id}-worker", partitions
            )
            worker_progress.start()
            # Traced as in production (spans to a file), into the scratch folder.
            traced_env = {
                **_run_settings(run_id, options),
                "FRAUDGRAPH_TRACING": "file",
                "FRAUDGRAPH_STATE_DIR": str(Path(scratch) / "state"),
            }
            worker = run_worker(
                worker_environment(settings.as_environment(), traced_env),
                worker_progress,
                events=loaded.events,
                log_file=Path(scratch) / "worker.log",
                profile_file=options.profile_out or Path(scratch) / "worker.pyspy.txt",
                on_progress=bar("worker, batched"),
                timeout=120 + loaded.events / (100 if options.detection else 500),
            )
            profile = (
                summarise(worker.profile_file.read_text())
                if worker.profile_file is not None
                else ProfileSummary(0, {}, [])
            )
            writer_wall = (
                writer_wall_shares(worker.wall_profile_file.read_text())
                if worker.wall_profile_file is not None
                else {}
            )
            in_graph = driver.execute_query(COUNT_TRANSACTIONS, base=BENCH_ID_BASE).records[0]["n"]
            dead_letters = _count(settings, f"{run_id}.deadletter")
            spans = _lines(Path(scratch) / "state" / "traces" / "worker.jsonl")
            compared = None
            if options.compare_detectors is not None:
                clear_shared_graph(driver)
                compared = _second_run(
                    settings,
                    run_id,
                    options=options,
                    partitions=partitions,
                    events=loaded.events,
                    bar=bar,
                    scratch=Path(scratch),
                    name="compared",
                    env={"FRAUDGRAPH_DETECTORS_FILE": str(options.compare_detectors)},
                )
            untraced = None
            if options.compare_tracing:
                clear_shared_graph(driver)
                untraced = _second_run(
                    settings,
                    run_id,
                    options=options,
                    partitions=partitions,
                    events=loaded.events,
                    bar=bar,
                    scratch=Path(scratch),
                    name="untraced",
                    env={"FRAUDGRAPH_TRACING": "off"},
                )
    finally:
        worker_progress.close()
        _clean_up(settings, run_id, driver, options.keep_graph, console)
        driver.close()

    figures: dict[str, Any] = {
        "events": loaded.events,
        "event_mix": ", ".join(
            f"{table} {100 * n / loaded.events:.1f}%"
            for table, n in sorted(loaded.per_table.items(), key=lambda item: -item[1])
        ),
        "batch_size": options.batch_size or settings.worker_batch_size,
        "events_per_s": worker.events_per_s,
        "rate_window": f"{worker.window}: {worker.events:,} events in {worker.seconds:.1f}s",
        "baseline_events": baseline.events,
        "baseline_events_per_s": baseline.events_per_s,
        "ratio": worker.events_per_s / baseline.events_per_s if baseline.events_per_s else 0.0,
        "peak_rss_mb": worker.peak_rss_mb,
        **worker.cpu,
        "expected_transaction_nodes": loaded.expected_transactions,
        "graph_transaction_nodes": in_graph,
        "dead_letters": dead_letters,
        "preload_s": loaded.seconds,
        "profile_samples": profile.samples,
        **_tracing_figures(worker, untraced, spans, loaded.events),
        **_detection_figures(options, worker, compared),
    }
    figures |= {f"writer_thread_{phase}_percent": share for phase, share in writer_wall.items()}
    figures |= {f"profile_{area}_percent": share for area, share in profile.areas.items()}
    figures |= {
        f"profile_top_{rank}": f"{share:.1f}% {function}"
        for rank, (function, share) in enumerate(profile.top_functions, start=1)
    }
    return figures


def _second_run(
    settings: Settings,
    run_id: str,
    *,
    options: IngestOptions,
    partitions: list[tuple[str, int]],
    events: int,
    bar: Callable[[str], Callable[[int, int], None]],
    scratch: Path,
    name: str,
    env: dict[str, str],
) -> WorkerRun:
    """The same worker on the same events with `env` on top, in its own group."""
    group = f"{run_id}-worker-{name}"
    progress = GroupProgress(settings.kafka_bootstrap, group, partitions)
    progress.start()
    try:
        run_env = {
            **_run_settings(run_id, options),
            "FRAUDGRAPH_WORKER_GROUP": group,
            "FRAUDGRAPH_STATE_DIR": str(scratch / f"state-{name}"),
            "FRAUDGRAPH_TRACING": "file",
            **env,
        }
        return run_worker(
            worker_environment(settings.as_environment(), run_env),
            progress,
            events=events,
            log_file=scratch / f"worker-{name}.log",
            # Profiled like the first run, so py-spy's sampling weighs on both alike.
            profile_file=scratch / f"worker-{name}.pyspy.txt",
            on_progress=bar(f"worker, {name}"),
            timeout=120 + events / (100 if options.detection else 500),
        )
    finally:
        progress.close()


def _detection_figures(
    options: IngestOptions, run: WorkerRun, compared: WorkerRun | None
) -> dict[str, Any]:
    if not options.detection:
        return {"detection": "off"}
    figures: dict[str, Any] = {
        "detection": f"on, {options.detectors_file or 'packaged detectors'}",
    }
    if compared is not None:
        own, other = _cpu_ms_per_1k(run), _cpu_ms_per_1k(compared)
        figures |= {
            "compared_detectors": str(options.compare_detectors),
            "compared_events_per_s": compared.events_per_s,
            "compared_peak_rss_mb": compared.peak_rss_mb,
            "compared_worker_cpu_ms_per_1k_events": other,
            # > 1: the detectors measured cost more worker CPU per event than the compared.
            "worker_cpu_ratio_vs_compared": own / other if other else 0.0,
            "events_per_s_ratio_vs_compared": run.events_per_s / compared.events_per_s
            if compared.events_per_s
            else 0.0,
        }
    return figures


def _tracing_figures(
    traced: WorkerRun, untraced: WorkerRun | None, spans: int, events: int
) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "tracing": "file",
        "spans_exported": spans,  # before the worker was killed: a lower bound
        "spans_per_event": round(spans / events, 2) if events else 0.0,
        "worker_cpu_ms_per_1k_events": _cpu_ms_per_1k(traced),
    }
    if untraced is not None:
        untraced_cpu = _cpu_ms_per_1k(untraced)
        figures |= {
            "untraced_events_per_s": untraced.events_per_s,
            "untraced_peak_rss_mb": untraced.peak_rss_mb,
            "untraced_worker_cpu_ms_per_1k_events": untraced_cpu,
            # < 1: tracing costs throughput (on a busy machine this one is noisy).
            "traced_vs_untraced_ratio": traced.events_per_s / untraced.events_per_s
            if untraced.events_per_s
            else 0.0,
            # The worker's own CPU per event, traced over untraced: what tracing costs,
            # whatever else the machine is doing.
            "tracing_cpu_ratio": _cpu_ms_per_1k(traced) / untraced_cpu if untraced_cpu else 0.0,
        }
    return figures


def _cpu_ms_per_1k(run: WorkerRun) -> float:
    """CPU ms the worker process (all its threads) spent per 1,000 events in the window."""
    busy_s = run.cpu.get("worker_cpu_percent", 0.0) / 100 * run.seconds
    return round(1000 * busy_s / run.events * 1000, 1) if run.events else 0.0


def _lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as lines:
        return sum(1 for _ in lines)


def _run_settings(run_id: str, options: IngestOptions) -> dict[str, str]:
    """The worker's names for this run: topics, group and dead letters all under run_id."""
    names = {
        "FRAUDGRAPH_TOPIC_PREFIX": run_id,
        "FRAUDGRAPH_WORKER_GROUP": f"{run_id}-worker",
        "FRAUDGRAPH_DEADLETTER_TOPIC": f"{run_id}.deadletter",
        # Ingest alone, as the per-event baseline does, unless --detection says otherwise.
        "FRAUDGRAPH_DETECTION_ENABLED": "true" if options.detection else "false",
        "FRAUDGRAPH_ALERTS_TOPIC": f"{run_id}.alerts",
        "FRAUDGRAPH_ALERTS_SHADOW_TOPIC": f"{run_id}.alerts.shadow",
        "FRAUDGRAPH_METRICS_PORT": "0",  # beside a demo worker holding the default port
    }
    if options.batch_size is not None:
        names["FRAUDGRAPH_WORKER_BATCH_SIZE"] = str(options.batch_size)
    if options.detectors_file is not None:
        names["FRAUDGRAPH_DETECTORS_FILE"] = str(options.detectors_file)
    return names


def _ends(settings: Settings, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": "fraudgraph-bench-probe"}
    )
    try:
        return {
            (topic, p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for topic, p in partitions
        }
    finally:
        consumer.close()


def _count(settings: Settings, topic: str) -> int:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": "fraudgraph-bench-probe"}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return 0
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions
        )
    finally:
        consumer.close()


def _clean_up(
    settings: Settings, run_id: str, driver: neo4j.Driver, keep_graph: bool, console: Console
) -> None:
    """Best effort: a failure here is reported, never hides the error that ended the run."""
    try:
        deleted = delete_run_topics(settings.kafka_bootstrap, run_id)
        for suffix in ("worker", "worker-untraced", "worker-compared", "baseline"):
            GroupProgress(settings.kafka_bootstrap, f"{run_id}-{suffix}", []).delete_group()
        if not keep_graph:
            clear_shared_graph(driver)
    except FraudgraphError as error:
        console.print(f"[yellow]warning:[/] clean-up of {run_id} incomplete: {error}")
        return
    console.print(
        f"cleaned up: {len(deleted)} topics of {run_id}" + ("" if keep_graph else ", graph cleared")
    )


def clear_shared_graph(driver: neo4j.Driver) -> None:
    """clear_graph, again when another writer to this Neo4j got in its way.

    Someone else's writes between its two passes leave a node with a new
    relationship ("still has relationships"), or deadlock with it; both pass.
    """
    for attempt in range(1, CLEAR_ATTEMPTS + 1):
        try:
            clear_graph(driver)
        except (neo4j.exceptions.DatabaseError, neo4j.exceptions.TransientError) as error:
            concurrent = isinstance(error, neo4j.exceptions.TransientError) or (
                "still has relationships" in (error.message or "")
            )
            if attempt == CLEAR_ATTEMPTS or not concurrent:
                raise GraphClearError(f"cannot clear the graph: {error.message}") from error
            time.sleep(attempt)
        else:
            return


@contextmanager
def _progress(console: Console) -> Iterator[Callable[[str], Callable[[int, int], None]]]:
    """Rich progress bars; yields a factory of per-stage `(done, total)` callbacks."""
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def stage(name: str) -> Callable[[int, int], None]:
            task = progress.add_task(name, total=None)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return update

        yield stage
