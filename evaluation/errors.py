"""Errors of the evaluation, under the project's one exception root."""

from fraudgraph.errors import FraudgraphError


class EvaluationError(FraudgraphError):
    """Labels or alerts cannot be read, or an option is invalid."""
