"""Every log line is one JSON object: ours (structlog) and the libraries' (stdlib logging)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from mode.utils.logging import setup_logging

from fraudgraph.observability.logs import configure_logging, get_logger, logging_config


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_stdlib_logger_line_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    logging.getLogger("aiokafka.consumer.group_coordinator").warning(
        "joined group %s as %r", "fraudgraph-graph", "member-1", extra={"topic": "bank.bank.cards"}
    )
    (line,) = _lines(capsys.readouterr().err)
    assert line["event"] == "joined group fraudgraph-graph as 'member-1'"
    assert line["level"] == "warning"
    assert line["logger"] == "aiokafka.consumer.group_coordinator"
    assert line["topic"] == "bank.bank.cards"
    assert line["timestamp"].endswith("Z")


def test_our_events_and_library_records_share_one_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    get_logger("stream.app").info("batch_written", events=12)
    logging.getLogger("faust.worker").error("agent crashed")
    ours, theirs = _lines(capsys.readouterr().err)
    assert ours["event"] == "batch_written"
    assert ours["events"] == 12
    assert ours["logger"] == "stream.app"
    assert {"timestamp", "level", "logger", "event"} <= set(ours) & set(theirs)


def test_levels_below_the_configured_one_are_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING")
    get_logger("stream.app").info("quiet")
    logging.getLogger("mode").info("quiet too")
    get_logger("stream.app").warning("loud")
    assert [line["event"] for line in _lines(capsys.readouterr().err)] == ["loud"]


def test_a_library_exception_is_rendered_into_the_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def commit() -> None:
        raise ValueError("bad offset")

    configure_logging("INFO")
    try:
        commit()
    except ValueError:
        logging.getLogger("confluent_kafka").exception("commit failed")
    (line,) = _lines(capsys.readouterr().err)
    assert line["level"] == "error"
    assert "ValueError: bad offset" in line["exception"]


def test_faust_workers_logging_setup_keeps_the_json_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # mode (under faust.Worker) clears the root handlers and applies the dict it is given.
    configure_logging("INFO")
    setup_logging(loglevel="WARNING", logging_config=logging_config("INFO"))
    logging.getLogger("faust.transport.drivers.aiokafka").info("partitions assigned")
    (line,) = _lines(capsys.readouterr().err)
    assert line["event"] == "partitions assigned"
    assert line["logger"] == "faust.transport.drivers.aiokafka"
