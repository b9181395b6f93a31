"""Security checks on the running stack and the repository.

- every service listens on loopback only, and nothing off-host reaches Connect's REST;
- Neo4j and PostgreSQL refuse missing and wrong credentials;
- no raw PII from the simulator in Neo4j, on the alerts topic or in metrics labels;
- no secret in a tracked file (real-looking passwords, private keys, the stack's own).

Webhook signatures, replays and stale timestamps are covered against the receiver in
tests/unit/test_webhooks_receiver.py (Standard Webhooks library on both sides).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import neo4j
import orjson
import psutil
import psycopg
import pytest
from neo4j.exceptions import AuthError

from fraudgraph.graph.admin import clear_graph
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.secrets import SECRET_ENV
from fraudgraph.stack.waiting import wait_for
from fraudgraph.stream.topics import cdc_topics, ensure_topics
from tests.repo import PROJECT_ROOT
from tests.support import (
    WorkerProcess,
    collect,
    private_run,
    run_cli,
    temporary_connector,
    wait_until_consumed,
)

pytestmark = pytest.mark.integration

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def listening(pids: set[int]) -> list[tuple[str, int, int]]:
    """(address, port, pid) of every TCP listener owned by `pids`."""
    return [
        (c.laddr.ip, c.laddr.port, c.pid)
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.pid in pids and c.laddr
    ]


def service_pids(stack: Stack, name: str) -> set[int]:
    process = stack.service(name).process.process()
    assert process is not None, f"{name} is not running"
    return {process.pid, *(child.pid for child in process.children(recursive=True))}


def test_every_service_listens_on_loopback_only(stack: Stack) -> None:
    for service in stack.services:
        sockets = listening(service_pids(stack, service.name))
        assert sockets, f"{service.name} listens nowhere"
        off_loopback = [s for s in sockets if s[0] not in LOOPBACK]
        assert not off_loopback, f"{service.name} listens beyond loopback: {off_loopback}"
        ports = {port for _, port, _ in sockets}
        assert set(service.ports) <= ports, f"{service.name}: {service.ports} vs {ports}"


def host_addresses() -> list[str]:
    """This machine's addresses other than loopback (what another host would dial)."""
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET:
                ip = ipaddress.ip_address(address.address)
                if not ip.is_loopback:
                    found.append(address.address)
    return found


def test_connect_rest_is_not_reachable_off_host(stack: Stack, settings: Settings) -> None:
    port = stack.config.connect_port
    assert httpx.get(f"{settings.connect_url}/", timeout=5).status_code == 200
    addresses = host_addresses()
    assert addresses, "no non-loopback address to probe from"
    for address in addresses:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{address}:{port}/connectors", timeout=3)


def test_neo4j_refuses_no_auth_and_a_wrong_password(stack: Stack, settings: Settings) -> None:
    for auth in (None, (settings.neo4j_user, "not-the-password")):
        with (
            neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver,
            pytest.raises(AuthError),
        ):
            driver.verify_connectivity()
    # The HTTP API too; and the right password still works (the user is not locked).
    answer = httpx.post(
        f"http://127.0.0.1:{stack.config.neo4j_http_port}/db/neo4j/tx/commit",
        json={"statements": [{"statement": "RETURN 1"}]},
        timeout=10,
    )
    assert answer.status_code == 401
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
        wait_for(lambda: driver.verify_connectivity() is None, what="neo4j login", timeout=30)


def test_postgres_refuses_tcp_logins_without_the_password(settings: Settings) -> None:
    dsn = settings.pg_dsn.get_secret_value()
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    for user, password in (("fraudgraph", "wrong"), ("debezium", "wrong"), ("postgres", "")):
        attempt = {**info, "user": user, "password": password}
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(**attempt, connect_timeout=5).close()  # type: ignore[arg-type]
    with psycopg.connect(dsn, connect_timeout=5) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


@dataclass
class Bank:
    settings: Settings
    driver: neo4j.Driver
    worker: WorkerProcess
    metrics_port: int
    pii: set[str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def simulator_pii(dsn: str) -> set[str]:
    """Every raw identifying value the simulator wrote (long enough to match safely)."""
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT full_name, email, phone, national_id, address_line FROM bank.customers"
        ).fetchall()
        rows += connection.execute("SELECT pan_token, iban, '' FROM bank.cards JOIN"
                                   " bank.accounts USING (account_id)").fetchall()  # fmt: skip
        rows += connection.execute("SELECT fingerprint FROM bank.devices").fetchall()
    return {str(value) for row in rows for value in row if value and len(str(value)) >= 6}


def customer_count(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT count(*) FROM bank.customers").fetchone()
        return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def bank(
    settings: Settings, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bank]:
    labels = tmp_path_factory.mktemp("sec") / "labels.jsonl"
    loaded = run_cli(
        "simulate", "--bulk", "--reset", "--customers", "150", "--days", "3", "--seed", "23",
        "--labels", str(labels), settings=settings,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    port = free_port()
    local = private_run(settings, "sec", metrics_port=port, cluster_interval_seconds=0.0)
    topics = cdc_topics(local, default_mapping())
    ensure_topics(local.kafka_bootstrap, topics)
    auth = (local.neo4j_user, local.neo4j_password.get_secret_value())
    with (
        neo4j.GraphDatabase.driver(local.neo4j_uri, auth=auth) as driver,
        temporary_connector(local, stack, local.topic_prefix),
    ):
        clear_graph(driver)  # earlier tests' banks share customer ids with this one
        worker = WorkerProcess(local)
        worker.start()
        try:
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 200,
                what="worker metrics",
                timeout=120,
                abort=worker.exit_reason,
            )
            customers = customer_count(local.pg_dsn.get_secret_value())
            wait_for(
                lambda: (
                    driver.execute_query(
                        "MATCH (c:Customer) WHERE c._lsn IS NOT NULL RETURN count(c) AS n"
                    ).records[0]["n"]
                    == customers
                ),
                what="the snapshot in the graph",
                timeout=300,
                abort=worker.exit_reason,
            )
            wait_until_consumed(local.kafka_bootstrap, local.worker_group, topics, timeout=300)
            yield Bank(local, driver, worker, port, simulator_pii(local.pg_dsn.get_secret_value()))
        finally:
            worker.kill()


def leaks(texts: list[str], pii: set[str]) -> list[str]:
    return [f"{secret!r} in {text[:120]!r}" for text in texts for secret in pii if secret in text]


def test_no_raw_pii_on_the_alerts_topic(bank: Bank) -> None:
    records = collect(bank.settings.kafka_bootstrap, bank.settings.alerts_topic,
                      lambda seen: len(seen) > 0, timeout=120)  # fmt: skip
    texts = [orjson.dumps(r.value).decode() for r in records if r.value is not None]
    texts += [str(r.key) for r in records]
    assert bank.pii, "the simulated bank has customers"
    assert not leaks(texts, bank.pii)[:5]


def test_no_raw_pii_in_metrics_labels(bank: Bank) -> None:
    text = httpx.get(f"http://127.0.0.1:{bank.metrics_port}/metrics", timeout=5).text
    labels = re.findall(r"\{([^}]*)\}", text)
    assert labels, "the worker exports labelled metrics"
    assert not leaks(labels, bank.pii)[:5]


def test_no_raw_pii_in_the_graph(bank: Bank) -> None:
    records, _, _ = bank.driver.execute_query(
        "MATCH (n) UNWIND keys(n) AS k WITH n[k] AS v WHERE v IS :: STRING RETURN DISTINCT v"
    )
    values = [record["v"] for record in records]
    assert values
    assert not leaks(values, bank.pii)[:5]


# ---- secrets in the repository ------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "webhook secret": re.compile(r"\bwhsec_[A-Za-z0-9+/]{24,}={0,2}"),
    "bearer token": re.compile(r"(?i)authorization:\s*bearer\s+[A-Za-z0-9._-]{20,}"),
    # password = "…" with a literal that looks generated (long, mixed), not a placeholder.
    "password literal": re.compile(
        r"""(?i)(?<![A-Za-z])(?:password|passwd|secret|api_?key|access_?token|auth_?token)"""
        r"""\w*["']?\s*[:=]\s*["']"""
        r"""(?=[^"'\s]*[0-9])(?=[^"'\s]*[A-Za-z])[A-Za-z0-9_\-+/]{16,}["']"""
    ),
}


def tracked_text_files() -> Iterator[tuple[str, str]]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, names):
        path = PROJECT_ROOT / name.decode()
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            continue  # deleted in the working tree
        if b"\0" not in data[:4096]:
            yield name.decode(), data.decode(errors="replace")


def generated_secrets(stack: Stack) -> set[str]:
    """The values in every secrets.env this checkout knows (the stack's and the default)."""
    values = {getattr(stack.secrets, name) for name in SECRET_ENV if hasattr(stack.secrets, name)}
    for file in {stack.secrets.file, PROJECT_ROOT / ".state" / "secrets.env"}:
        if file.exists():
            values |= {
                line.split("=", 1)[1].strip()
                for line in file.read_text().splitlines()
                if "=" in line and not line.startswith("#")
            }
    return {value for value in values if len(value) >= 12}


def test_no_secrets_in_tracked_files(stack: Stack) -> None:
    own = generated_secrets(stack)
    assert own, "the stack has generated secrets to look for"
    found = []
    for name, text in tracked_text_files():
        for what, pattern in SECRET_PATTERNS.items():
            if (match := pattern.search(text)) is not None:
                found.append(f"{name}: {what}: {match.group(0)[:40]}")
        found += [f"{name}: a value from secrets.env" for value in own if value in text]
    assert not found


def test_the_secret_patterns_do_catch_what_they_are_for() -> None:
    """The grep above can fail: each pattern matches a real-looking sample."""
    # Each sample is split in two, so this file does not match its own scan above.
    samples = {
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "AWS access key": "key AKIA" + "ABCDEFGHIJKLMNOP here",
        "webhook secret": "whsec_" + "Zm9vYmFyYmF6cXV4cXV1eHF1dXo=",
        "bearer token": "Authorization: Bearer " + "abcdefghijklmnopqrstuvwx",
        "password literal": 'NEO4J_PASSWORD = "' + 'h2Kq9vX7pLm3Zt8wRb"',
    }
    for what, sample in samples.items():
        assert SECRET_PATTERNS[what].search(sample), what
    assert not SECRET_PATTERNS["password literal"].search('password="${NEO4J_PASSWORD}"')
    assert not SECRET_PATTERNS["password literal"].search('"pan_token": "tok_4111111111111111"')


def test_secrets_file_is_private_and_ignored(stack: Stack) -> None:
    assert stack.secrets.file.stat().st_mode & 0o077 == 0
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(PROJECT_ROOT / ".state" / "secrets.env")],
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert ignored.returncode == 0
    assert Path(PROJECT_ROOT / ".gitignore").exists()
