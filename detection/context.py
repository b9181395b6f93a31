"""A batch's view of the past: history questions asked once per batch, then served
from memory to every detector and event of the batch.

`prefetch` asks each question for all the batch's entities at once (one round trip
per question); anything a detector asks beyond that (the next hop of a money trail)
is fetched on demand and remembered for the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from detection.events import Event
from detection.history import (
    AccountInfo,
    CustomerInfo,
    HistorySource,
    IdentityKey,
    Login,
    MerchantInfo,
    Report,
    Txn,
)
from detection.settings import HistoryWindows

T = TypeVar("T")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


class _WindowCache:
    """Per entity: the records of a fetched window [lo, hi]; narrower asks are filtered."""

    def __init__(
        self,
        fetch: Callable[[Collection[int], int, int], Mapping[int, list[Any]]],
        time_of: Callable[[Any], int],
    ) -> None:
        self.fetch = fetch
        self.time_of = time_of
        self.held: dict[int, tuple[int, int, list[Any]]] = {}

    def load(self, ids: Iterable[int], lo: int, hi: int) -> None:
        missing = [i for i in set(ids) if not self._covers(i, lo, hi)]
        if not missing:
            return
        lo = min([lo, *(self.held[i][0] for i in missing if i in self.held)])
        hi = max([hi, *(self.held[i][1] for i in missing if i in self.held)])
        found = self.fetch(missing, lo, hi)
        for i in missing:
            self.held[i] = (lo, hi, sorted(found.get(i, []), key=self.time_of))

    def _covers(self, i: int, lo: int, hi: int) -> bool:
        held = self.held.get(i)
        return held is not None and held[0] <= lo and hi <= held[1]

    def get(self, i: int, lo: int, hi: int) -> list[Any]:
        self.load([i], lo, hi)
        return [r for r in self.held[i][2] if lo <= self.time_of(r) <= hi]


class _KeyCache:
    def __init__(self, fetch: Callable[[Collection[Any]], Mapping[Any, Any]]) -> None:
        self.fetch = fetch
        self.held: dict[Any, Any] = {}

    def load(self, keys: Iterable[Any]) -> None:
        missing = [k for k in set(keys) if k not in self.held]
        if missing:
            found = self.fetch(missing)
            for k in missing:
                self.held[k] = found.get(k)

    def get(self, key: Any) -> Any:
        self.load([key])
        return self.held[key]


def _txn_time(txn: Txn) -> int:
    return txn.at


def _login_time(login: Login) -> int:
    return login.at


class Context:
    def __init__(self, source: HistorySource, windows: HistoryWindows) -> None:
        self.source = source
        self.windows = windows
        self._accounts = _KeyCache(source.accounts)
        self._customers = _KeyCache(source.customers)
        self._merchants = _KeyCache(source.merchants)
        self._accounts_of = _KeyCache(source.accounts_of)
        self._sharing = _KeyCache(source.customers_sharing)
        self._sent = _WindowCache(source.sent, _txn_time)
        self._received = _WindowCache(source.received, _txn_time)
        self._cards = _WindowCache(source.card_txns, _txn_time)
        self._devices = _WindowCache(source.device_txns, _txn_time)
        self._logins = _WindowCache(source.logins, _login_time)
        self._reports: dict[tuple[str, int], list[Report]] = {}

    # -- batch prefetch ------------------------------------------------------------
    def prefetch(self, events: Sequence[Event]) -> None:
        if not events:
            return
        lo = min(e.at for e in events)
        hi = max(e.at for e in events)
        w = self.windows
        txns = [e.txn for e in events if e.kind == "transaction"]
        payers = {t.account_id for t in txns}
        payees = {t.counterparty_account_id for t in txns if t.counterparty_account_id}
        self._accounts.load(payers | payees)
        customers = {
            a.customer_id
            for a in (self._accounts.held.get(i) for i in payers | payees)
            if a is not None and a.customer_id is not None
        }
        customers |= {e.login.customer_id for e in events if e.kind == "login"}
        customers |= {e.customer.customer_id for e in events if e.kind == "customer"}
        self._customers.load(customers)
        self._sent.load(payers | payees, lo - int(w.sent_days * DAY_MS), hi)
        self._received.load(payers | payees, lo - int(w.received_days * DAY_MS), hi)
        cards = {t.card_id for t in txns if t.card_id is not None}
        self._cards.load(cards, lo - int(w.card_hours * HOUR_MS), hi)
        self._logins.load(customers, lo - int(w.login_days * DAY_MS), hi)
        self.reports_for(customers, payers | payees)
        # Identity detectors look up who else holds a new or changed customer's
        # identifiers: one round trip for the batch instead of one per customer.
        self._sharing.load(
            identity for e in events if e.kind == "customer" for identity in e.customer.identities
        )

    # -- questions -------------------------------------------------------------------
    def account(self, account_id: int) -> AccountInfo | None:
        return self._accounts.get(account_id)  # type: ignore[no-any-return]

    def customer(self, customer_id: int) -> CustomerInfo | None:
        return self._customers.get(customer_id)  # type: ignore[no-any-return]

    def customers(self, ids: Iterable[int]) -> dict[int, CustomerInfo]:
        wanted = list(ids)
        self._customers.load(wanted)
        return {i: c for i in wanted if (c := self._customers.held.get(i)) is not None}

    def accounts(self, ids: Iterable[int]) -> dict[int, AccountInfo]:
        wanted = list(ids)
        self._accounts.load(wanted)
        return {i: a for i in wanted if (a := self._accounts.held.get(i)) is not None}

    def merchant(self, merchant_id: int) -> MerchantInfo | None:
        return self._merchants.get(merchant_id)  # type: ignore[no-any-return]

    def owner(self, account_id: int) -> int | None:
        account = self.account(account_id)
        return account.customer_id if account is not None else None

    def accounts_of(self, customer_id: int) -> list[int]:
        return list(self._accounts_of.get(customer_id) or [])

    def accounts_of_many(self, customer_ids: Iterable[int]) -> dict[int, list[int]]:
        wanted = list(customer_ids)
        self._accounts_of.load(wanted)
        return {c: list(self._accounts_of.held.get(c) or []) for c in wanted}

    def sharing(self, identities: Iterable[IdentityKey]) -> dict[IdentityKey, list[int]]:
        wanted = list(identities)
        self._sharing.load(wanted)
        return {i: list(self._sharing.held.get(i) or []) for i in wanted}

    def sent(self, account_id: int, since: int, until: int) -> list[Txn]:
        return self._sent.get(account_id, since, until)

    def received(self, account_id: int, since: int, until: int) -> list[Txn]:
        return self._received.get(account_id, since, until)

    def received_many(
        self, account_ids: Iterable[int], since: int, until: int
    ) -> dict[int, list[Txn]]:
        wanted = list(account_ids)
        self._received.load(wanted, since, until)
        return {a: self._received.get(a, since, until) for a in wanted}

    def sent_many(self, account_ids: Iterable[int], since: int, until: int) -> dict[int, list[Txn]]:
        wanted = list(account_ids)
        self._sent.load(wanted, since, until)
        return {a: self._sent.get(a, since, until) for a in wanted}

    def card_txns(self, card_id: int, since: int, until: int) -> list[Txn]:
        return self._cards.get(card_id, since, until)

    def device_txns(self, device_id: int, since: int, until: int) -> list[Txn]:
        return self._devices.get(device_id, since, until)

    def logins(self, customer_id: int, since: int, until: int) -> list[Login]:
        return self._logins.get(customer_id, since, until)

    def reports_for(self, customer_ids: Iterable[int], account_ids: Iterable[int]) -> list[Report]:
        keys = [("c", i) for i in customer_ids] + [("a", i) for i in account_ids]
        missing = [k for k in keys if k not in self._reports]
        if missing:
            found = self.source.reports(
                [i for kind, i in missing if kind == "c"], [i for kind, i in missing if kind == "a"]
            )
            for key in missing:
                self._reports[key] = []
            for report in found:
                if report.customer_id is not None and ("c", report.customer_id) in self._reports:
                    self._reports[("c", report.customer_id)].append(report)
                if report.account_id is not None and ("a", report.account_id) in self._reports:
                    self._reports[("a", report.account_id)].append(report)
        unique: dict[int, Report] = {}
        for key in keys:
            for report in self._reports[key]:
                unique[report.report_id] = report
        return sorted(unique.values(), key=lambda r: r.report_id)
