"""A batch's view of the past, served to every detector and event of the batch.

`prefetch` asks each question for all the batch's entities at once (one round trip
per question, and only for what the worker's `HistoryCache` does not hold yet);
anything a detector asks beyond that (the next hop of a money trail) is fetched on
demand and remembered.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from fraudgraph.detection.cache import HistoryCache
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import (
    AccountInfo,
    CustomerInfo,
    HistorySource,
    IdentityKey,
    Login,
    MerchantInfo,
    Report,
    Txn,
)
from fraudgraph.detection.settings import HistoryWindows

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


class Context:
    def __init__(
        self,
        source: HistorySource,
        windows: HistoryWindows,
        cache: HistoryCache | None = None,
        *,
        kept: HistoryWindows | None = None,
    ) -> None:
        self.source = source
        # What detectors read by configuration (a detector's baseline window).
        self.windows = windows
        # How far back histories are prefetched and kept: at least `windows`, and as
        # far as any detector reads (HistoryWindows.stretched).
        self.kept = kept if kept is not None else windows
        # Without a worker's cache, a batch of its own: nothing held before or after.
        self.cache = cache if cache is not None else HistoryCache(source)
        self._batch: set[tuple[str, int]] = set()
        self._batch_versions: set[tuple[str, int, int | None]] = set()
        # Answers several detectors compute alike about one event (the relays around a
        # payer), kept for the batch: the second detector to ask reads the first's.
        self.memo: dict[Hashable, Any] = {}

    # -- the batch being judged ------------------------------------------------------
    def judging(self, events: Sequence[Event]) -> None:
        """The rows of this batch: each is judged as its own event, in event-time order."""
        self._batch = {row_of(e) for e in events}
        self._batch_versions = {
            ("customer", e.customer.customer_id, e.customer.updated_at)
            for e in events
            if e.kind == "customer"
        }

    def in_batch(self, kind: str, row_id: int, version: int | None = None) -> bool:
        """Whether this row is judged as an event of this batch: a detector looking
        ahead leaves it to that event, so the alert carries that row's trace (the row
        that completed the finding), as in-order processing would. With `version`
        (a customer's `updated_at`), whether that version of the row is."""
        if version is not None:
            return (kind, row_id, version) in self._batch_versions
        return (kind, row_id) in self._batch

    # -- batch prefetch ------------------------------------------------------------
    def prefetch(self, events: Sequence[Event]) -> None:
        if not events:
            return
        lo = min(e.at for e in events)
        c = self.cache
        txns = [e.txn for e in events if e.kind == "transaction"]
        payers = {t.account_id for t in txns}
        payees = {t.counterparty_account_id for t in txns if t.counterparty_account_id}
        c.accounts.load(payers | payees)
        customers = {
            a.customer_id
            for a in (c.accounts.peek(i) for i in payers | payees)
            if a is not None and a.customer_id is not None
        }
        customers |= {e.login.customer_id for e in events if e.kind == "login"}
        customers |= {e.customer.customer_id for e in events if e.kind == "customer"}
        c.customers.load(customers)
        starts = self.window_starts(lo)
        c.sent.load(payers | payees, starts["sent"])
        c.received.load(payers | payees, starts["received"])
        c.cards.load({t.card_id for t in txns if t.card_id is not None}, starts["cards"])
        c.logins.load(customers, starts["logins"])
        self.reports_for(customers, payers | payees)
        # Identity detectors look up who else holds a new or changed customer's
        # identifiers: one round trip for the batch instead of one per customer.
        self.cache.sharing.load(
            identity for e in events if e.kind == "customer" for identity in e.customer.identities
        )

    def window_starts(self, lo: int) -> dict[str, int]:
        """Where each prefetched window begins for a batch whose earliest event is `lo`."""
        w = self.kept
        return {
            "sent": lo - int(w.sent_days * DAY_MS),
            "received": lo - int(w.received_days * DAY_MS),
            "cards": lo - int(w.card_hours * HOUR_MS),
            "logins": lo - int(w.login_days * DAY_MS),
        }

    # -- questions -------------------------------------------------------------------
    def account(self, account_id: int) -> AccountInfo | None:
        return self.cache.accounts.get(account_id)

    def customer(self, customer_id: int) -> CustomerInfo | None:
        return self.cache.customers.get(customer_id)

    def customers(self, ids: Iterable[int]) -> dict[int, CustomerInfo]:
        wanted = list(ids)
        self.cache.customers.load(wanted)
        return {i: c for i in wanted if (c := self.cache.customers.peek(i)) is not None}

    def accounts(self, ids: Iterable[int]) -> dict[int, AccountInfo]:
        wanted = list(ids)
        self.cache.accounts.load(wanted)
        return {i: a for i in wanted if (a := self.cache.accounts.peek(i)) is not None}

    def merchant(self, merchant_id: int) -> MerchantInfo | None:
        return self.cache.merchants.get(merchant_id)

    def owner(self, account_id: int) -> int | None:
        account = self.account(account_id)
        return account.customer_id if account is not None else None

    def accounts_of(self, customer_id: int) -> list[int]:
        return list(self.cache.accounts_of.get(customer_id) or [])

    def accounts_of_many(self, customer_ids: Iterable[int]) -> dict[int, list[int]]:
        wanted = list(customer_ids)
        self.cache.accounts_of.load(wanted)
        return {c: list(self.cache.accounts_of.peek(c) or []) for c in wanted}

    def sharing(self, identities: Iterable[IdentityKey]) -> dict[IdentityKey, list[int]]:
        wanted = list(identities)
        self.cache.sharing.load(wanted)
        return {i: list(self.cache.sharing.peek(i) or []) for i in wanted}

    def sent(self, account_id: int, since: int, until: int) -> list[Txn]:
        return self.cache.sent.window(account_id, since, until)

    def received(self, account_id: int, since: int, until: int) -> list[Txn]:
        return self.cache.received.window(account_id, since, until)

    def received_many(
        self, account_ids: Iterable[int], since: int, until: int
    ) -> dict[int, list[Txn]]:
        wanted = list(account_ids)
        self.cache.received.load(wanted, since)
        return {a: self.cache.received.window(a, since, until) for a in wanted}

    def sent_many(self, account_ids: Iterable[int], since: int, until: int) -> dict[int, list[Txn]]:
        wanted = list(account_ids)
        self.cache.sent.load(wanted, since)
        return {a: self.cache.sent.window(a, since, until) for a in wanted}

    def card_txns(self, card_id: int, since: int, until: int) -> list[Txn]:
        return self.cache.cards.window(card_id, since, until)

    def device_txns(self, device_id: int, since: int, until: int) -> list[Txn]:
        return self.cache.devices.window(device_id, since, until)

    def logins(self, customer_id: int, since: int, until: int) -> list[Login]:
        return self.cache.logins.window(customer_id, since, until)

    def reports_for(self, customer_ids: Iterable[int], account_ids: Iterable[int]) -> list[Report]:
        keys = [("c", i) for i in customer_ids] + [("a", i) for i in account_ids]
        self.cache.reports.load(keys)
        unique: dict[int, Report] = {}
        for key in keys:
            for report in self.cache.reports.peek(key) or []:
                unique[report.report_id] = report
        return sorted(unique.values(), key=lambda r: r.report_id)


def row_of(event: Event) -> tuple[str, int]:
    """The row an event is, as (kind, id): what `in_batch` asks about."""
    record = event.record
    if event.kind == "transaction":
        return ("transaction", event.txn.txn_id)
    if event.kind == "login":
        return ("login", event.login.login_id)
    if event.kind == "customer":
        return ("customer", event.customer.customer_id)
    if event.kind == "account" and isinstance(record, AccountInfo):
        return ("account", record.account_id)
    if event.kind == "report":
        return ("report", event.report.report_id)
    return (event.kind, id(record))
