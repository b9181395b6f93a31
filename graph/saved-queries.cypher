// Saved queries for Neo4j Browser (http://127.0.0.1:7474/browser/).
// Paste one, or add them to Browser's favourites. Replace the ids in $-free form.

// 1. A customer's neighbourhood: accounts, cards, devices, IPs and shared identifiers.
MATCH (c:Customer {customer_id: 1})
OPTIONAL MATCH p1 = (c)-[:OWNS]->(:Account)-[:HOLDS]->(:Card)
OPTIONAL MATCH p2 = (c)-[:USED|LOGGED_IN_FROM]->()
OPTIONAL MATCH p3 = (c)-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS]->()<-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS]-(:Customer)
RETURN c, p1, p2, p3 LIMIT 200;

// 2. Devices used by more than two customers (shared-device rings).
MATCH (d:Device)<-[:USED]-(c:Customer)
WITH d, collect(DISTINCT c) AS customers
WHERE size(customers) > 2
MATCH p = (d)<-[:USED]-(:Customer)
RETURN p LIMIT 300;

// 3. Identity attributes shared by several customers (phones, emails, national ids, addresses).
MATCH (i)<-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS]-(c:Customer)
WITH i, count(DISTINCT c) AS holders WHERE holders > 1
MATCH p = (i)<-[]-(:Customer)
RETURN p LIMIT 300;

// 4. Money paths: transfers A -> B -> C -> D within 24 hours (event time, epoch ms).
MATCH p = (a:Account)-[t1:TRANSFERRED]->(b:Account)-[t2:TRANSFERRED]->(c:Account)-[t3:TRANSFERRED]->(d:Account)
WHERE t1.at < t2.at < t3.at AND t3.at - t1.at < 24 * 3600 * 1000 AND t2.amount < t1.amount
RETURN p LIMIT 50;

// 5. Round-tripping: money that comes back to where it started.
MATCH p = (a:Account)-[:TRANSFERRED*3..6]->(a)
RETURN p LIMIT 20;

// 6. Everything within two hops of confirmed fraud.
MATCH (r:FraudReport {kind: 'confirmed_fraud'})-[:REPORTS]->(x)
MATCH p = (x)-[*1..2]-()
RETURN p LIMIT 300;
