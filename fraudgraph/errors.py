"""The one exception root of fraudgraph.

Every error a user can cause or a service can raise is translated at the edge
into a subclass of FraudgraphError, so the CLI can print one clear line instead
of a traceback, and callers can tell retryable failures from fatal ones.
"""


class FraudgraphError(Exception):
    """Base of every error fraudgraph raises on purpose."""


class ConfigError(FraudgraphError):
    """Settings or a definition file are invalid; retrying will not help."""


class RetryableError(FraudgraphError):
    """A dependency is briefly unavailable; the operation may be retried."""
