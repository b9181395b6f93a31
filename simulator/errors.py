"""Errors of the simulator, under the project's one exception root."""

from fraudgraph.errors import FraudgraphError


class SimulatorError(FraudgraphError):
    """The simulator cannot do what was asked."""


class OptionError(SimulatorError):
    """An option is invalid (bad typology spec, negative size, unknown name...)."""


class DatabaseError(SimulatorError):
    """PostgreSQL is unreachable, lacks the contract schema, or refused the rows."""
