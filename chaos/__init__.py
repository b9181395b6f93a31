"""Fault injection under a live load: `fraudgraph chaos SCENARIO`.

Each scenario breaks one part of the running stack while the simulator writes a
live load, lets the pipeline recover, and compares the outcome with a clean
reference run over the same change events (see harness.py and compare.py).
"""
