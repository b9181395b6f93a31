"""`fraudgraph webhooks …`: deliver alerts to endpoints, or receive them for a demo."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from fraudgraph.alerts.webhooks.config import WebhookConfig, load_config, secret_signer
from fraudgraph.alerts.webhooks.disabled import DisabledEndpoints
from fraudgraph.alerts.webhooks.receiver import Ledger, build_server
from fraudgraph.alerts.webhooks.retry import RetryTopics
from fraudgraph.alerts.webhooks.service import disabled_endpoints_path, run_delivery
from fraudgraph.errors import ConfigError
from fraudgraph.observability.logs import configure_logging, get_logger
from fraudgraph.settings import Settings, get_settings

app = typer.Typer(help="Signed alert webhooks (Standard Webhooks).", no_args_is_help=True)
log = get_logger(__name__)

LogLevel = Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")]
EndpointsOption = Annotated[
    Path | None,
    typer.Option("--file", help="Endpoints file (default: FRAUDGRAPH_WEBHOOKS_FILE)."),
]


@app.command()
def deliver(file: EndpointsOption = None, log_level: LogLevel = "INFO") -> None:
    """Deliver alerts to the configured endpoints until SIGTERM or SIGINT."""
    configure_logging(log_level.upper())
    settings = get_settings()
    config = _config(settings, file)
    run_delivery(settings, config, _stop_on_signals())


@app.command()
def check(file: EndpointsOption = None) -> None:
    """Validate the endpoints file and its secrets; list endpoints and retry topics."""
    settings = get_settings()
    config = _config(settings, file)
    disabled = DisabledEndpoints(disabled_endpoints_path(settings))
    disabled.load()
    for endpoint in config.endpoints:
        kinds = ",".join(sorted(endpoint.kinds)) if endpoint.kinds else "all"
        state = "DISABLED (410)" if disabled.is_disabled(endpoint) else "enabled"
        url = str(endpoint.url).split("?", 1)[0]
        typer.echo(
            f"{endpoint.name}: {url} kinds={kinds} "
            f"min_severity={endpoint.min_severity or 'low'} {state}"
        )
    topics = RetryTopics(settings.webhooks_retry_topic_prefix, config.retry)
    typer.echo(f"retry topics: {' '.join(topics.all())}")


@app.command()
def enable(name: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Re-enable an endpoint disabled after it answered 410 Gone."""
    disabled = DisabledEndpoints(disabled_endpoints_path(get_settings()))
    disabled.load()
    if not disabled.enable(name):
        raise ConfigError(f"endpoint {name} is not disabled")
    typer.echo(f"{name} enabled; restart `fraudgraph webhooks deliver` to pick it up")


@app.command()
def receive(
    port: Annotated[int, typer.Option(help="Port (0: any free one).")],
    secret_env: Annotated[
        str, typer.Option(help="Name of the environment variable holding the whsec_ secret.")
    ],
    out: Annotated[Path, typer.Option(help="JSON-lines file of first-seen deliveries.")],
    *,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    alertmanager_token_env: Annotated[
        str | None,
        typer.Option(
            help="Environment variable holding a bearer token: also take Alertmanager's "
            "notifications on POST /alertmanager."
        ),
    ] = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Run a verifying webhook receiver that records each delivery once."""
    configure_logging(log_level.upper())
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, not {port}")
    secret = os.environ.get(secret_env, "")
    if not secret:
        raise ConfigError(f"environment variable {secret_env} is not set")
    signer = secret_signer(secret, f"environment variable {secret_env}")
    alertmanager_token = None
    if alertmanager_token_env is not None:
        alertmanager_token = os.environ.get(alertmanager_token_env, "")
        if not alertmanager_token:
            raise ConfigError(f"environment variable {alertmanager_token_env} is not set")
    ledger = Ledger(out)
    ledger.open()
    try:
        server = build_server(host, port, signer, ledger, alertmanager_token)
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    stop = _stop_on_signals()
    serving = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    serving.start()
    log.info("receiver_listening", host=host, port=server.server_address[1], out=str(out))
    stop.wait()
    server.shutdown()
    server.server_close()
    ledger.close()
    log.info("receiver_stopped", **vars(ledger.counts))


def _config(settings: Settings, file: Path | None) -> WebhookConfig:
    path = file or settings.webhooks_file
    if path is None:
        raise ConfigError(
            "no endpoints file: set FRAUDGRAPH_WEBHOOKS_FILE or pass --file "
            "(see alerts/webhooks/endpoints.example.yaml)"
        )
    return load_config(path, os.environ)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop
