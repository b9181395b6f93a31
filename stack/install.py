"""Install what a fresh machine lacks: Debian packages and jars from Maven Central.

Every step is idempotent and cheap when already done, so `stack up` can run it
each time: a marker file keyed by the pom's hash records a finished download.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from fraudgraph.stack import debian
from fraudgraph.stack.errors import StackError


def run_checked(argv: Sequence[str], *, what: str, env: dict[str, str] | None = None) -> str:
    """Run a command; on failure raise StackError with the tail of its output."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False, env=env)
    except FileNotFoundError as error:
        raise StackError(f"{what}: {argv[0]} is not installed") from error
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise StackError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def ensure_debian_package(package: str) -> None:
    """apt-get install one package of stack/debian.py's list unless it is there already."""
    try:
        debian.ensure(package)
    except debian.MissingPackagesError as error:
        raise StackError(str(error)) from error


def file_digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def maven_fetch(
    pom: Path, args: Sequence[str], *, marker: Path, replace: Sequence[Path] = ()
) -> bool:
    """Run `mvn -f pom args` once per pom content. Returns True when it downloaded.

    `replace`: folders the pom fills that must not keep an older version's files (a
    plugin folder holding two versions' jars loads either): removed before a new fetch.
    """
    stamp = file_digest(pom) + " " + " ".join(args)
    if marker.exists() and marker.read_text().strip() == stamp:
        return False
    for folder in replace:
        shutil.rmtree(folder, ignore_errors=True)
    ensure_debian_package("maven")
    run_checked(
        ["mvn", "-q", "-B", "-f", str(pom), *args],
        what=f"maven download for {pom.parent.name}",
    )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(stamp + "\n")
    return True
