"""The contract's constraints checked in Python over generated tables.

PostgreSQL enforces them on load; this check lets the unit tests (and `--dry-run`)
prove a generated bank valid without a database: keys, foreign keys, uniques,
NOT NULLs, char(n) widths, numeric(14,2) and every CHECK in contracts/bank.sql.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from fraudgraph.simulator.rows import (
    Account,
    Card,
    Customer,
    Device,
    FraudReport,
    Login,
    Merchant,
    Row,
    Transaction,
)

FOREIGN_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "accounts": (("customer_id", "customers"),),
    "cards": (("account_id", "accounts"),),
    "logins": (("customer_id", "customers"), ("device_id", "devices")),
    "transactions": (
        ("account_id", "accounts"),
        ("counterparty_account_id", "accounts"),
        ("merchant_id", "merchants"),
        ("card_id", "cards"),
        ("device_id", "devices"),
    ),
    "fraud_reports": (
        ("customer_id", "customers"),
        ("account_id", "accounts"),
        ("txn_id", "transactions"),
    ),
}
UNIQUE: dict[str, tuple[str, ...]] = {
    "accounts": ("iban",),
    "cards": ("pan_token",),
    "devices": ("fingerprint",),
}
CHAR_WIDTH: dict[str, dict[str, int]] = {
    "customers": {"country": 2},
    "accounts": {"currency": 3},
    "cards": {"last4": 4},
    "merchants": {"mcc": 4, "country": 2},
    "transactions": {"currency": 3},
}
NOT_NULL: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "full_name", "country", "created_at", "updated_at"),
    "accounts": (
        "account_id",
        "customer_id",
        "iban",
        "kind",
        "status",
        "currency",
        "opened_at",
        "updated_at",
    ),
    "cards": ("card_id", "account_id", "pan_token", "last4", "status", "issued_at"),
    "devices": ("device_id", "fingerprint", "first_seen_at"),
    "merchants": ("merchant_id", "name", "mcc", "country"),
    "logins": ("login_id", "customer_id", "ip_address", "success", "occurred_at"),
    "transactions": (
        "txn_id",
        "account_id",
        "channel",
        "amount",
        "currency",
        "status",
        "created_at",
        "updated_at",
    ),
    "fraud_reports": ("report_id", "kind", "reported_at"),
}
MAX_NUMERIC = Decimal("999999999999.99")


def _check_row(table: str, row: Row) -> str | None:  # noqa: PLR0911, PLR0912 - one branch per CHECK
    if isinstance(row, Account):
        if row.kind not in ("checking", "savings", "credit", "wallet"):
            return f"kind {row.kind!r}"
        if row.status not in ("open", "frozen", "closed"):
            return f"status {row.status!r}"
    elif isinstance(row, Card):
        if row.status not in ("active", "blocked", "expired"):
            return f"status {row.status!r}"
    elif isinstance(row, Transaction):
        if row.channel not in ("card_present", "card_not_present", "transfer", "p2p", "atm"):
            return f"channel {row.channel!r}"
        if row.status not in ("pending", "posted", "declined", "reversed"):
            return f"status {row.status!r}"
        if not (Decimal(0) < row.amount <= MAX_NUMERIC) or row.amount != row.amount.quantize(
            Decimal("0.01")
        ):
            return f"amount {row.amount}"
        parties = (row.counterparty_account_id, row.counterparty_iban, row.merchant_id)
        if row.channel != "atm" and all(p is None for p in parties):
            return "no counterparty, iban or merchant"
    elif isinstance(row, FraudReport):
        if row.kind not in ("confirmed_fraud", "chargeback", "false_positive"):
            return f"kind {row.kind!r}"
        if row.customer_id is None and row.account_id is None and row.txn_id is None:
            return "names no customer, account or transaction"
    elif isinstance(row, Login | Customer | Device | Merchant):
        return None
    return None


def violations(tables: dict[str, Sequence[Row]], limit: int = 20) -> list[str]:
    """Up to `limit` human-readable violations; empty when the bank satisfies the contract."""
    found: list[str] = []
    keys: dict[str, set[object]] = {}
    for table, rows in tables.items():
        seen: set[object] = set()
        for row in rows:
            if row[0] in seen:
                found.append(f"{table}: duplicate key {row[0]}")
            seen.add(row[0])
        keys[table] = seen
    for table, rows in tables.items():
        if not rows:
            continue
        fields = type(rows[0])._fields
        not_null = [fields.index(c) for c in NOT_NULL[table]]
        widths = [(fields.index(c), w, c) for c, w in CHAR_WIDTH.get(table, {}).items()]
        fks = [(fields.index(c), c, target) for c, target in FOREIGN_KEYS.get(table, ())]
        uniques = {fields.index(c): (c, set[object]()) for c in UNIQUE.get(table, ())}
        for row in rows:
            problems = [f"{fields[i]} is null" for i in not_null if row[i] is None]
            problems += [
                f"{c}={row[i]!r} is not char({w})"
                for i, w, c in widths
                if row[i] is not None and len(str(row[i])) != w
            ]
            problems += [
                f"{c}={row[i]} not in {target}"
                for i, c, target in fks
                if row[i] is not None and row[i] not in keys.get(target, ())
            ]
            for i, (c, values) in uniques.items():
                if row[i] in values:
                    problems.append(f"{c}={row[i]!r} not unique")
                values.add(row[i])
            check = _check_row(table, row)
            if check:
                problems.append(check)
            found.extend(f"{table} {row[0]}: {p}" for p in problems)
            if len(found) >= limit:
                return found[:limit]
    return found
