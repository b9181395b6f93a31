"""Read-only, parameter-free Cypher that draws a finding's evidence in Neo4j Browser.

An alert must carry a query an analyst can paste as is, so values are inlined; only
integer ids are ever inlined (each passes through int()), so nothing a source row
contains can reach the query text.
"""

from __future__ import annotations

from collections.abc import Iterable


def _ids(values: Iterable[int | str]) -> str:
    return "[" + ", ".join(str(int(v)) for v in sorted({int(v) for v in values})) + "]"


def transactions(txn_ids: Iterable[int | str]) -> str:
    """The payments, their payer accounts and everything each payment touches."""
    return (
        f"MATCH (t:Transaction) WHERE t.txn_id IN {_ids(txn_ids)} "
        "OPTIONAL MATCH p = (:Customer)-[:OWNS]->(:Account)-[:SENT]->(t)-[]->() "
        "RETURN t, p"
    )


def money_flow(account_ids: Iterable[int | str], txn_ids: Iterable[int | str] = ()) -> str:
    """Transfers among these accounts (only the given payments, when some are given)."""
    accounts = _ids(account_ids)
    txns = list(txn_ids)
    only = f" AND r.txn_id IN {_ids(txns)}" if txns else ""
    return (
        f"MATCH p = (a:Account)-[r:TRANSFERRED]->(b:Account) "
        f"WHERE a.account_id IN {accounts} AND b.account_id IN {accounts}{only} "
        "OPTIONAL MATCH q = (:Customer)-[:OWNS]->(a) RETURN p, q"
    )


def customers(customer_ids: Iterable[int | str]) -> str:
    """The customers with their identity nodes, devices and accounts."""
    return (
        f"MATCH (c:Customer) WHERE c.customer_id IN {_ids(customer_ids)} "
        "OPTIONAL MATCH p = (c)-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS|OWNS]->() "
        "RETURN c, p"
    )


def customer_activity(customer_id: int | str, since_ms: int, until_ms: int) -> str:
    """One customer's logins (device, IP) and payments inside a time window."""
    c = int(customer_id)
    lo, hi = int(since_ms), int(until_ms)
    return (
        f"MATCH (c:Customer {{customer_id: {c}}}) "
        f"OPTIONAL MATCH l = (c)-[u:USED|LOGGED_IN_FROM]->() WHERE {lo} <= u.at <= {hi} "
        f"OPTIONAL MATCH p = (c)-[:OWNS]->(:Account)-[:SENT]->(t:Transaction) "
        f"WHERE {lo} <= t.created_at <= {hi} "
        "RETURN c, l, p"
    )


def card_activity(card_id: int | str, since_ms: int, until_ms: int) -> str:
    """A card's payments in a window, with merchants, devices and IPs."""
    card, lo, hi = int(card_id), int(since_ms), int(until_ms)
    return (
        f"MATCH p = (t:Transaction)-[:WITH_CARD]->(:Card {{card_id: {card}}}) "
        f"WHERE {lo} <= t.created_at <= {hi} "
        "OPTIONAL MATCH q = (t)-[:AT_MERCHANT|FROM_DEVICE|FROM_IP]->() RETURN p, q"
    )
