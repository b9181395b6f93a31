"""Optional parts of fraudgraph, installed as extras, and the line a user reads without one.

The worker needs neither Spark nor Faker, so they are the extras `spark` and
`simulator`; a command that needs one imports it through `require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from fraudgraph.errors import ConfigError


class MissingExtraError(ConfigError):
    """A command needs a package from one of fraudgraph's extras that is not installed."""


def require(module: str, *, extra: str) -> ModuleType:
    """Import `module`, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module.split(".", maxsplit=1)[0]:
            raise  # the package is there but broken: its own error says more
        raise MissingExtraError(
            f"this command needs {module}, which comes with an extra: "
            f"pip install 'fraudgraph[{extra}]'"
        ) from error
