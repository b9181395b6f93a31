"""Session fixtures: the real native stack, started once, failing loudly if it cannot start.

Integration tests never skip for a missing service: a service that cannot start
fails the session with its name and the last lines of its log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fraudgraph.settings import Settings
from fraudgraph.stack.client_env import client_environment
from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.manager import Stack, demo_worker


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The native stack, every service up and healthy; stopped at the end if we started it."""
    native = Stack(StackConfig())
    already_running = all(s.process.process() is not None for s in native.services)
    native.up()
    # `make demo` leaves its stream worker running; it would share the tests' consumer
    # group and write into the graph they empty and compare. The tests own the stack.
    if demo_worker(native.config).stop():
        print("\nstopped the demo's stream worker: the tests need the stack to themselves")
    yield native
    if not already_running and os.environ.get("FRAUDGRAPH_KEEP_STACK") != "1":
        native.down()


@pytest.fixture(scope="session")
def postgres_only() -> Stack:
    """Just PostgreSQL, for tests of the source side (faster than the whole stack)."""
    native = Stack(StackConfig())
    native.up(["postgres"])
    return native


def _settings_for(native: Stack) -> Settings:
    variables = client_environment(native.config, native.secrets)
    return Settings(**{k.removeprefix("FRAUDGRAPH_").lower(): v for k, v in variables.items()})


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    """Client settings pointing at the running stack."""
    return _settings_for(stack)


@pytest.fixture(scope="session")
def pg_dsn(postgres_only: Stack) -> str:
    """A password DSN for the demo `bank` database as the app role."""
    return _settings_for(postgres_only).pg_dsn.get_secret_value()
