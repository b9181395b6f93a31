"""Alerts: the contract's alert shape, the alerts topic, and webhook delivery."""
