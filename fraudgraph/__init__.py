"""fraudgraph: streaming CDC and fraud-graph analytics for a bank's PostgreSQL."""

__version__ = "0.1.0"
