"""What Spark ships to executors on other machines: the whole package, importable from a zip."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from fraudgraph.spark.session import _project_zip

# Executors decode, plan, hash PII and score rings; ring scoring imports observability.
EXECUTOR_MODULES = (
    "fraudgraph.cdc.decode",
    "fraudgraph.graph.plan",
    "fraudgraph.graph.pii",
    "fraudgraph.spark.rings",
    "fraudgraph.spark.features",
    "fraudgraph.detection.clusters",
    "fraudgraph.observability.metrics",
)


def test_the_zip_holds_the_whole_package_and_its_data(tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(_project_zip(tmp_path)).namelist())
    assert {name.split("/")[0] for name in names} == {"fraudgraph"}
    for expected in ("fraudgraph/observability/metrics.py", "fraudgraph/graph/mapping.yaml"):
        assert expected in names
    assert not any("__pycache__" in name for name in names)


def test_executors_import_from_the_zip_and_read_its_data(tmp_path: Path) -> None:
    archive = _project_zip(tmp_path)
    probe = (
        f"import sys; sys.path.insert(0, {str(archive)!r})\n"
        f"import importlib\n"
        f"for name in {EXECUTOR_MODULES!r}: importlib.import_module(name)\n"
        "import fraudgraph, fraudgraph.graph.mapping as m\n"
        "print(fraudgraph.__file__)\n"
        "print(len(m.load_mapping().tables))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    origin, nodes = done.stdout.split()
    assert origin.startswith(str(archive))  # from the zip, not the checkout
    assert int(nodes) > 0
