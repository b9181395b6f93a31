"""Prepare the demo `bank` database for change capture, idempotently.

Shared by the native stack (over the cluster's private socket) and
docker-compose's one-shot `db-init` service (over TCP as the superuser), so both
paths create exactly the same roles, schema, grants and publication.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from fraudgraph.contract import BANK_TABLES
from fraudgraph.paths import BANK_SCHEMA_SQL

PUBLICATION = "fraudgraph_cdc"
APP_ROLE = "fraudgraph"
CDC_ROLE = "debezium"
DATABASE = "bank"

Connection = psycopg.Connection[tuple[object, ...]]
ConnectAs = Callable[[str], Connection]  # database name -> autocommit superuser connection


def bootstrap_bank(connect: ConnectAs, *, app_password: str, cdc_password: str) -> None:
    """Roles, database, the contract schema, CDC grants and the publication."""
    with connect("postgres") as admin:
        _ensure_role(admin, APP_ROLE, app_password, replication=False)
        _ensure_role(admin, CDC_ROLE, cdc_password, replication=True)
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(APP_ROLE)
                )
            )
    with connect(DATABASE) as bank:
        has_schema = bank.execute("SELECT to_regclass('bank.transactions') IS NOT NULL").fetchone()
        if not (has_schema and has_schema[0]):
            # Applied as the app role so it owns the tables, as a bank's own app would.
            bank.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)))
            bank.execute(BANK_SCHEMA_SQL.read_text())  # no parameters: simple protocol
            bank.execute("RESET ROLE")
        # The CDC role reads and replicates; it never writes or owns anything.
        bank.execute(
            sql.SQL(
                "GRANT USAGE ON SCHEMA bank TO {role}; "
                "GRANT SELECT ON ALL TABLES IN SCHEMA bank TO {role}"
            ).format(role=sql.Identifier(CDC_ROLE))
        )
        has_publication = bank.execute(
            "SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,)
        ).fetchone()
        if not has_publication:
            tables = sql.SQL(", ").join(sql.Identifier("bank", table) for table in BANK_TABLES)
            bank.execute(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                    sql.Identifier(PUBLICATION), tables
                )
            )


def _ensure_role(admin: Connection, role: str, password: str, *, replication: bool) -> None:
    exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    attributes = "LOGIN REPLICATION" if replication else "LOGIN"
    # Utility statements take no bind parameters; sql.Literal quotes the password safely.
    admin.execute(
        sql.SQL(verb + " ROLE {} WITH " + attributes + " PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)
        )
    )
