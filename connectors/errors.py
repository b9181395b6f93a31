"""Errors of connector management, under the project's one exception root."""

from fraudgraph.errors import ConfigError, FraudgraphError, RetryableError


class ConnectorDefinitionError(ConfigError):
    """A connector file is not a valid definition."""


class ConnectUnavailableError(RetryableError):
    """Kafka Connect's REST API did not answer."""


class ConnectorRejectedError(FraudgraphError):
    """Kafka Connect refused the configuration, or the connector or a task failed."""
