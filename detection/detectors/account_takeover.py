"""Detector `account_takeover`: a login from a device the customer never used, contact
details changed in that session, then money sent from it to a payee the account never
paid.

Judged by structure and time against the customer's own history, never by amounts
fitted to one simulator: credentials are phished or bought (failed tries or none), the
victim may log in often or rarely, the change comes minutes to hours after the login
and the payout hours after it, to an IBAN elsewhere or an account here.

* The change alerts on its own (before any money leaves) with a second sign of an
  intruder: failed tries before the login, or an IP the customer never used when the
  customer has history enough for "never" to mean something.
* Without one (a quiet victim, no failed tries), the payout decides: from the new
  device, to a new payee, large against the account's own payments or a large share
  of what came into it. Honest new phones pay the usual people the usual sums.

Judged only on history up to the event's own time (see `_payments`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import DAY_MS, HOUR_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._payments import MINUTE_MS, _past, _score
from fraudgraph.detection.events import Event, EventKind
from fraudgraph.detection.history import CustomerInfo, Login, Txn
from fraudgraph.detection.stats import median


class AccountTakeoverParams(Params):
    # Judged against the customer's own history, never against amounts of a generator:
    # a session from a device the customer never used, a contact change in it, then
    # money to a payee the account never paid, large for this account.
    # "New" device = the customer's history has no login from it before this margin.
    new_device_minutes: float = Field(default=60.0, gt=0)
    failed_minutes: float = Field(default=30.0, gt=0, description="Failed tries before it.")
    # Intruders change e-mail/phone minutes to hours after logging in (credentials
    # bought or phished: no hurry); a change this long after the login is the session's.
    change_hours: float = Field(default=6.0, gt=0)
    # A change this shortly before the login (a SIM swap, a call to the help desk)
    # counts for a payout from the new device too (not on its own: see `_after_change`).
    change_before_minutes: float = Field(default=30.0, ge=0)
    # A payout this long after the new device's login is still attributed to it: the
    # intruder's session and the money leaving it span hours, within the same day.
    session_hours: float = Field(default=12.0, gt=0)
    # A "change" on a customer created less than this before is onboarding.
    min_customer_age_days: float = Field(default=1.0, ge=0)
    # A new IP counts as a sign (without failed tries) only with this much history.
    min_known_logins: int = Field(default=3, ge=0)
    # Without a second sign of an intruder (failed tries, or a new IP on a customer with
    # history: a quiet victim logs in rarely), a contact change and a new device need the
    # payout to speak: from that device, to a payee the account never paid, and this many
    # times the account's median payment ...
    min_times_usual_changed: float = Field(default=5.0, ge=1)
    # ... or this share of what came into the account over the payment window (its
    # balance, as far as the history shows it).
    min_inflow_share: float = Field(default=0.5, gt=0)
    # Without a contact change in view, a payout after failed tries from a new device and
    # IP must be this many times the account's median payment (an honest first login is
    # followed by payments of the usual size).
    min_times_usual: float = Field(default=10.0, ge=1)


def _first_at(logins: Sequence[Login], ip: str) -> int:
    """When `ip` first shows in `logins` (time order), which hold a login from it."""
    return next(login.at for login in logins if login.ip == ip)


@dataclass(frozen=True, slots=True)
class _Session:
    """A successful login from a device new to the customer, and what came with it."""

    login: Login
    failed: int
    new_ip: bool
    known_logins: int  # logins of the customer before the device first appeared
    changed_at: int | None  # contact change in the session (or just before it), if any

    @property
    def changed_after_login(self) -> bool:
        return self.changed_at is not None and self.changed_at >= self.login.at


@dataclass(frozen=True, slots=True)
class _Payout:
    new_payee: bool  # no payment to this payee in the account's history
    times_usual: float  # amount / the account's median payment (0: no history)


class AccountTakeover(Detector):
    rule: ClassVar[str] = "account_takeover"
    kind = "anomaly"
    handles: ClassVar[frozenset[EventKind]] = frozenset({"transaction", "customer", "login"})
    params_model = AccountTakeoverParams
    params: AccountTakeoverParams

    # -- the session ----------------------------------------------------------------
    def _change_times(self, info: CustomerInfo | None, until: int) -> list[int]:
        """When the customer's details changed by `until`, oldest first, onboarding aside.

        The graph keeps every change time (`change_times`); a snapshot row carries
        only the last change (`updated_at`), a live update event this one.
        """
        if info is None or info.created_at is None:
            return []
        times = info.change_times or ((info.updated_at,) if info.updated_at is not None else ())
        onboarded = info.created_at + self.params.min_customer_age_days * DAY_MS
        return [t for t in times if onboarded <= t <= until]

    def _changed_at(self, info: CustomerInfo | None, until: int) -> int | None:
        """When the customer's details last changed by `until`, if not at onboarding."""
        times = self._change_times(info, until)
        return times[-1] if times else None

    def _sessions(
        self, ctx: Context, customer_id: int, until: int, changed: int | None
    ) -> list[_Session]:
        """New-device logins within `session_hours` before `until`, oldest first."""
        since = until - int(ctx.windows.login_days * DAY_MS)
        logins = ctx.logins(customer_id, since, until)  # in time order
        margin = int(self.params.new_device_minutes * MINUTE_MS)
        recent = until - int(self.params.session_hours * HOUR_MS)
        start = bisect.bisect_left(logins, recent, key=lambda login: login.at)
        candidates = [
            login for login in logins[start:] if login.success and login.device_id is not None
        ]
        # When each candidate's device first shows in the window: read from the oldest
        # login until all are seen, not the whole month per payment (a customer who
        # logs in all day keeps using the devices it had at the window's start).
        first_seen_device: dict[int | None, int] = {}
        wanted = {login.device_id for login in candidates}
        for login in logins:
            if login.device_id in wanted and login.device_id not in first_seen_device:
                first_seen_device[login.device_id] = login.at
                if len(first_seen_device) == len(wanted):
                    break
        found = []
        for login in candidates:
            appeared = first_seen_device[login.device_id]
            if appeared < login.at - margin:
                continue
            failed_since = login.at - int(self.params.failed_minutes * MINUTE_MS)
            failed = sum(
                1
                for other in logins
                if not other.success
                and failed_since <= other.at <= login.at
                and (other.device_id == login.device_id or other.ip == login.ip)
            )
            new_ip = login.ip is not None and _first_at(logins, login.ip) >= login.at - margin
            known = sum(1 for other in logins if other.at < appeared)
            change_from = login.at - int(self.params.change_before_minutes * MINUTE_MS)
            change_by = login.at + int(self.params.change_hours * HOUR_MS)
            in_session = changed is not None and change_from <= changed <= change_by
            found.append(_Session(login, failed, new_ip, known, changed if in_session else None))
        return found

    def _after_change(self, session: _Session) -> bool:
        """New device, contact change in the session, and a second sign of an intruder.

        Failed tries from the new device, or an IP the customer never used when the
        customer has enough history for "never" to mean something: early in the
        history every device and IP looks new, and honest customers change their
        contact details right after logging in too. With that little history one
        failed try is a typo: it takes repeated tries (or the payout) to speak.
        """
        if not session.changed_after_login:
            return False
        if session.known_logins < self.params.min_known_logins:
            return session.failed >= 2
        return session.failed > 0 or session.new_ip

    def _paying_out(self, session: _Session, txn: Txn, payout: _Payout, ctx: Context) -> bool:
        """The payout speaks for the session: made from the new device, to a payee the
        account never paid, and large for this account (honest first logins from a new
        phone are followed by payments of the usual size, to the usual people).

        With a contact change in the session (a quiet victim, credentials bought: no
        failed tries, no history to call the IP new), large against the account's own
        payments or a large share of what came in. Without one in view (a later honest
        change hides it in a snapshot), only after failed tries from a new IP on a
        customer with history, and larger still."""
        if txn.device_id is None or txn.device_id != session.login.device_id:
            return False
        if not payout.new_payee:
            return False
        if session.changed_at is not None:
            return (
                payout.times_usual >= self.params.min_times_usual_changed
                or self._inflow_share(ctx, txn) >= self.params.min_inflow_share
            )
        return (
            session.known_logins >= self.params.min_known_logins
            and session.failed > 0
            and session.new_ip
            and payout.times_usual >= self.params.min_times_usual
        )

    # -- triggers ---------------------------------------------------------------------
    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        if event.kind == "customer":
            yield from self._on_change(event, ctx)
        elif event.kind == "login":
            yield from self._on_late_login(event, ctx)
        else:
            yield from self._on_payout(event, ctx)

    def _on_change(self, event: Event, ctx: Context) -> Iterable[Finding]:
        """The contact change itself: alert before any money leaves."""
        customer = event.customer
        changed = self._changed_at(customer, event.at)
        if changed is None:
            return
        sessions = self._sessions(ctx, customer.customer_id, changed, changed)
        hits = [s for s in sessions if self._after_change(s)]
        if hits:
            accounts = self._current_accounts(ctx, customer.customer_id)
            yield self._session_finding(hits[-1], customer.customer_id, accounts, event.at)
            yield from self._payouts_after_change(customer.customer_id, changed, ctx)
        elif sessions:
            # A new device but no second sign: the payouts from it decide. Those already
            # in the graph were judged without this change.
            first = sessions[0].login.at
            yield from self._payouts_in_session(customer.customer_id, first, ctx)

    def _payouts_after_change(
        self, customer_id: int, changed: int, ctx: Context
    ) -> Iterable[Finding]:
        """Payouts already in the graph that followed this change.

        The payout can reach the worker before what makes it a takeover's: the change
        (customers and transactions are separate topics) or a failed try (logins are
        keyed by login id, so a session's logins are spread over partitions). Called
        whenever a change is judged a takeover, so honest changes cost nothing.
        """
        yield from self._payouts_in_session(customer_id, changed, ctx)

    def _payouts_in_session(self, customer_id: int, start: int, ctx: Context) -> Iterable[Finding]:
        """Judge again the customer's payouts in the graph from `start` to the end of a
        session; the batch's own are left to their events."""
        until = start + int(self.params.session_hours * HOUR_MS)
        # The account's usual payment window (as the payout's own judgement reads it),
        # so the read is served from what the cache holds.
        since = start - int(ctx.windows.sent_days * DAY_MS)
        for account in ctx.accounts_of(customer_id):
            for txn in ctx.sent(account, since, until):
                if txn.at >= start and not ctx.in_batch("transaction", txn.txn_id):
                    yield from self._judge_payout(txn, txn.at, ctx)

    def _on_late_login(self, event: Event, ctx: Context) -> Iterable[Finding]:
        """A login reaching the graph after the contact change it preceded.

        Logins and customers are separate topics, so the change can be judged before
        the session's logins arrive and find no session. Each login near a change
        judges the change again, as it would have been judged with every login in
        view: same session, same anchor, same alert id, whichever came first.
        """
        login = event.login
        yield from self._payouts_after(login, ctx)
        customer = ctx.customer(login.customer_id)
        if customer is None:
            return
        # Only changes this login could belong to the session of: it is a failed try,
        # the new device's first login or the session itself. Every change counts, not
        # only the latest: a second change minutes later must not hide the first.
        reach = int(self.params.change_hours * HOUR_MS + self.params.failed_minutes * MINUTE_MS)
        for changed in self._change_times(customer, login.at + reach):
            if changed < login.at:
                continue
            if ctx.in_batch("customer", customer.customer_id, changed):
                continue  # the change is judged as its own event, after this login
            sessions = self._sessions(ctx, customer.customer_id, changed, changed)
            hits = [s for s in sessions if self._after_change(s)]
            if hits:
                accounts = self._current_accounts(ctx, customer.customer_id)
                yield self._session_finding(hits[-1], customer.customer_id, accounts, changed)
                yield from self._payouts_after_change(customer.customer_id, changed, ctx)

    def _payouts_after(self, login: Login, ctx: Context) -> Iterable[Finding]:
        """Payouts already in the graph that followed this login from a new device.

        Two workers can take a session's login and its payout at the same moment (or a
        backlog the payout first): the payout was judged without the session. A
        successful login from a device the customer had not used judges them again.
        """
        if not self._from_new_device(login, ctx):
            return  # a device the customer has used: no session to find
        yield from self._payouts_in_session(login.customer_id, login.at, ctx)

    def _from_new_device(self, login: Login, ctx: Context) -> bool:
        """A successful login from a device the customer's history does not show."""
        if not login.success or login.device_id is None:
            return False
        margin = int(self.params.new_device_minutes * MINUTE_MS)
        since = login.at - int(ctx.windows.login_days * DAY_MS)
        earlier = ctx.logins(login.customer_id, since, login.at - margin)
        return not any(other.device_id == login.device_id for other in earlier)

    def prepare(self, events: Sequence[Event], ctx: Context) -> None:
        """What a new device's login reads, asked once for the batch: its customer's
        accounts and their payments (`_payouts_in_session`). Asked login by login, that
        was one Neo4j round trip each under a live load (py-spy: 13% of the worker)."""
        customers = {
            e.login.customer_id
            for e in events
            if e.kind == "login" and self._from_new_device(e.login, ctx)
        }
        if not customers:
            return
        accounts = [a for owned in ctx.accounts_of_many(customers).values() for a in owned]
        earliest = min(e.at for e in events)
        ctx.sent_many(accounts, earliest - int(ctx.windows.sent_days * DAY_MS), earliest)

    def _on_payout(self, event: Event, ctx: Context) -> Iterable[Finding]:
        yield from self._judge_payout(event.txn, event.at, ctx)

    def _judge_payout(self, txn: Txn, at: int, ctx: Context) -> Iterable[Finding]:
        if not txn.is_transfer or txn.status == "declined":
            return
        if txn.counterparty_account_id is None and txn.counterparty_hash is None:
            return
        owner = ctx.owner(txn.account_id)
        if owner is None:
            return
        payee_owner = (
            ctx.owner(txn.counterparty_account_id)
            if txn.counterparty_account_id is not None
            else None
        )
        if payee_owner == owner:
            return  # between the customer's own accounts
        changed = self._changed_at(ctx.customer(owner), txn.at)
        sessions = self._sessions(ctx, owner, txn.at, changed)
        if not sessions:
            return
        payout = self._payout(ctx, txn)
        hits = [s for s in sessions if self._after_change(s)] or [
            s for s in sessions if self._paying_out(s, txn, payout, ctx)
        ]
        if not hits:
            return
        session = hits[-1]
        yield self._session_finding(session, owner, [txn.account_id], at)
        # The payout is the intruder's when made from the session's device or IP; the
        # real customer paying a friend from their own phone meanwhile is not, and
        # naming that friend would accuse an honest payee.
        login = session.login
        if (txn.device_id is not None and txn.device_id == login.device_id) or (
            txn.ip is not None and txn.ip == login.ip
        ):
            yield self._payout_finding(session, owner, txn, payee_owner, payout)

    # -- findings ---------------------------------------------------------------------
    def _current_accounts(self, ctx: Context, customer_id: int) -> list[int]:
        """The customer's (first) checking account: where a payout is sent from."""
        accounts = ctx.accounts_of(customer_id)
        checking = [a for a in accounts if (info := ctx.account(a)) and info.kind == "checking"]
        return sorted(checking or accounts)[:1]

    def _session_score(self, session: _Session) -> float:
        score = 0.6 + (0.15 if session.failed else 0) + (0.1 if session.new_ip else 0)
        return _score(score + (0.1 if session.known_logins else 0))

    def _session_finding(
        self, session: _Session, customer_id: int, accounts: Sequence[int], at: int
    ) -> Finding:
        login = session.login
        entities = [Entity("customer", str(customer_id), "victim")]
        entities += [Entity("account", str(a), "victim_account") for a in accounts]
        if login.device_id is not None:
            entities.append(Entity("device", str(login.device_id), "new_device"))
        if login.ip:
            entities.append(Entity("ip", login.ip, "new_ip"))
        evidence: dict[str, object] = {
            "login_id": login.login_id,
            "failed_logins": session.failed,
            "new_ip": session.new_ip,
            "earlier_logins": session.known_logins,
        }
        if session.changed_at is not None:
            minutes = (session.changed_at - login.at) / MINUTE_MS
            evidence["minutes_to_contact_change"] = round(minutes, 1)
            then = (
                f"contact details changed {minutes:.0f} min later"
                if minutes >= 0
                else f"contact details changed {-minutes:.0f} min before"
            )
        else:
            then = "a payout to a new payee followed from that device"
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The contact change is the episode: which of several new-device sessions
            # before it is in view depends on the order logins arrive in, so it is
            # evidence, not identity. Without a change, the session is the episode.
            anchor=(
                f"customer:{customer_id}:change:{session.changed_at}"
                if session.changed_at is not None
                else f"customer:{customer_id}:login:{login.login_id}"
            ),
            score=self._session_score(session),
            entities=entities,
            explanation=(
                f"Customer {customer_id} logged in from device {login.device_id}, never used "
                f"before ({session.failed} failed tries first), and {then}: likely takeover; "
                f"hold payouts and call the customer on the previous contact details."
            ),
            evidence=evidence,
            cypher=views.account_takeover(customer_id, login.at - HOUR_MS, at),
            event_time_ms=at,
            severity="high",
        )

    def _payout_finding(
        self,
        session: _Session,
        customer_id: int,
        txn: Txn,
        payee_owner: int | None,
        payout: _Payout,
    ) -> Finding:
        entities = [
            Entity("customer", str(customer_id), "victim"),
            Entity("account", str(txn.account_id), "victim_account"),
        ]
        # A payee here is named: it is where the money can still be frozen.
        if txn.counterparty_account_id is not None:
            entities.append(Entity("account", str(txn.counterparty_account_id), "payee_account"))
        if payee_owner is not None:
            entities.append(Entity("customer", str(payee_owner), "payee"))
        where = (
            f"account {txn.counterparty_account_id}"
            if txn.counterparty_account_id is not None
            else "another bank"
        )
        minutes = (txn.at - session.login.at) / MINUTE_MS
        after = "a login from a new device" + (
            " and a contact change" if session.changed_at is not None else ""
        )
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"customer:{customer_id}:payout:{txn.txn_id}",
            score=_score(self._session_score(session) + 0.1 + (0.1 if payout.new_payee else 0)),
            entities=entities,
            explanation=(
                f"Payout {txn.txn_id} of {txn.amount:,.2f} {txn.currency} to "
                f"{'a new payee at ' if payout.new_payee else ''}{where}, {minutes:.0f} min "
                f"after {after} on customer {customer_id}: recall the payment."
            ),
            evidence={
                "login_id": session.login.login_id,
                "payout_txn_id": txn.txn_id,
                "amount": txn.amount,
                "new_payee": payout.new_payee,
                "times_usual_payment": round(payout.times_usual, 1),
                "same_device": txn.device_id == session.login.device_id,
                "contact_change": session.changed_at is not None,
                "minutes_after_login": round(minutes, 1),
            },
            # The payout with the session it followed: the new device's logins and the
            # contact change the explanation names.
            cypher=views.account_takeover(
                customer_id, session.login.at - HOUR_MS, txn.at, [txn.txn_id]
            ),
            txn_ids=[str(txn.txn_id)],
            severity="critical",
        )

    def _payout(self, ctx: Context, txn: Txn) -> _Payout:
        since = txn.at - int(ctx.windows.sent_days * DAY_MS)
        past = _past(ctx.sent(txn.account_id, since, txn.at), txn)
        if txn.counterparty_account_id is not None:
            paid_before = any(
                p.counterparty_account_id == txn.counterparty_account_id for p in past
            )
        else:
            paid_before = any(p.counterparty_hash == txn.counterparty_hash for p in past)
        amounts = [p.amount for p in past if p.counts and p.status != "declined"]
        usual = median(amounts) if amounts else None
        times = txn.amount / usual if usual else 0.0
        return _Payout(new_payee=not paid_before, times_usual=times)

    def _inflow_share(self, ctx: Context, txn: Txn) -> float:
        """The payout against what came into the account over the payment window: a
        balance-like measure for an account with few payments to compare with. Read
        only for a new-device payout to a new payee that its size alone did not decide."""
        since = txn.at - int(ctx.windows.sent_days * DAY_MS)
        inflow = sum(
            t.amount
            for t in _past(ctx.received(txn.account_id, since, txn.at), txn)
            if t.counts and t.status != "declined"
        )
        return txn.amount / inflow if inflow > 0 else 0.0


DETECTOR = AccountTakeover
