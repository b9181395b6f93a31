"""What detectors may ask about the past, and the plain records the answers are made of.

Detectors are pure functions over these records. Two sources answer the same
questions: the graph (`neo4j_history.GraphHistory`, what the worker uses) and the
simulator's rows in memory (`memory_history.MemoryHistory`, for unit tests and the
offline replay that tunes thresholds in seconds). Every question is asked for many
entities at once, so a batch costs one round trip per question, not per event.

Times are event times in epoch milliseconds; windows are inclusive [since, until].
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

IdentityKey = tuple[str, str]  # (identity label, keyed hash), e.g. ("Phone", "3fa9…")
STRONG_IDENTITIES = ("Email", "Phone", "NationalId")
IDENTITY_LABELS = (*STRONG_IDENTITIES, "Address")
TRANSFER_CHANNELS = frozenset({"transfer", "p2p"})  # payments from one account to another
REVERSED = "reversed"  # the one status whose money neither moved nor was attempted


@dataclass(frozen=True, slots=True)
class Txn:
    txn_id: int
    account_id: int
    channel: str
    amount: float
    currency: str
    status: str
    at: int  # created_at
    counterparty_account_id: int | None = None
    counterparty_hash: str | None = None  # keyed hash of an IBAN at another bank
    merchant_id: int | None = None
    card_id: int | None = None
    device_id: int | None = None
    ip: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def is_transfer(self) -> bool:
        return self.channel in TRANSFER_CHANNELS

    @property
    def counts(self) -> bool:
        """Money that moved or was attempted by its payer (declines count for testing)."""
        return self.status != REVERSED


@dataclass(frozen=True, slots=True)
class Login:
    login_id: int
    customer_id: int
    device_id: int | None
    ip: str | None
    success: bool
    at: int


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    customer_id: int
    created_at: int | None
    updated_at: int | None
    country: str | None
    city: str | None
    identities: tuple[IdentityKey, ...] = ()
    # Every `updated_at` the customer's row has had, oldest first (the graph keeps the
    # last 16): a later change overwrites `updated_at`, not this.
    change_times: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountInfo:
    account_id: int
    customer_id: int | None
    kind: str | None
    status: str | None
    currency: str | None
    opened_at: int | None


@dataclass(frozen=True, slots=True)
class MerchantInfo:
    merchant_id: int
    mcc: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class Report:
    report_id: int
    kind: str  # confirmed_fraud | chargeback | false_positive
    reported_at: int
    customer_id: int | None
    account_id: int | None
    txn_id: int | None

    @property
    def is_fraud(self) -> bool:
        return self.kind in ("confirmed_fraud", "chargeback")


class HistorySource(Protocol):
    """The questions; each answers for many ids at once (missing ids are absent)."""

    def accounts(self, ids: Collection[int]) -> Mapping[int, AccountInfo]: ...

    def customers(self, ids: Collection[int]) -> Mapping[int, CustomerInfo]: ...

    def merchants(self, ids: Collection[int]) -> Mapping[int, MerchantInfo]: ...

    def accounts_of(self, customer_ids: Collection[int]) -> Mapping[int, list[int]]: ...

    def customers_sharing(
        self, identities: Collection[IdentityKey]
    ) -> Mapping[IdentityKey, list[int]]: ...

    def sent(
        self, account_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]: ...

    def received(
        self, account_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]: ...

    def card_txns(
        self, card_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]: ...

    def device_txns(
        self, device_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]: ...

    def logins(
        self, customer_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Login]]: ...

    def reports(
        self, customer_ids: Collection[int], account_ids: Collection[int]
    ) -> list[Report]: ...
