"""One chaos run: a bank, a live load, a fault, recovery, then a clean reference run.

1. Bulk-load a small simulated bank; a connector of the run's own snapshots it
   onto the run's topics and streams every later change.
2. Workers (own group, alerts and dead-letter topics), the webhook deliverer and a
   verifying receiver (behind a proxy that can be made slow) start under a
   supervisor that restarts whatever exits, as systemd would.
3. The live simulator writes at the asked rate; the scenario breaks something and
   repairs it; recovery is timed with a probe row committed right after the repair.
4. Once the load is over and the graph equals the source, the run is observed:
   canonical graph lines, alerts, webhook ledger, dead letters.
5. Reference: the graph is cleared and one undisturbed worker (new group, own
   alerts topic) rebuilds it from the same change events; `compare.judge` decides.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import neo4j
import orjson
from rich.console import Console

from fraudgraph.alerts.webhooks.kafka import ensure_topics as ensure_alert_topics
from fraudgraph.alerts.webhooks.testing import new_secret
from fraudgraph.chaos import connector, kafka_io
from fraudgraph.chaos.compare import DeadLetter, ExpectedPoison, RunObservation, Verdict, judge
from fraudgraph.chaos.observe import graph_keys, graph_lines, key_differences, source_keys
from fraudgraph.chaos.options import ENDPOINT_TIMEOUT_S, ChaosOptions
from fraudgraph.chaos.poison import (
    BASE_ID,
    SourcePoison,
    TopicPoison,
    topic_poison,
    write_source_poison,
)
from fraudgraph.chaos.processes import Child, Supervisor, fraudgraph_argv
from fraudgraph.chaos.proxy import FaultyProxy
from fraudgraph.connectors.definitions import ConnectorDefinition
from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.errors import FraudgraphError
from fraudgraph.graph.admin import clear_graph
from fraudgraph.graph.connection import open_driver
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.waiting import DeadlineExceeded, wait_for
from fraudgraph.stream.topics import cdc_topics, ensure_topics

if TYPE_CHECKING:
    from fraudgraph.chaos.scenarios.base import Scenario

WEBHOOK_SECRET_ENV = "FRAUDGRAPH_CHAOS_WEBHOOK_SECRET"  # noqa: S105 - a variable name
SECONDS_BEFORE_FAULT = 20.0


class ChaosError(FraudgraphError):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_settings(settings: Settings, run: str, work: Path) -> Settings:
    """The run's own topics, groups and webhook files; periodic Louvain off (wall-clock
    driven, so a reference run could not raise the same ring_community alerts)."""
    return settings.model_copy(
        update={
            "topic_prefix": run,
            "worker_group": f"{run}-worker",
            "alerts_topic": f"{run}.alerts",
            "alerts_shadow_topic": f"{run}.alerts-shadow",
            "deadletter_topic": f"{run}.deadletter",
            "webhooks_group": f"{run}-webhooks",
            "webhooks_retry_topic_prefix": f"{run}.webhooks-retry",
            "webhooks_deadletter_topic": f"{run}.webhooks-deadletter",
            "webhooks_file": work / "endpoints.yaml",
            "metrics_port": 0,
            "webhooks_metrics_port": 0,
            "cluster_interval_seconds": 0.0,
        }
    )


class ChaosRun:
    """The running system a scenario acts on, and the record of what it did."""

    def __init__(
        self,
        settings: Settings,
        stack: Stack,
        options: ChaosOptions,
        console: Console,
    ) -> None:
        self.id = f"chaos-{uuid.uuid4().hex[:8]}"
        self.options = options
        self.stack = stack
        self.console = console
        self.work = options.work_dir or (settings.state_dir / "chaos" / self.id)
        self.work.mkdir(parents=True, exist_ok=True)
        self.settings = run_settings(settings, self.id, self.work)
        self.topics = cdc_topics(self.settings, default_mapping())
        self.connect = ConnectClient(self.settings.connect_url)
        self.definition: ConnectorDefinition = connector.run_definition(self.id)
        self.supervisor = Supervisor()
        self.env = {
            **os.environ,
            **self.settings.as_environment(),
            WEBHOOK_SECRET_ENV: new_secret(),
        }
        self.proxy: FaultyProxy | None = None
        self.receiver_port = free_port()
        self.ledger = self.work / "received.jsonl"
        self.started = time.monotonic()
        self.load_started = 0.0
        self.cleared_at: float | None = None
        self.timeline: list[tuple[float, str]] = []
        self.injected_topic_poison: list[TopicPoison] = []
        self.injected_source_poison: list[SourcePoison] = []
        self._driver: neo4j.Driver | None = None
        self.scenario_workers = 1

    # ---- for scenarios --------------------------------------------------------

    def note(self, what: str) -> None:
        at = time.monotonic() - self.load_started if self.load_started else 0.0
        self.timeline.append((round(at, 1), what))
        self.console.print(f"  [{at:6.1f}s] {what}")

    def pause(self, seconds: float) -> None:
        """Chaos timing (how long a fault lasts), not a wait for a condition."""
        time.sleep(max(0.0, seconds))

    def until_load_second(self, second: float) -> None:
        self.pause(self.load_started + second - time.monotonic())

    def cleared(self) -> None:
        """The fault is repaired now: recovery is timed from here."""
        self.cleared_at = time.monotonic()
        self.note("fault cleared")

    @property
    def worker_names(self) -> list[str]:
        return sorted(n for n in self.supervisor.children if n.startswith("worker-"))

    def worker(self, name: str) -> Child:
        return self.supervisor.children[name]

    def kill_worker(self, name: str) -> None:
        self.worker(name).kill()
        self.note(f"kill -9 {name}")

    def stop_service(self, name: str) -> None:
        service = self.stack.service(name)
        service.process.stop(timeout=service.stop_timeout_s)
        self.note(f"{name} stopped")

    def start_service(self, name: str) -> None:
        self.stack.up([name])
        self.note(f"{name} started and healthy")

    def restart_connector_task(self) -> None:
        connector.restart_task(self.connect, self.definition.name)
        self.note(f"connector {self.definition.name} task 0 restarted")

    def connector_running(self) -> bool:
        states = connector.task_states(self.connect, self.definition.name)
        return len(states) > 1 and all(state == "RUNNING" for state in states)

    def stop_receiver(self) -> None:
        self.supervisor.hold("receiver").stop()
        self.note("webhook receiver stopped")

    def start_receiver(self) -> None:
        self.supervisor.release("receiver")
        self.note("webhook receiver started")

    def slow_receiver(self, delay_s: float) -> None:
        assert self.proxy is not None
        self.proxy.delay_s = delay_s
        self.note(f"webhook receiver slow: {delay_s:.1f}s per request")

    def inject_topic_poison(self) -> None:
        records = topic_poison()
        prefix = f"{self.settings.topic_prefix}.{self.settings.source_schema}"
        kafka_io.produce(
            self.settings.kafka_bootstrap,
            ((f"{prefix}.{p.table}", p.key, p.value) for p in records),
        )
        self.injected_topic_poison += records
        self.note(f"{len(records)} poison records put on the CDC topics")

    def inject_source_poison(self) -> None:
        number = len(self.injected_source_poison) + int(uuid.uuid4().int % 9_000)
        rows = write_source_poison(self.settings.pg_dsn.get_secret_value(), number)
        self.injected_source_poison.append(rows)
        self.note("hostile rows written to the source tables")

    @property
    def driver(self) -> neo4j.Driver:
        if self._driver is None:
            self._driver = open_driver(self.settings)
        return self._driver

    # ---- the run --------------------------------------------------------------

    def _cli(self, args: list[str], what: str, timeout: float = 600) -> None:
        import subprocess  # noqa: PLC0415 - only the one-shot commands need it

        done = subprocess.run(
            fraudgraph_argv(*args), env=self.env, capture_output=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise ChaosError(f"{what} failed: {' / '.join(tail)}")

    def _bank_args(self) -> list[str]:
        o = self.options
        return ["--customers", str(o.customers), "--days", str(o.days), "--seed", str(o.seed)]

    def prepare(self) -> None:
        self.console.print(f"[bold]{self.id}[/]: bulk-loading {self.options.customers} customers")
        self._cli(
            [
                "simulate",
                "--bulk",
                "--reset",
                *self._bank_args(),
                "--labels",
                str(self.work / "bank-labels.jsonl"),
            ],
            "bulk load",
        )
        bootstrap = self.settings.kafka_bootstrap
        ensure_topics(bootstrap, self.topics, partitions=self.stack.config.kafka_partitions)
        ensure_alert_topics(bootstrap, [self.settings.alerts_topic])
        clear_graph(self.driver)
        connector.create(self.connect, self.definition)
        self.note(f"connector {self.definition.name} snapshotting onto {self.id}.*")
        self._start_webhooks()
        for number in range(1, self.scenario_workers + 1):
            self.supervisor.add(self._worker(f"worker-{number}"))
        self.supervisor.begin()
        self._wait(self._graph_equals_source, "graph to hold the bulk-loaded bank", 300)

    def _worker(self, name: str, env: dict[str, str] | None = None) -> Child:
        return Child(
            name,
            lambda: fraudgraph_argv("worker", "--log-level", "WARNING"),
            {**self.env, **(env or {})},
            self.work,
        )

    def _start_webhooks(self) -> None:
        receiver_args = [
            "webhooks", "receive", "--port", str(self.receiver_port),
            "--secret-env", WEBHOOK_SECRET_ENV, "--out", str(self.ledger),
            "--log-level", "WARNING",
        ]  # fmt: skip
        self.supervisor.add(
            Child("receiver", lambda: fraudgraph_argv(*receiver_args), self.env, self.work)
        )
        self.proxy = FaultyProxy(self.receiver_port).start()
        assert self.settings.webhooks_file is not None
        self.settings.webhooks_file.write_text(
            "endpoints:\n"
            "  - name: chaos\n"
            f"    url: http://127.0.0.1:{self.proxy.port}/hook\n"
            f"    secret_env: {WEBHOOK_SECRET_ENV}\n"
            f"    timeout_seconds: {ENDPOINT_TIMEOUT_S}\n"
            "retry:\n"
            "  schedule_seconds: [1, 2, 5]\n"
            "  give_up_after_seconds: 86400\n"
        )
        self.supervisor.add(
            Child(
                "deliverer",
                lambda: fraudgraph_argv("webhooks", "deliver", "--log-level", "WARNING"),
                self.env,
                self.work,
            )
        )

    def _load_argv(self, seconds: float) -> Callable[[], list[str]]:
        def argv() -> list[str]:
            # A restarted load (PostgreSQL went away under it) runs the time left.
            left = max(3.0, seconds - (time.monotonic() - self.load_started))
            return fraudgraph_argv(
                "simulate", "--live", *self._bank_args(),
                "--rate", str(self.options.rate), "--duration", f"{left:.1f}",
                "--case-every", "1", "--labels", str(self.work / "live-labels.jsonl"),
            )  # fmt: skip

        return argv

    def _graph_equals_source(self) -> bool:
        missing, stale = key_differences(
            source_keys(self.settings.pg_dsn.get_secret_value()), graph_keys(self.driver)
        )
        return missing == 0 and stale == 0

    def _wait(self, probe: Callable[[], Any], what: str, timeout: float) -> Any:
        try:
            return wait_for(probe, what=what, timeout=timeout, interval=1.0)
        except DeadlineExceeded as error:
            tails = "\n".join(
                f"--- {c.name} ---\n{c.tail(8)}" for c in self.supervisor.children.values()
            )
            raise ChaosError(f"{error}\n{tails}") from error

    def measure_recovery(self) -> float:
        """Seconds from the repair until a probe row committed then is in the graph and
        the workers have committed every change captured up to that moment."""
        assert self.cleared_at is not None
        probe_id = BASE_ID + 900_000 + int(uuid.uuid4().int % 90_000)
        dsn = self.settings.pg_dsn.get_secret_value()

        def commit_probe() -> bool:
            import psycopg  # noqa: PLC0415

            with psycopg.connect(dsn, connect_timeout=3) as connection:
                connection.execute(
                    "INSERT INTO bank.merchants (merchant_id, name, mcc, country)"
                    " VALUES (%s, 'chaos recovery probe', '5999', 'ZZ') ON CONFLICT DO NOTHING",
                    (probe_id,),
                )
            return True

        self._wait(commit_probe, "the recovery probe committed", self.options.recovery_timeout)

        def probe_in_graph() -> bool:
            records, _, _ = self.driver.execute_query(
                "MATCH (m:Merchant {merchant_id: $id}) RETURN count(m) AS n", {"id": probe_id}
            )
            return bool(records[0]["n"])

        self._wait(probe_in_graph, "the recovery probe in the graph", self.options.recovery_timeout)
        self.note("recovery probe in the graph")
        ends = kafka_io.end_offsets(self.settings.kafka_bootstrap, self.topics)
        self._wait(
            lambda: kafka_io.caught_up(
                self.settings.kafka_bootstrap, self.settings.worker_group, ends
            ),
            "workers to catch up",
            self.options.recovery_timeout,
        )
        recovery = time.monotonic() - self.cleared_at
        self.note(f"recovered in {recovery:.1f}s")
        return recovery

    def measure_webhook_recovery(self) -> float:
        """Seconds from the repair until every alert published before it was recorded."""
        assert self.cleared_at is not None
        alerts = self.alerts(self.settings.alerts_topic)
        wanted = {str(a["alert_id"]) for a in alerts if not a.get("shadow")}
        self._wait(
            lambda: wanted <= set(self.ledger_ids()),
            f"{len(wanted)} webhooks recorded",
            self.options.recovery_timeout,
        )
        recovery = time.monotonic() - self.cleared_at
        self.note(f"webhooks recovered in {recovery:.1f}s ({len(wanted)} alerts)")
        return recovery

    def alerts(self, topic: str) -> list[dict[str, Any]]:
        return [
            orjson.loads(m.value)
            for m in kafka_io.read_topic(self.settings.kafka_bootstrap, topic)
            if m.value
        ]

    def ledger_ids(self) -> list[str]:
        if not self.ledger.exists():
            return []
        ids = []
        for line in self.ledger.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                ids.append(str(orjson.loads(line)["webhook_id"]))
        return ids

    def dead_letters(self, topic: str) -> list[DeadLetter]:
        letters = []
        for message in kafka_io.read_topic(self.settings.kafka_bootstrap, topic):
            letters.append(
                DeadLetter(
                    reason=message.header("dlq.reason") or "",
                    topic=message.header("dlq.topic") or "",
                    partition=int(message.header("dlq.partition") or -1),
                    offset=int(message.header("dlq.offset") or -1),
                    value=message.value,
                )
            )
        return letters

    def converge(self) -> kafka_io.Offsets:
        """Wait until the graph equals the source and everything captured is committed."""
        self._wait(self._graph_equals_source, "graph = source", self.options.recovery_timeout)
        ends = kafka_io.end_offsets(self.settings.kafka_bootstrap, self.topics)
        self._wait(
            lambda: kafka_io.caught_up(
                self.settings.kafka_bootstrap, self.settings.worker_group, ends
            ),
            "workers to commit every captured change",
            self.options.recovery_timeout,
        )
        alerts = self.alerts(self.settings.alerts_topic)
        wanted = {str(a["alert_id"]) for a in alerts if not a.get("shadow")}
        self._wait(
            lambda: wanted <= set(self.ledger_ids()),
            f"{len(wanted)} webhooks recorded",
            self.options.recovery_timeout,
        )
        return ends

    def observe(self, alerts_topic: str, deadletter_topic: str, webhooks: bool) -> RunObservation:
        missing, stale = key_differences(
            source_keys(self.settings.pg_dsn.get_secret_value()), graph_keys(self.driver)
        )
        alerts = self.alerts(alerts_topic)
        # Kept with the run's logs: the topics are deleted at the end.
        (self.work / f"{alerts_topic}.jsonl").write_bytes(
            b"".join(orjson.dumps(alert) + b"\n" for alert in alerts)
        )
        return RunObservation(
            graph=graph_lines(self.driver),
            source_missing=missing,
            source_stale=stale,
            alerts=alerts,
            webhook_ids=self.ledger_ids() if webhooks else [],
            dead_letters=self.dead_letters(deadletter_topic),
        )

    def reference(self, ends: dict[tuple[str, int], int]) -> RunObservation:
        """A clean run over the same change events: one worker, nothing broken."""
        group = f"{self.id}-reference"
        alerts, letters = f"{self.id}.reference-alerts", f"{self.id}.reference-deadletter"
        clear_graph(self.driver)
        worker = self._worker(
            "reference",
            {
                "FRAUDGRAPH_WORKER_GROUP": group,
                "FRAUDGRAPH_ALERTS_TOPIC": alerts,
                "FRAUDGRAPH_ALERTS_SHADOW_TOPIC": f"{self.id}.reference-alerts-shadow",
                "FRAUDGRAPH_DEADLETTER_TOPIC": letters,
            },
        )
        worker.start()
        try:
            wait_for(
                lambda: kafka_io.caught_up(self.settings.kafka_bootstrap, group, ends),
                what="reference worker to process every change",
                timeout=self.options.recovery_timeout,
                interval=1.0,
                abort=lambda: (
                    None if worker.running() else f"reference worker exited:\n{worker.tail()}"
                ),
            )
        finally:
            worker.stop()
        return self.observe(alerts, letters, webhooks=False)

    def cleanup(self) -> None:
        self.supervisor.shutdown()
        if self.proxy is not None:
            self.proxy.close()
        if self._driver is not None:
            self._driver.close()
        if self.options.keep_topics:
            return
        with contextlib.suppress(Exception):
            connector.remove(self.connect, self.stack, self.definition)
        with contextlib.suppress(Exception):
            kafka_io.delete_topics(self.settings.kafka_bootstrap, self.id)


def run_scenario(
    scenario: Scenario,
    settings: Settings,
    stack: Stack,
    options: ChaosOptions,
    console: Console,
) -> dict[str, Any]:
    outage = options.outage if options.outage is not None else scenario.default_outage_s
    load_s = max(options.duration, scenario.min_load_s(outage))
    run = ChaosRun(settings, stack, options, console)
    run.scenario_workers = scenario.workers
    console.print(
        f"[bold]{scenario.name}[/]: {scenario.describe(outage)}; "
        f"load {options.rate:g} tx/s for {load_s:.0f}s"
    )
    try:
        run.prepare()
        start = kafka_io.end_offsets(settings.kafka_bootstrap, run.topics)
        run.load_started = time.monotonic()
        run.supervisor.add(
            Child("load", run._load_argv(load_s), run.env, run.work, restart_on_success=False)
        )
        run.note(f"live load started ({options.rate:g} tx/s)")
        run.until_load_second(min(SECONDS_BEFORE_FAULT, load_s / 4))
        scenario.inject(run, outage)
        if run.cleared_at is None:
            run.cleared()
        recovery = (
            run.measure_webhook_recovery()
            if scenario.name == "webhook-outage"
            else run.measure_recovery()
        )
        load = run.supervisor.children["load"]
        run._wait(
            lambda: load.returncode() == 0,
            "the live load to finish",
            load_s + options.recovery_timeout,
        )
        load_seconds = time.monotonic() - run.load_started
        ends = run.converge()
        events = sum(ends.values()) - sum(start.values())
        run.note("converged: graph = source, every change committed, every webhook recorded")
        chaos = run.observe(run.settings.alerts_topic, run.settings.deadletter_topic, webhooks=True)
        exits = [
            {"child": e.child, "code": e.code, "at_s": round(e.at - run.load_started, 1)}
            for e in run.supervisor.exits
        ]
        run.supervisor.shutdown()
        console.print("reference run: one clean worker over the same change events …")
        reference_started = time.monotonic()
        reference = run.reference(ends)
        reference_s = time.monotonic() - reference_started
        poison = [ExpectedPoison(p.value, p.reason) for p in run.injected_topic_poison]
        verdict: Verdict = judge(chaos, reference, poison)
        extra = scenario.check(run)
        problems = [p for key, value in extra.items() if key.endswith("_problems") for p in value]
        result = {
            "scenario": scenario.name,
            "fault": scenario.describe(outage),
            "run": run.id,
            "rate_asked_tx_s": options.rate,
            "load_seconds": round(load_seconds, 1),
            "events": events,
            "events_per_s": round(events / load_seconds, 1),
            "recovery_s": round(recovery, 1),
            "reference_run_s": round(reference_s, 1),
            **{k: v for k, v in verdict.as_dict().items() if k != "ok"},
            "ok": verdict.ok and not problems,
            "scenario_checks": extra,
            "process_exits": exits,
            "timeline": run.timeline,
            "options": {
                "customers": options.customers,
                "days": options.days,
                "seed": options.seed,
                "outage_s": outage,
            },
            "work_dir": str(run.work),
        }
        # Also beside the run's logs, whoever started it (a test captures the console).
        (run.work / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        return result
    finally:
        run.cleanup()
