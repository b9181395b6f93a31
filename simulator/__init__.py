"""A deterministic bank simulator with labelled fraud typologies.

`generator.generate()` builds a `SimulatedBank` (rows in contract column order plus
ground-truth labels) from a seed and options, in plain Python; `loader` bulk-loads
it with COPY and `live` plays a paced stream of inserts, updates and deletes.
"""
