"""The Debian packages fraudgraph needs, in one list, and installing the missing ones.

Standard library only: `make` and `.ci/run` run this file with the system Python
(`python3.11 stack/debian.py install stack tests`) before any virtualenv exists,
and `fraudgraph stack up` uses the same list through `ensure`, so a user who only
installed the wheel gets the same packages.

    python3.11 stack/debian.py missing stack tests   # prints what is missing
    python3.11 stack/debian.py install stack         # apt-get installs it (root)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Requirement:
    package: str
    present: str  # a command on PATH, or an absolute path (a glob), that the package provides
    purpose: str  # "stack": the native services; "tests": only what the tests run

    def satisfied(self) -> bool:
        if self.present.startswith("/"):
            return any(Path("/").glob(self.present.lstrip("/")))
        return shutil.which(self.present) is not None


REQUIREMENTS = (
    Requirement("openjdk-17-jre-headless", "java", "stack"),
    # Kafka, Connect + Debezium and Neo4j are assembled from Maven Central by mvn.
    Requirement("maven", "mvn", "stack"),
    Requirement("postgresql", "/usr/lib/postgresql/*/bin/postgres", "stack"),
    Requirement("prometheus", "/usr/bin/prometheus", "stack"),
    Requirement("prometheus-alertmanager", "/usr/bin/prometheus-alertmanager", "stack"),
    # The OpenMP runtime LightGBM's wheel links against (the worker's learned scorer).
    Requirement("libgomp1", "/usr/lib/*/libgomp.so.1", "stack"),
    # `docker-compose config` validates docker-compose.yml without a Docker engine.
    Requirement("docker-compose", "docker-compose", "tests"),
)
PURPOSES = frozenset(requirement.purpose for requirement in REQUIREMENTS)


class MissingPackagesError(RuntimeError):
    """Packages are missing and this process may not install them."""


def requirement(package: str) -> Requirement:
    return next(found for found in REQUIREMENTS if found.package == package)


def missing(purposes: frozenset[str] | set[str]) -> list[str]:
    return [r.package for r in REQUIREMENTS if r.purpose in purposes and not r.satisfied()]


def install(packages: list[str]) -> None:
    """apt-get install `packages` (root only); non-root gets the command to run."""
    if not packages:
        return
    if os.geteuid() != 0:
        raise MissingPackagesError(
            f"missing Debian packages; install them with: "
            f"sudo apt-get install -y --no-install-recommends {' '.join(packages)}"
        )
    if "postgresql" in packages:
        # The stack runs its own cluster; Debian's default one would take port 5432.
        conf = Path("/etc/postgresql-common/createcluster.conf")
        conf.parent.mkdir(parents=True, exist_ok=True)
        if not conf.exists():
            conf.write_text("create_main_cluster = false\n")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            raise MissingPackagesError(f"{' '.join(argv[:2])} failed:\n{tail}")


def ensure(package: str) -> None:
    """Install one package of the list unless what it provides is already there."""
    if not requirement(package).satisfied():
        install([package])


def main(argv: list[str]) -> int:
    usage = f"usage: debian.py missing|install {{{','.join(sorted(PURPOSES))}}}..."
    if len(argv) < 2 or argv[0] not in {"missing", "install"} or not set(argv[1:]) <= PURPOSES:
        print(usage, file=sys.stderr)
        return 2
    absent = missing(set(argv[1:]))
    if argv[0] == "missing":
        print(" ".join(absent))
        return 0
    if absent:
        print(f"installing Debian packages: {' '.join(absent)}", flush=True)
    try:
        install(absent)
    except MissingPackagesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
