"""The simulator against the real PostgreSQL: every constraint enforced by the server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from fraudgraph.simulator import live as live_mode
from fraudgraph.simulator import loader
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.labels import read_labels
from fraudgraph.simulator.options import make_options
from fraudgraph.simulator.rows import TABLE_ORDER
from fraudgraph.simulator.typologies import TYPOLOGIES
from tests.support import assert_no_text_in_bank

pytestmark = pytest.mark.integration

FRAUDGRAPH = str(Path(sys.executable).with_name("fraudgraph"))
SMALL = ["--customers", "300", "--days", "3", "--seed", "4"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FRAUDGRAPH, *args], capture_output=True, text=True, timeout=120, check=False
    )


def counts(dsn: str) -> dict[str, int]:
    result = {}
    with psycopg.connect(dsn) as conn:
        for table in TABLE_ORDER:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("bank", table))
            row = conn.execute(query).fetchone()
            result[table] = int(row[0]) if row else -1
    return result


@pytest.fixture(scope="module")
def loaded(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    labels = tmp_path_factory.mktemp("sim") / "labels.jsonl"
    done = cli("simulate", *SMALL, "--reset", "--labels", str(labels), "--dsn", pg_dsn)
    assert done.returncode == 0, done.stderr
    return labels


def test_bulk_load_matches_the_generated_bank(loaded: Path, pg_dsn: str) -> None:
    bank = generate(make_options(customers=300, days=3, seed=4))
    assert counts(pg_dsn) == bank.row_counts()
    assert read_labels(loaded) == bank.labels
    with psycopg.connect(pg_dsn) as conn:
        first = bank.tables["transactions"][-1]
        row = conn.execute(
            "SELECT amount, created_at FROM bank.transactions WHERE txn_id = %s", (first[0],)
        ).fetchone()
        assert row == (first.amount, first.created_at)  # type: ignore[union-attr]


def test_labels_never_reach_the_database(loaded: Path, pg_dsn: str) -> None:
    markers = {label.case_id for label in read_labels(loaded)} | set(TYPOLOGIES)
    assert_no_text_in_bank(pg_dsn, markers | {"case_id", "typology"})
    with psycopg.connect(pg_dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'bank'"
        ).fetchall()
        assert sorted(t for (t,) in tables) == sorted(TABLE_ORDER)


def test_second_load_without_reset_is_refused(loaded: Path, pg_dsn: str, tmp_path: Path) -> None:
    done = cli("simulate", *SMALL, "--labels", str(tmp_path / "l.jsonl"), "--dsn", pg_dsn)
    assert done.returncode == 2
    assert "--reset" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_live_mode_inserts_updates_and_deletes(loaded: Path, pg_dsn: str) -> None:
    options = make_options(customers=300, days=3, seed=4)
    before = counts(pg_dsn)
    conn = loader.connect(pg_dsn)
    world, active, how = live_mode.prepare(conn, options, time.time())
    assert how == "reused from the database"
    clock = live_mode.Clock(time.time(), 36_000)
    world.sink = live_mode.LiveSink(clock)
    settings = live_mode.LiveOptions(
        rate=400, duration=4, time_scale=36_000, case_every=0.4, case_horizon=1.5, rare_every=40
    )
    run = live_mode.LiveRun(
        conn, world=world, clock=clock, options=options, live=settings, active=active
    )
    stats = run.run()
    conn.close()
    after = counts(pg_dsn)
    assert after["transactions"] - before["transactions"] == stats.transactions
    assert 0.8 * 400 <= stats.txn_rate <= 1.1 * 400
    assert stats.updated["customers"] > 0 and stats.updated["accounts"] > 0
    assert stats.deleted_logins > 0 and stats.cases > 0
    labels = run.labels()
    assert labels and all(label.case_id.startswith("live-") for label in labels)
    with psycopg.connect(pg_dsn) as check:
        newest = check.execute("SELECT max(created_at) FROM bank.transactions").fetchone()
        assert (
            newest is not None and abs(newest[0].timestamp() - time.time()) < 30
        )  # event time is now


def test_bad_option_is_one_line(tmp_path: Path) -> None:
    for args in (["--customers", "5"], ["--fraud", "bogus=2"], ["--bulk", "--live"]):
        done = cli("simulate", *args, "--dry-run", "--labels", str(tmp_path / "x.jsonl"))
        assert done.returncode != 0
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr


def test_database_down_is_one_line(tmp_path: Path) -> None:
    done = cli(
        "simulate",
        *SMALL,
        "--labels",
        str(tmp_path / "x.jsonl"),
        "--dsn",
        "postgresql://fraudgraph:x@127.0.0.1:1/bank",
    )
    assert done.returncode == 2
    assert "cannot connect to PostgreSQL" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_database_without_schema_is_one_line(pg_dsn: str, tmp_path: Path) -> None:
    other = psycopg.conninfo.make_conninfo(pg_dsn, dbname="postgres")
    done = cli("simulate", *SMALL, "--labels", str(tmp_path / "x.jsonl"), "--dsn", other)
    assert done.returncode == 2
    assert "lacks table(s)" in done.stderr and "Traceback" not in done.stderr
