"""Errors of the native stack, under the project's one exception root."""

from fraudgraph.errors import FraudgraphError


class StackError(FraudgraphError):
    """A service could not be installed, started, checked or stopped."""


class PortInUseError(StackError):
    """A port a service needs is held by a process that is not ours."""
