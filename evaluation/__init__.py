"""Detection quality measured against the simulator's labels: precision, recall,
F1, ring-level recall and detection delay, per typology and overall."""
