"""The history questions answered by Neo4j: what the worker's detectors read.

Every question is one parameterised, read-only statement over a list of ids
(`UNWIND $ids`), so a batch pays one round trip per question. Labels and
relationship types are fixed here (identity labels from a closed list), never taken
from data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any

import neo4j
from neo4j.exceptions import DriverError, Neo4jError, ServiceUnavailable, SessionExpired

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
from fraudgraph.graph.errors import GraphQueryError, GraphUnavailableError

IDENTITY_LINKS = {
    "Email": "HAS_EMAIL",
    "Phone": "HAS_PHONE",
    "NationalId": "HAS_NATIONAL_ID",
    "Address": "HAS_ADDRESS",
}
# A shared identity node with more holders than this is a data problem (a default
# phone number, a bank's own address), not a ring: detectors get the first ones.
MAX_HOLDERS = 500

ACCOUNTS = """
UNWIND $ids AS id
MATCH (a:Account {account_id: id})
OPTIONAL MATCH (c:Customer)-[:OWNS]->(a)
RETURN id, c.customer_id AS customer_id, a.kind AS kind, a.status AS status,
       a.currency AS currency, a.opened_at AS opened_at
"""
CUSTOMERS = """
UNWIND $ids AS id
MATCH (c:Customer {customer_id: id})
OPTIONAL MATCH (c)-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS]->(i)
RETURN id, c.created_at AS created_at, c.updated_at AS updated_at, c.country AS country,
       c.city AS city, c.change_times AS change_times,
       collect([labels(i)[0], i.hash]) AS identities
"""
MERCHANTS = """
UNWIND $ids AS id
MATCH (m:Merchant {merchant_id: id})
RETURN id, m.mcc AS mcc, m.country AS country
"""
ACCOUNTS_OF = """
UNWIND $ids AS id
MATCH (:Customer {customer_id: id})-[:OWNS]->(a:Account)
RETURN id, collect(a.account_id) AS accounts
"""


def _payments_in_window(pattern: str) -> str:
    """Payments `t` reached by `pattern` from each id, created inside [since, until]."""
    return (
        f"UNWIND $ids AS id MATCH {pattern} "
        "WHERE $since <= t.created_at <= $until RETURN id, t {.*} AS t"
    )


SENT = _payments_in_window("(:Account {account_id: id})-[:SENT]->(t:Transaction)")
RECEIVED = _payments_in_window("(t:Transaction)-[:TO_ACCOUNT]->(:Account {account_id: id})")
CARD_TXNS = _payments_in_window("(t:Transaction)-[:WITH_CARD]->(:Card {card_id: id})")
DEVICE_TXNS = _payments_in_window("(t:Transaction)-[:FROM_DEVICE]->(:Device {device_id: id})")
LOGINS = """
UNWIND $ids AS id
MATCH (c:Customer {customer_id: id})-[r:LOGGED_IN_FROM]->(ip:IP)
WHERE $since <= r.at <= $until
OPTIONAL MATCH (c)-[:USED {login_id: r.login_id}]->(d:Device)
RETURN id, r.login_id AS login_id, d.device_id AS device_id, ip.address AS ip,
       r.success AS success, r.at AS at
"""
REPORTS = """
CALL () {
  MATCH (r:FraudReport)-[:REPORTS]->(c:Customer) WHERE c.customer_id IN $customers RETURN r
  UNION
  MATCH (r:FraudReport)-[:REPORTS]->(a:Account) WHERE a.account_id IN $accounts RETURN r
}
OPTIONAL MATCH (r)-[:REPORTS]->(c:Customer)
OPTIONAL MATCH (r)-[:REPORTS]->(a:Account)
OPTIONAL MATCH (r)-[:REPORTS]->(t:Transaction)
RETURN r.report_id AS report_id, r.kind AS kind, r.reported_at AS reported_at,
       c.customer_id AS customer_id, a.account_id AS account_id, t.txn_id AS txn_id
"""


def _sharing_statement(label: str) -> str:
    link = IDENTITY_LINKS[label]  # KeyError for anything outside the closed list
    return (
        f"UNWIND $hashes AS h MATCH (:{label} {{hash: h}})<-[:{link}]-(c:Customer) "
        f"RETURN h, collect(c.customer_id)[..{MAX_HOLDERS}] AS holders"
    )


def _txn(p: Mapping[str, Any]) -> Txn:
    return Txn(
        txn_id=p["txn_id"],
        account_id=p["account_id"],
        channel=p["channel"],
        amount=p["amount"],
        currency=p["currency"],
        status=p["status"],
        at=p["created_at"],
        counterparty_account_id=p.get("counterparty_account_id"),
        counterparty_hash=p.get("counterparty_hash"),
        merchant_id=p.get("merchant_id"),
        card_id=p.get("card_id"),
        device_id=p.get("device_id"),
        ip=p.get("ip_address"),
        latitude=p.get("latitude"),
        longitude=p.get("longitude"),
    )


class GraphHistory:
    def __init__(self, driver: neo4j.Driver, database: str = "neo4j") -> None:
        self.driver = driver
        self.database = database

    def _read(self, query: str, **params: Any) -> list[neo4j.Record]:
        try:
            records, _, _ = self.driver.execute_query(
                query, params, database_=self.database, routing_=neo4j.RoutingControl.READ
            )
        except (ServiceUnavailable, SessionExpired) as error:
            raise GraphUnavailableError(f"Neo4j unavailable: {error}") from error
        except Neo4jError as error:
            if (error.code or "").startswith("Neo.TransientError"):
                raise GraphUnavailableError(f"Neo4j busy: {error.message}") from error
            raise GraphQueryError(f"Neo4j refused a detection query: {error.message}") from error
        except DriverError as error:
            raise GraphUnavailableError(f"Neo4j driver error: {error}") from error
        return records

    def accounts(self, ids: Collection[int]) -> Mapping[int, AccountInfo]:
        return {
            r["id"]: AccountInfo(
                r["id"], r["customer_id"], r["kind"], r["status"], r["currency"], r["opened_at"]
            )
            for r in self._read(ACCOUNTS, ids=list(ids))
        }

    def customers(self, ids: Collection[int]) -> Mapping[int, CustomerInfo]:
        found = {}
        for r in self._read(CUSTOMERS, ids=list(ids)):
            identities = tuple(
                sorted(
                    (label, digest)
                    for label, digest in r["identities"]
                    if label in IDENTITY_LABELS and digest is not None
                )
            )
            updated_at = r["updated_at"]
            # A node written before the graph kept history has only `updated_at`.
            times = r["change_times"] or ([updated_at] if updated_at is not None else [])
            found[r["id"]] = CustomerInfo(
                r["id"],
                r["created_at"],
                updated_at,
                r["country"],
                r["city"],
                identities,
                tuple(sorted(times)),
            )
        return found

    def merchants(self, ids: Collection[int]) -> Mapping[int, MerchantInfo]:
        return {
            r["id"]: MerchantInfo(r["id"], r["mcc"], r["country"])
            for r in self._read(MERCHANTS, ids=list(ids))
        }

    def accounts_of(self, customer_ids: Collection[int]) -> Mapping[int, list[int]]:
        return {
            r["id"]: sorted(r["accounts"]) for r in self._read(ACCOUNTS_OF, ids=list(customer_ids))
        }

    def customers_sharing(
        self, identities: Collection[IdentityKey]
    ) -> Mapping[IdentityKey, list[int]]:
        by_label: dict[str, list[str]] = defaultdict(list)
        for label, digest in identities:
            if label in IDENTITY_LINKS:
                by_label[label].append(digest)
        found: dict[IdentityKey, list[int]] = {}
        for label, hashes in by_label.items():
            for r in self._read(_sharing_statement(label), hashes=hashes):
                found[(label, r["h"])] = sorted(r["holders"])
        return found

    def _txns(
        self, query: str, ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        found: dict[int, list[Txn]] = defaultdict(list)
        for r in self._read(query, ids=list(ids), since=since, until=until):
            found[r["id"]].append(_txn(r["t"]))
        return found

    def sent(self, account_ids: Collection[int], since: int, until: int) -> Mapping[int, list[Txn]]:
        return self._txns(SENT, account_ids, since, until)

    def received(
        self, account_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        return self._txns(RECEIVED, account_ids, since, until)

    def card_txns(
        self, card_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        return self._txns(CARD_TXNS, card_ids, since, until)

    def device_txns(
        self, device_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        return self._txns(DEVICE_TXNS, device_ids, since, until)

    def logins(
        self, customer_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Login]]:
        found: dict[int, list[Login]] = defaultdict(list)
        for r in self._read(LOGINS, ids=list(customer_ids), since=since, until=until):
            found[r["id"]].append(
                Login(r["login_id"], r["id"], r["device_id"], r["ip"], bool(r["success"]), r["at"])
            )
        return found

    def reports(self, customer_ids: Collection[int], account_ids: Collection[int]) -> list[Report]:
        records = self._read(REPORTS, customers=list(customer_ids), accounts=list(account_ids))
        return [
            Report(
                r["report_id"],
                r["kind"],
                r["reported_at"],
                r["customer_id"],
                r["account_id"],
                r["txn_id"],
            )
            for r in records
            if r["report_id"] is not None and r["reported_at"] is not None
        ]
