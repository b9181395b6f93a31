"""Source rows (as decoded from CDC, or as the simulator made them) -> history records.

The same conversions the graph writer applies (epoch-ms times, float amounts, keyed
hashes of identities), so a record built from a row equals the one read back from
the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fraudgraph.detection.history import (
    IDENTITY_LABELS,
    AccountInfo,
    CustomerInfo,
    IdentityKey,
    Login,
    MerchantInfo,
    Report,
    Txn,
)
from fraudgraph.graph.mapping import GraphMapping, NodeRef
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.plan import graph_value

Row = Mapping[str, Any]


def _ms(value: Any) -> int | None:
    converted = graph_value(value)
    return int(converted) if converted is not None else None


def _opt_int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _ip(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text.split("/", 1)[0]


class RecordBuilder:
    """Knows which customer columns become which identity nodes (from the mapping)."""

    def __init__(self, mapping: GraphMapping, hasher: PiiHasher) -> None:
        self.hasher = hasher
        self._identity_refs: list[tuple[str, str, list[str]]] = []
        for link in mapping.tables["customers"].links:
            ref = link.to
            if isinstance(ref, NodeRef) and ref.hash is not None and ref.label in IDENTITY_LABELS:
                self._identity_refs.append((ref.label, ref.normalise, list(ref.hash)))
        self.counterparty_normaliser = "token"

    def identities(self, row: Row) -> tuple[IdentityKey, ...]:
        keys: list[IdentityKey] = []
        for label, normaliser, columns in self._identity_refs:
            digest = self.hasher.digest(normaliser, [row.get(column) for column in columns])
            if digest is not None:
                keys.append((label, digest))
        return tuple(sorted(keys))

    def customer(self, row: Row) -> CustomerInfo:
        updated_at = _ms(row.get("updated_at"))
        return CustomerInfo(
            customer_id=int(row["customer_id"]),
            created_at=_ms(row.get("created_at")),
            updated_at=updated_at,
            country=row.get("country"),
            city=row.get("city"),
            identities=self.identities(row),
            change_times=(updated_at,) if updated_at is not None else (),
        )

    def txn(self, row: Row) -> Txn:
        iban = row.get("counterparty_iban")
        return Txn(
            txn_id=int(row["txn_id"]),
            account_id=int(row["account_id"]),
            channel=str(row["channel"]),
            amount=float(row["amount"]),
            currency=str(row["currency"]),
            status=str(row["status"]),
            at=int(graph_value(row["created_at"])),
            counterparty_account_id=_opt_int(row.get("counterparty_account_id")),
            counterparty_hash=self.hasher.digest(self.counterparty_normaliser, [iban])
            if iban is not None
            else None,
            merchant_id=_opt_int(row.get("merchant_id")),
            card_id=_opt_int(row.get("card_id")),
            device_id=_opt_int(row.get("device_id")),
            ip=_ip(row.get("ip_address")),
            latitude=row.get("latitude"),
            longitude=row.get("longitude"),
        )


def login(row: Row) -> Login:
    return Login(
        login_id=int(row["login_id"]),
        customer_id=int(row["customer_id"]),
        device_id=_opt_int(row.get("device_id")),
        ip=_ip(row.get("ip_address")),
        success=bool(row["success"]),
        at=int(graph_value(row["occurred_at"])),
    )


def account(row: Row) -> AccountInfo:
    return AccountInfo(
        account_id=int(row["account_id"]),
        customer_id=_opt_int(row.get("customer_id")),
        kind=row.get("kind"),
        status=row.get("status"),
        currency=row.get("currency"),
        opened_at=_ms(row.get("opened_at")),
    )


def merchant(row: Row) -> MerchantInfo:
    return MerchantInfo(int(row["merchant_id"]), row.get("mcc"), row.get("country"))


def report(row: Row) -> Report:
    return Report(
        report_id=int(row["report_id"]),
        kind=str(row["kind"]),
        reported_at=int(graph_value(row["reported_at"])),
        customer_id=_opt_int(row.get("customer_id")),
        account_id=_opt_int(row.get("account_id")),
        txn_id=_opt_int(row.get("txn_id")),
    )
