"""Signed webhook delivery of alerts (Standard Webhooks) and a verifying receiver."""
