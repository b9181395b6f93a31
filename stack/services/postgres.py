"""PostgreSQL from Debian, as a private cluster with logical decoding for Debezium.

Roles: `fraudgraph` owns the demo `bank` database (the simulator writes as it);
`debezium` may only log in, replicate and read the bank schema. The superuser is
reachable only through a Unix socket in a folder private to the cluster's owner.
"""

from __future__ import annotations

import os
import pwd
import signal
from pathlib import Path

import psycopg

from fraudgraph.stack.errors import StackError
from fraudgraph.stack.install import ensure_debian_package, run_checked
from fraudgraph.stack.pg_bootstrap import APP_ROLE, DATABASE, Connection, bootstrap_bank
from fraudgraph.stack.service import Service


def postgres_bin_dir() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=_version_key)
    return versions[-1].parent if versions else None


def _version_key(path: Path) -> int:
    try:
        return int(path.parent.parent.name)
    except ValueError:
        return 0


class PostgresService(Service):
    name = "postgres"

    def stop_signal(self) -> int:
        # SIGINT is PostgreSQL's "fast" shutdown: SIGTERM would wait for Debezium's
        # replication connection to end on its own, which it never does.
        return signal.SIGINT

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.config.pg_port,)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "socket"

    def install(self) -> None:
        if postgres_bin_dir() is None:
            ensure_debian_package("postgresql")
        if postgres_bin_dir() is None:
            raise StackError("PostgreSQL server binaries not found under /usr/lib/postgresql")

    def _owner_prefix(self) -> list[str]:
        """Run as `postgres` when we are root (PostgreSQL refuses to run as root)."""
        if os.geteuid() != 0:
            return []
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]

    def _check_owner_can_reach(self, folder: Path) -> None:
        """As root the cluster runs as `postgres`, which must be able to enter every parent."""
        if os.geteuid() != 0:
            return
        for parent in reversed(folder.resolve().parents):
            if not parent.stat().st_mode & 0o001:
                raise StackError(
                    f"the postgres user cannot enter {parent} (mode "
                    f"{parent.stat().st_mode & 0o777:o}); set FRAUDGRAPH_STATE_DIR to a folder "
                    f"outside it, or run: chmod o+x {parent}"
                )

    def _chown_to_owner(self, *paths: Path) -> None:
        if os.geteuid() != 0:
            return
        owner = pwd.getpwnam("postgres")
        for path in paths:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def launch(self) -> None:
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None  # install() guarantees it
        self.home.mkdir(parents=True, exist_ok=True)
        self._check_owner_can_reach(self.home)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown_to_owner(self.home, self.socket_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir)
        settings = {
            "listen_addresses": self.config.host,
            "port": str(self.config.pg_port),
            "unix_socket_directories": str(self.socket_dir),
            "wal_level": "logical",
            "max_replication_slots": "10",
            "max_wal_senders": "10",
            # Change capture latency follows WAL flushing; keep commits synchronous
            # and the WAL writer quick (20-400 ms lag has been seen at 200 ms).
            "synchronous_commit": "on",
            "wal_writer_delay": "10ms",
            "shared_buffers": "128MB",
            "max_connections": "100",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        argv = [
            *self._owner_prefix(),
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            *(arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")),
        ]
        self.process.start(argv)

    def _initdb(self, bin_dir: Path) -> None:
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown_to_owner(self.data_dir)
        run_checked(
            [
                *self._owner_prefix(),
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            what="initdb",
        )
        # Trust on the socket is safe only because its folder is private (0700) to the
        # cluster's owner; TCP always needs a password, replication included.
        (self.data_dir / "pg_hba.conf").write_text(
            "local all         all                trust\n"
            "host  all         all  127.0.0.1/32  scram-sha-256\n"
            "host  replication all  127.0.0.1/32  scram-sha-256\n"
        )

    def superuser_connection(self, dbname: str = "postgres") -> Connection:
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.config.pg_port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=3,
        )

    def is_healthy(self) -> bool:
        with psycopg.connect(self.app_dsn(), connect_timeout=3) as connection:
            return connection.execute("SELECT 1").fetchone() == (1,)

    def is_ready(self) -> bool:
        with self.superuser_connection() as connection:
            return connection.execute("SELECT 1").fetchone() == (1,)

    def app_dsn(self, dbname: str = DATABASE) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.config.host,
            port=self.config.pg_port,
            user=APP_ROLE,
            password=self.secrets.pg_app_password,
            dbname=dbname,
        )

    def after_healthy(self) -> None:
        bootstrap_bank(
            self.superuser_connection,
            app_password=self.secrets.pg_app_password,
            cdc_password=self.secrets.pg_cdc_password,
        )

    def detail(self) -> str:
        return (
            f"db={DATABASE} user={APP_ROLE} (password: {self.secrets.sources['pg_app_password']})"
        )
