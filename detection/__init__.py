"""Fraud detection over the graph as changes arrive: link, anomaly and cluster analysis."""
