"""The history questions answered from rows held in memory (unit tests, offline replay).

Built from the same rows the bank holds (e.g. a `SimulatedBank`'s tables), with the
same conversions as the graph writer, so detectors see what they would see in Neo4j.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from fraudgraph.detection import records
from fraudgraph.detection.history import (
    AccountInfo,
    CustomerInfo,
    IdentityKey,
    Login,
    MerchantInfo,
    Report,
    Txn,
)
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.graph.mapping import HISTORY_LIMIT

Row = Mapping[str, Any]


class _Timeline:
    """Records of one entity sorted by event time, sliced by window."""

    def __init__(self) -> None:
        self.times: list[int] = []
        self.items: list[Any] = []

    def add(self, at: int, item: Any) -> None:
        index = bisect.bisect_right(self.times, at)
        self.times.insert(index, at)
        self.items.insert(index, item)

    def window(self, since: int, until: int) -> list[Any]:
        lo = bisect.bisect_left(self.times, since)
        hi = bisect.bisect_right(self.times, until)
        return self.items[lo:hi]


def _windows(
    index: Mapping[int, _Timeline], ids: Collection[int], since: int, until: int
) -> dict[int, list[Any]]:
    return {i: index[i].window(since, until) for i in ids if i in index}


class MemoryHistory:
    def __init__(self, builder: RecordBuilder) -> None:
        self.builder = builder
        self._accounts: dict[int, AccountInfo] = {}
        self._customers: dict[int, CustomerInfo] = {}
        self._merchants: dict[int, MerchantInfo] = {}
        self._accounts_of: dict[int, list[int]] = defaultdict(list)
        self._sharing: dict[IdentityKey, list[int]] = defaultdict(list)
        self._sent: dict[int, _Timeline] = defaultdict(_Timeline)
        self._received: dict[int, _Timeline] = defaultdict(_Timeline)
        self._by_card: dict[int, _Timeline] = defaultdict(_Timeline)
        self._by_device: dict[int, _Timeline] = defaultdict(_Timeline)
        self._logins: dict[int, _Timeline] = defaultdict(_Timeline)
        self._reports: list[Report] = []

    @classmethod
    def from_tables(
        cls, builder: RecordBuilder, tables: Mapping[str, Sequence[Any]]
    ) -> MemoryHistory:
        """From rows per table: mappings, or NamedTuples (the simulator's rows)."""
        history = cls(builder)
        for table, rows in tables.items():
            history.add_rows(table, (_as_mapping(row) for row in rows))
        return history

    def add_rows(self, table: str, rows: Iterable[Row]) -> None:
        add = getattr(self, f"_add_{table}")
        for row in rows:
            add(row)

    def _add_customers(self, row: Row) -> None:
        customer = self.builder.customer(row)
        if (before := self._customers.get(customer.customer_id)) is not None:
            # A later version: its change times join the earlier ones, as in the graph.
            times = sorted({*before.change_times, *customer.change_times})
            customer = replace(customer, change_times=tuple(times[-HISTORY_LIMIT:]))
        self._customers[customer.customer_id] = customer
        for identity in customer.identities:
            self._sharing[identity].append(customer.customer_id)

    def _add_accounts(self, row: Row) -> None:
        account = records.account(row)
        self._accounts[account.account_id] = account
        if account.customer_id is not None:
            self._accounts_of[account.customer_id].append(account.account_id)

    def _add_cards(self, row: Row) -> None:
        return None

    def _add_devices(self, row: Row) -> None:
        return None

    def _add_merchants(self, row: Row) -> None:
        merchant = records.merchant(row)
        self._merchants[merchant.merchant_id] = merchant

    def _add_logins(self, row: Row) -> None:
        login = records.login(row)
        self._logins[login.customer_id].add(login.at, login)

    def _add_transactions(self, row: Row) -> None:
        txn = self.builder.txn(row)
        self._sent[txn.account_id].add(txn.at, txn)
        if txn.counterparty_account_id is not None:
            self._received[txn.counterparty_account_id].add(txn.at, txn)
        if txn.card_id is not None:
            self._by_card[txn.card_id].add(txn.at, txn)
        if txn.device_id is not None:
            self._by_device[txn.device_id].add(txn.at, txn)

    def _add_fraud_reports(self, row: Row) -> None:
        self._reports.append(records.report(row))

    # -- HistorySource -------------------------------------------------------------
    def accounts(self, ids: Collection[int]) -> Mapping[int, AccountInfo]:
        return {i: self._accounts[i] for i in ids if i in self._accounts}

    def customers(self, ids: Collection[int]) -> Mapping[int, CustomerInfo]:
        return {i: self._customers[i] for i in ids if i in self._customers}

    def merchants(self, ids: Collection[int]) -> Mapping[int, MerchantInfo]:
        return {i: self._merchants[i] for i in ids if i in self._merchants}

    def accounts_of(self, customer_ids: Collection[int]) -> Mapping[int, list[int]]:
        return {c: sorted(self._accounts_of[c]) for c in customer_ids if c in self._accounts_of}

    def customers_sharing(
        self, identities: Collection[IdentityKey]
    ) -> Mapping[IdentityKey, list[int]]:
        return {i: sorted(set(self._sharing[i])) for i in identities if i in self._sharing}

    def sent(self, account_ids: Collection[int], since: int, until: int) -> Mapping[int, list[Txn]]:
        return _windows(self._sent, account_ids, since, until)

    def received(
        self, account_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        return _windows(self._received, account_ids, since, until)

    def card_txns(
        self, card_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        return _windows(self._by_card, card_ids, since, until)

    def device_txns(
        self, device_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        return _windows(self._by_device, device_ids, since, until)

    def logins(
        self, customer_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Login]]:
        return _windows(self._logins, customer_ids, since, until)

    def reports(self, customer_ids: Collection[int], account_ids: Collection[int]) -> list[Report]:
        customers, accounts = set(customer_ids), set(account_ids)
        return [
            r for r in self._reports if (r.customer_id in customers) or (r.account_id in accounts)
        ]


def _as_mapping(row: Any) -> Row:
    if isinstance(row, Mapping):
        return row
    return row._asdict()  # type: ignore[no-any-return]
