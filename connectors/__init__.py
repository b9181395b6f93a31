"""Kafka Connect: connector definition files and applying them over Connect's REST API."""
