"""What the identity detectors share: what a customer is known to hold, and findings' parts.

The identity rules are `shared_identifiers`, `identity_ring` and `fraud_proximity`
(rings themselves: `_rings`).

Edges between customers come from *strong* identifiers (phone, e-mail, national id):
each belongs to one person, so two customers holding the same one are a household
sharing a landline or a family e-mail, or one fraudster behind several customers.
Addresses, devices and IPs are shared honestly all the time (a household has one
address, one home IP and maybe a tablet; colleagues sit behind one office IP; thousands
of phones sit behind a carrier's CGNAT address), so they never make an edge on their
own. The address only tells a household (everybody at one address, no more people than
a home holds, each with their own national id) from a ring (one phone across several
addresses, one national id on several customers).

Every detector judges a customer as known at the triggering event's time: customers
created or changed later are not there yet (a replay in snapshot order, where every
customer arrives before the first payment, sees what the live stream saw).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping

from fraudgraph.alerts.model import Entity
from fraudgraph.detection.context import Context
from fraudgraph.detection.history import (
    STRONG_IDENTITIES,
    AccountInfo,
    CustomerInfo,
    IdentityKey,
    Report,
)

NATIONAL_ID = "NationalId"
ADDRESS = "Address"


def known_at(customer: CustomerInfo, at: int) -> bool:
    """The customer's current identifiers were held at `at` (created or last changed by then).

    A customer changed after `at` may not have held today's phone at `at`; leaving it
    out keeps a replay from seeing the future (the live stream had not seen it either).
    """
    since = customer.updated_at or customer.created_at
    return since is None or since <= at


def strong_of(customer: CustomerInfo) -> list[IdentityKey]:
    return [key for key in customer.identities if key[0] in STRONG_IDENTITIES]


def address_of(customer: CustomerInfo) -> IdentityKey | None:
    return next((key for key in customer.identities if key[0] == ADDRESS), None)


def _onboarded_within(one: CustomerInfo, other: CustomerInfo, span_ms: int) -> bool:
    if one.created_at is None or other.created_at is None:
        return False
    return abs(one.created_at - other.created_at) <= span_ms


def _label_name(label: str) -> str:
    return {"Email": "e-mail", "Phone": "phone", NATIONAL_ID: "national id"}.get(label, label)


def _digest(keys: Iterable[IdentityKey]) -> str:
    text = "|".join(f"{label}:{digest}" for label, digest in sorted(set(keys)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _accounts_open_at(ctx: Context, customer_ids: Collection[int], at: int) -> dict[int, list[int]]:
    """Each customer's accounts already opened at `at` (two round trips for all of them)."""
    owned = ctx.accounts_of_many(sorted(customer_ids))
    infos = ctx.accounts(sorted({a for ids in owned.values() for a in ids}))
    return {c: [a for a in ids if _opened_by(infos.get(a), at)] for c, ids in sorted(owned.items())}


def _opened_by(account: AccountInfo | None, at: int) -> bool:
    return account is not None and (account.opened_at is None or account.opened_at <= at)


def _fraud_reports(
    ctx: Context, customer_ids: Collection[int], account_ids: Collection[int], at: int
) -> list[Report]:
    return [
        r for r in ctx.reports_for(customer_ids, account_ids) if r.is_fraud and r.reported_at <= at
    ]


def _reported_customers(ctx: Context, reports: Iterable[Report]) -> set[int]:
    found: set[int] = set()
    for report in reports:
        if report.customer_id is not None:
            found.add(report.customer_id)
        elif report.account_id is not None and (owner := ctx.owner(report.account_id)):
            found.add(owner)
    return found


def _member_entities(
    customers: Iterable[int], accounts: Mapping[int, list[int]], account_role: str
) -> list[Entity]:
    ordered = sorted(set(customers))
    entities = [Entity("customer", str(c), "member") for c in ordered]
    entities += [
        Entity("account", str(a), account_role) for c in ordered for a in accounts.get(c, [])
    ]
    return entities


def _by_label(keys: Iterable[IdentityKey]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label, _ in keys:
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))
