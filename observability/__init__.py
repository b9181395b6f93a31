"""Logging, metrics and tracing used by every hop; depends on none of them."""
