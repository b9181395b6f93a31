"""Read-only, parameter-free Cypher that draws a finding's evidence in Neo4j Browser.

An alert must carry a query an analyst can paste as is, so values are inlined; only
integer ids are ever inlined (each passes through int()), so nothing a source row
contains can reach the query text.

A query draws what the finding's explanation names. Its optional parts are collected
one after the other (`_gathered`): OPTIONAL MATCHes in a row multiply into one row per
combination, and Browser's row limit (1,000) then drops nodes without a word.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

IDENTITIES = "HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS"
CONTACT = "HAS_EMAIL|HAS_PHONE"


def _ids(values: Iterable[int | str]) -> str:
    return "[" + ", ".join(str(int(v)) for v in sorted({int(v) for v in values})) + "]"


def _gathered(
    match: str, kept: Sequence[str], parts: Sequence[tuple[str, str]], extra: str = ""
) -> str:
    """`match`, then each (name, pattern) part as `name = pattern`, collected into the
    list `name` before the next part is matched; one row per row of `match`."""
    clauses = [match]
    carried = list(kept)
    for name, pattern in parts:
        clauses.append(f"OPTIONAL MATCH {name}_ = {pattern}")
        clauses.append(f"WITH {', '.join(carried)}, collect({name}_) AS {name}")
        carried.append(name)
    returned = [*carried, extra] if extra else carried
    clauses.append(f"RETURN {', '.join(returned)}")
    return " ".join(clauses)


def transactions(txn_ids: Iterable[int | str]) -> str:
    """The payments, their payer accounts and everything each payment touches."""
    return (
        f"MATCH (t:Transaction) WHERE t.txn_id IN {_ids(txn_ids)} "
        "OPTIONAL MATCH p = (:Customer)-[:OWNS]->(:Account)-[:SENT]->(t)-[]->() "
        "RETURN t, p"
    )


def money_flow(account_ids: Iterable[int | str], txn_ids: Iterable[int | str] = ()) -> str:
    """Transfers among these accounts, or exactly the given payments when some are
    given: a transfer to an account of this bank as its TRANSFERRED edge, money that
    left the bank (or was withdrawn) as the payment and where it went. The accounts'
    owners come along, and any fraud report on an account or its owner."""
    accounts = _ids(account_ids)
    txns = list(txn_ids)
    if not txns:
        return _gathered(
            f"MATCH (a:Account) WHERE a.account_id IN {accounts}",
            ["a"],
            [
                (
                    "transfers",
                    f"(a)-[:TRANSFERRED]->(b:Account) WHERE b.account_id IN {accounts}",
                ),
                ("owners", "(a)<-[:OWNS]-(:Customer)"),
                ("reports", "(a)<-[:OWNS*0..1]-()<-[:REPORTS]-(:FraudReport)"),
            ],
        )
    to_payee = "(a)-[m:TRANSFERRED]->(b:Account) WHERE m.txn_id = t.txn_id"
    return _gathered(
        f"MATCH (a:Account)-[:SENT]->(t:Transaction) WHERE t.txn_id IN {_ids(txns)}",
        ["a", "t"],
        [
            ("transfers", to_payee),
            ("left_the_bank", "(a)-[:SENT]->(t) WHERE NOT EXISTS { (t)-[:TO_ACCOUNT]->() }"),
            ("went_to", "(t)-[:TO_EXTERNAL|AT_MERCHANT]->()"),
            ("payers", "(a)<-[:OWNS]-(:Customer)"),
            ("payees", to_payee.replace("(b:Account)", "(:Account)<-[:OWNS]-(:Customer)")),
            ("payer_reports", "(a)<-[:OWNS*0..1]-()<-[:REPORTS]-(:FraudReport)"),
            (
                "payee_reports",
                to_payee.replace(
                    "(b:Account)", "(:Account)<-[:OWNS*0..1]-()<-[:REPORTS]-(:FraudReport)"
                ),
            ),
        ],
    )


def customers(customer_ids: Iterable[int | str], txn_ids: Iterable[int | str] = ()) -> str:
    """The customers with their identity nodes, accounts and any fraud report on them or
    their accounts; what ties them besides identifiers: the devices two of them used
    and the transfers among their accounts; and the given transfers of their accounts
    with the other side's owner."""
    ids = _ids(customer_ids)
    txns = list(txn_ids)
    others = f"(o:Customer) WHERE o.customer_id IN {ids} AND o <> c"
    parts = [
        ("identities", f"(c)-[:{IDENTITIES}]->()"),
        ("accounts", "(c)-[:OWNS]->(:Account)"),
        ("reports", "(c)-[:OWNS*0..1]->()<-[:REPORTS]-(:FraudReport)"),
        (
            "shared_devices",
            f"(c)-[:USED]->(d:Device) WHERE EXISTS {{ (d)<-[:USED]-{others} }}",
        ),
        (
            "transfers_among",
            f"(c)-[:OWNS]->(:Account)-[:TRANSFERRED]->(:Account)<-[:OWNS]-{others}",
        ),
    ]
    if txns:
        given = (
            f"(c)-[:OWNS]->(:Account)-[m:TRANSFERRED]-(x:Account) WHERE m.txn_id IN {_ids(txns)}"
        )
        parts += [
            ("transfers", given),
            ("counterparties", given.replace("(x:Account)", "(:Account)<-[:OWNS]-(:Customer)")),
        ]
    return _gathered(f"MATCH (c:Customer) WHERE c.customer_id IN {ids}", ["c"], parts)


def account_takeover(
    customer_id: int | str,
    since_ms: int,
    until_ms: int,
    txn_ids: Iterable[int | str] | None = None,
) -> str:
    """A takeover session from `since_ms` to `until_ms`: the customer's contact details
    as they are now (the attacker's, after a change) with anyone else holding them, when
    they changed, the logins (failed tries, the new device and IP), and the payments with
    where the money went and the device and IP that sent it (only `txn_ids`, if given)."""
    c = int(customer_id)
    lo, hi = int(since_ms), int(until_ms)
    only = f" AND t.txn_id IN {_ids(txn_ids)}" if txn_ids is not None else ""
    payments = (
        f"(c)-[:OWNS]->(:Account)-[:SENT]->(t:Transaction)-[]->() "
        f"WHERE {lo} <= t.created_at <= {hi}{only}"
    )
    return _gathered(
        f"MATCH (c:Customer {{customer_id: {c}}})",
        ["c"],
        [
            ("accounts", "(c)-[:OWNS]->(:Account)"),
            ("contact", f"(c)-[:{CONTACT}]->()"),
            ("contact_also_held_by", f"(c)-[:{CONTACT}]->()<-[:{CONTACT}]-(:Customer)"),
            ("logins", f"(c)-[u:USED|LOGGED_IN_FROM]->() WHERE {lo} <= u.at <= {hi}"),
            ("payments", payments),
            (
                "payees",
                payments.replace("-[]->()", "-[:TO_ACCOUNT]->(:Account)<-[:OWNS]-(:Customer)"),
            ),
        ],
        extra=(
            f"[x IN coalesce(c.change_times, []) WHERE {lo} <= x <= {hi}"
            " | datetime({epochMillis: x})] AS contact_changed_at"
        ),
    )


def card_activity(card_id: int | str, since_ms: int, until_ms: int) -> str:
    """A card with its account and cardholder, and its payments in a window with
    merchants, devices and IPs."""
    card, lo, hi = int(card_id), int(since_ms), int(until_ms)
    payments = f"(k)<-[:WITH_CARD]-(t:Transaction) WHERE {lo} <= t.created_at <= {hi}"
    return _gathered(
        f"MATCH (k:Card {{card_id: {card}}})",
        ["k"],
        [
            ("holder", "(k)<-[:HOLDS]-(:Account)<-[:OWNS]-(:Customer)"),
            ("payments", payments),
            (
                "places",
                payments.replace(
                    "(t:Transaction)", "(t:Transaction)-[:AT_MERCHANT|FROM_DEVICE|FROM_IP]->()"
                ),
            ),
        ],
    )
