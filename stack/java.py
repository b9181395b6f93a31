"""The Java runtime the JVM services share."""

from __future__ import annotations

import shutil

from fraudgraph.stack.install import ensure_debian_package


def java_binary() -> str:
    ensure_debian_package("openjdk-17-jre-headless")
    found = shutil.which("java")
    assert found is not None  # ensure_debian_package raised otherwise
    return found


def heap_flags(heap: str) -> list[str]:
    """A fixed small heap per JVM: 2 cores and 24 GB hold the whole stack."""
    return ["-Xms128m", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true"]
