"""Typed rows of the contract tables (contracts/bank.sql), fields in column order.

NamedTuples because a generated row is immutable data that COPY loads as a plain
tuple; an update in the simulated history is a `_replace`, never a mutation.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from fraudgraph.contract import BANK_TABLES


class Customer(NamedTuple):
    customer_id: int
    full_name: str
    email: str | None
    phone: str | None
    national_id: str | None
    date_of_birth: date | None
    address_line: str | None
    city: str | None
    postal_code: str | None
    country: str
    created_at: datetime
    updated_at: datetime


class Account(NamedTuple):
    account_id: int
    customer_id: int
    iban: str
    kind: str
    status: str
    currency: str
    opened_at: datetime
    updated_at: datetime


class Card(NamedTuple):
    card_id: int
    account_id: int
    pan_token: str
    last4: str
    status: str
    issued_at: datetime


class Device(NamedTuple):
    device_id: int
    fingerprint: str
    platform: str | None
    user_agent: str | None
    first_seen_at: datetime


class Merchant(NamedTuple):
    merchant_id: int
    name: str
    mcc: str
    country: str


class Login(NamedTuple):
    login_id: int
    customer_id: int
    device_id: int | None
    ip_address: str
    success: bool
    occurred_at: datetime


class Transaction(NamedTuple):
    txn_id: int
    account_id: int
    counterparty_account_id: int | None
    counterparty_iban: str | None
    merchant_id: int | None
    card_id: int | None
    device_id: int | None
    ip_address: str | None
    channel: str
    amount: Decimal
    currency: str
    latitude: float | None
    longitude: float | None
    status: str
    created_at: datetime
    updated_at: datetime


class FraudReport(NamedTuple):
    report_id: int
    kind: str
    customer_id: int | None
    account_id: int | None
    txn_id: int | None
    note: str | None
    reported_at: datetime


Row = Customer | Account | Card | Device | Merchant | Login | Transaction | FraudReport

# Foreign-key order: a table only references tables before it.
TABLE_ORDER: tuple[str, ...] = BANK_TABLES

ROW_TYPES: dict[str, type[Row]] = {
    "customers": Customer,
    "accounts": Account,
    "cards": Card,
    "devices": Device,
    "merchants": Merchant,
    "logins": Login,
    "transactions": Transaction,
    "fraud_reports": FraudReport,
}

TABLE_OF: dict[type[Row], str] = {row_type: table for table, row_type in ROW_TYPES.items()}

PRIMARY_KEYS: dict[str, str] = {table: ROW_TYPES[table]._fields[0] for table in TABLE_ORDER}

# The column that says when a row came to be (its event time); merchants have none.
EVENT_TIME_COLUMN: dict[str, str | None] = {
    "customers": "created_at",
    "accounts": "opened_at",
    "cards": "issued_at",
    "devices": "first_seen_at",
    "merchants": None,
    "logins": "occurred_at",
    "transactions": "created_at",
    "fraud_reports": "reported_at",
}


def columns(table: str) -> tuple[str, ...]:
    """Column names of `table` in contract order."""
    return ROW_TYPES[table]._fields
