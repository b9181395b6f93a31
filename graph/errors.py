"""Neo4j failures translated at the edge: retry the batch, or isolate the bad change."""

from fraudgraph.errors import FraudgraphError, RetryableError


class GraphUnavailableError(RetryableError):
    """Neo4j is down, a leader is switching, or a transaction hit a transient error."""


class GraphWriteError(FraudgraphError):
    """Neo4j rejected the batch (a constraint, a type): retrying the same batch won't help."""


class GraphQueryError(FraudgraphError):
    """Neo4j refused a statement itself (syntax, semantics): our bug, not the data's.

    Never dead-letter on this: every event would follow. The worker stops instead.
    """
