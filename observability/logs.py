"""Structured JSON logs: one line per event, context bound once and carried along.

Our own loggers (structlog) and every library logging through the standard
`logging` module (Faust, mode, aiokafka, confluent-kafka, neo4j) end in the same
handler and render the same JSON line: timestamp, level, logger, event, plus
whatever context was bound. structlog's ProcessorFormatter is the bridge: our
events arrive pre-processed, foreign records go through the same shared chain.

Faust's worker (mode) replaces the root logger's handlers when it starts; pass
it `logging_config=logging_config(level)` so it installs this configuration
instead of its coloured console format.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger


def add_trace_context(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """trace_id and span_id of the OpenTelemetry span current when the line was logged."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


# Applied to our events and to stdlib records alike, before rendering.
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    add_trace_context,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: one JSON handler on stderr at the root."""
    return {
        "version": 1,
        # Loggers created at import time (aiokafka's, faust's) must keep working.
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": [
                    *_SHARED,
                    # Fields a library passed as logging's `extra=`.
                    structlog.stdlib.ExtraAdder(),
                ],
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr with timestamp, level, logger and event; call once at start-up."""
    logging.config.dictConfig(logging_config(level))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            # Hands the event dict to the handler's ProcessorFormatter, which renders it.
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def kafka_client_logger() -> logging.Logger:
    """Pass as `"logger"` in confluent-kafka producer and consumer configs.

    Without it librdkafka writes its own `%6|…|BGQUEUE|…` lines straight to stderr,
    the one non-JSON line in a worker's log; with it they arrive through `logging`
    (served by the client's poll/flush) and render as JSON like everything else.
    (The AdminClient takes one too, though its typing stubs say otherwise.)
    """
    return logging.getLogger("librdkafka")


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
