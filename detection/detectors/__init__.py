"""The detectors: one module per rule, named after it; `_` modules hold shared code.

`registry` finds them (see its docstring for what a rule module holds).
"""
