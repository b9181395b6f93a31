"""fraudgraph installed the way a user installs it: a wheel, a clean venv, another folder.

The checkout's `.venv` is an editable install whose imports could reach the source
tree; these tests build the wheel, install it without extras into a new virtualenv
outside the repository and run the CLI there, down to `stack up` of a second native
stack on its own ports and state folder. A data file missing from the wheel, a path
computed from the source tree or a stray top-level import fails here.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fraudgraph.stack.config import StackConfig
from tests.repo import PROJECT_ROOT

pytestmark = pytest.mark.integration

# The main stack's ports plus this offset (README: a second stack uses +100).
PORT_OFFSET = 300
STACK_START_TIMEOUT_S = 900


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    home: Path  # the folder the user runs fraudgraph from, outside the checkout

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def fraudgraph(self) -> Path:
        return self.venv / "bin" / "fraudgraph"


def _run(argv: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(arg) for arg in argv], capture_output=True, text=True, check=False, **kwargs
    )


def _checked(argv: list[str | Path], **kwargs: object) -> str:
    done = _run(argv, **kwargs)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    # Not pytest's tmp_path: its base folder is mode 700, and the second stack's
    # PostgreSQL runs as the postgres user, who must reach its data folder.
    root = Path(tempfile.mkdtemp(prefix="fraudgraph-install-"))
    root.chmod(0o755)
    try:
        yield _install(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _install(root: Path) -> Installed:
    # From a copy of the working tree: setuptools keeps build/ in the source folder, and
    # a module deleted since an earlier build would still be packaged from there.
    source = root / "source"
    shutil.copytree(
        PROJECT_ROOT,
        source,
        symlinks=True,  # fraudgraph/graph -> ../graph stays a link, as in a clone
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".state", ".cache", "build", "dist", "*.egg-info", "__pycache__"
        ),
    )
    dist = root / "dist"
    _checked(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, source],
        cwd=root,
    )
    (wheel,) = dist.glob("fraudgraph-*.whl")
    venv = root / "venv"
    # The machine's Python, not the checkout's venv: nothing of the checkout leaks in.
    base_python = getattr(sys, "_base_executable", sys.executable)
    _checked([base_python, "-m", "venv", venv])
    _checked(
        [
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "-q",
            "--constraint",
            PROJECT_ROOT / "constraints.txt",
            wheel,
        ],
        cwd=root,
    )
    home = root / "home"
    home.mkdir()
    return Installed(wheel=wheel, venv=venv, home=home)


def _user_env(installed: Installed, **extra: str) -> dict[str, str]:
    """The environment of a user in `home`: no FRAUDGRAPH_* of the session's stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FRAUDGRAPH_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{installed.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def test_the_wheel_holds_only_the_fraudgraph_package(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"fraudgraph", f"{installed.wheel.name.split('-py3')[0]}.dist-info"}
    for data in (
        "fraudgraph/contracts/bank.sql",
        "fraudgraph/contracts/alert.schema.json",
        "fraudgraph/connectors/bank-postgres.json",
        "fraudgraph/graph/mapping.yaml",
        "fraudgraph/graph/saved-queries.cypher",
        "fraudgraph/detection/detectors.yaml",
        "fraudgraph/stack/assets/kafka/pom.xml",
        "fraudgraph/stack/assets/neo4j/neo4j.conf.template",
        "fraudgraph/observability/prometheus/rules.yml",
    ):
        assert data in names


def test_the_install_without_extras_carries_neither_spark_nor_faker(
    installed: Installed,
) -> None:
    probe = "import importlib.util as u; print(u.find_spec('pyspark'), u.find_spec('faker'))"
    assert _checked([installed.python, "-c", probe]).split() == ["None", "None"]


def test_data_files_resolve_inside_the_install(installed: Installed) -> None:
    probe = (
        "import fraudgraph.paths as p; "
        "print(p.GRAPH_MAPPING_YAML); print(p.BANK_SCHEMA_SQL); print(p.STACK_ASSETS_DIR)"
    )
    site = _checked([installed.python, "-c", "import site; print(site.getsitepackages()[0])"])
    for line in _checked([installed.python, "-c", probe], cwd=installed.home).splitlines():
        assert Path(line).is_relative_to(Path(site.strip()) / "fraudgraph")
        assert Path(line).exists()


def test_only_the_namespaced_names_are_installed(installed: Installed) -> None:
    done = _run([installed.python, "-c", "import graph"], cwd=installed.home)
    assert done.returncode != 0
    assert "No module named 'graph'" in done.stderr


def test_help_runs_outside_the_checkout(installed: Installed) -> None:
    out = _checked([installed.fraudgraph, "--help"], cwd=installed.home, env=_user_env(installed))
    for command in ("stack", "connectors", "worker", "simulate", "spark"):
        assert command in out


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["simulate", "--dry-run"], "simulator"),
        (["demo"], "simulator"),
        (["spark", "analyze"], "spark"),
    ],
)
def test_a_command_needing_an_extra_names_it_in_one_line(
    installed: Installed, argv: list[str], extra: str
) -> None:
    done = _run([installed.fraudgraph, *argv], cwd=installed.home, env=_user_env(installed))
    assert done.returncode == 2, done.stderr
    assert f"pip install 'fraudgraph[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr


def _second_stack_env(installed: Installed) -> dict[str, str]:
    base = StackConfig(state_dir=installed.home / ".state")
    ports = {
        name: getattr(base, name) + PORT_OFFSET
        for name, field in StackConfig.model_fields.items()
        if name.endswith("_port")
    }
    env = {f"FRAUDGRAPH_STACK_{name.upper()}": str(port) for name, port in ports.items()}
    receiver = ports["alert_receiver_port"]
    env["FRAUDGRAPH_STACK_WORKER_METRICS"] = f"127.0.0.1:{9108 + PORT_OFFSET}"
    env["FRAUDGRAPH_STACK_WEBHOOKS_METRICS"] = f"127.0.0.1:{9109 + PORT_OFFSET}"
    env["FRAUDGRAPH_STACK_ALERTMANAGER_WEBHOOK_URL"] = f"http://127.0.0.1:{receiver}/alertmanager"
    return _user_env(installed, **env)


@pytest.fixture(scope="module")
def second_stack(installed: Installed) -> Iterator[dict[str, str]]:
    """`fraudgraph stack up` run from the install, in a folder of its own; down at the end."""
    env = _second_stack_env(installed)
    try:
        _checked(
            [installed.fraudgraph, "stack", "up"],
            cwd=installed.home,
            env=env,
            timeout=STACK_START_TIMEOUT_S,
        )
        yield env
    finally:
        _run([installed.fraudgraph, "stack", "down"], cwd=installed.home, env=env, timeout=300)


def test_stack_up_from_the_install_runs_every_service(
    installed: Installed, second_stack: dict[str, str]
) -> None:
    status = _checked(
        [installed.fraudgraph, "stack", "status"], cwd=installed.home, env=second_stack
    )
    assert "unhealthy" not in status
    assert "stopped" not in status
    assert (installed.home / ".state" / "secrets.env").is_file()  # state where the user runs it
    exports = _checked([installed.fraudgraph, "stack", "env"], cwd=installed.home, env=second_stack)
    client = dict(
        shlex.split(line)[1].split("=", 1)
        for line in exports.splitlines()
        if line.startswith("export ")
    )
    assert client["FRAUDGRAPH_STATE_DIR"] == str(installed.home / ".state")
    # The connector definition and the bank schema come from the install's package data.
    _checked(
        [installed.fraudgraph, "connectors", "apply"],
        cwd=installed.home,
        env={**second_stack, **client},
        timeout=300,
    )
