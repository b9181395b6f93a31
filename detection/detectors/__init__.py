"""The detectors, one module per family; `registry` collects them."""
