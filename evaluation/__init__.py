"""Detection quality: alerts scored against the simulator's labelled ground truth."""
