// Saved queries for Neo4j Browser (http://127.0.0.1:7474/browser/). Load the style first
// (`:style`, then paste graph/fraudgraph.grass, or drag the file onto the Browser).
// Paste one query at a time, or add them to Browser's favourites. Queries that take a
// parameter say which: set it with `:param name => value` before running the query.
// Each query returns every node and relationship it promises, as lists (no LIMIT on
// rows, which would cut a neighbourhood short without a word); where a query is
// bounded, its comment says on what. Browser draws at most 300 nodes at first
// (its "Initial Node Display" setting) and says so when there are more.

// 1. A customer's neighbourhood: accounts, cards, devices and IPs it logged in from (one
//    relationship per login), its identifiers and the other customers sharing them.
//    One row; nothing cut. First:  :param customer_id => 1
MATCH (c:Customer {customer_id: $customer_id})
OPTIONAL MATCH owns = (c)-[:OWNS]->(a:Account)
OPTIONAL MATCH holds = (a)-[:HOLDS]->(:Card)
WITH c, collect(DISTINCT owns) + collect(holds) AS accounts
OPTIONAL MATCH login = (c)-[:USED|LOGGED_IN_FROM]->()
WITH c, accounts, collect(login) AS logins
OPTIONAL MATCH held = (c)-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS]->(i)
OPTIONAL MATCH shared = (i)<-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS]-(other:Customer)
  WHERE other <> c
RETURN c, accounts, logins, collect(DISTINCT held) + collect(shared) AS identities;

// 2. Devices used by more than two customers (shared-device rings): the 50 devices with
//    the most customers (one row each), each with every customer who logged in from it
//    and every such login.
MATCH (d:Device)<-[:USED]-(c:Customer)
WITH d, count(DISTINCT c) AS customers WHERE customers > 2
ORDER BY customers DESC, d.device_id
LIMIT 50
MATCH login = (d)<-[:USED]-(:Customer)
RETURN d, customers, collect(login) AS logins;

// 3. Identifiers (phones, e-mails, national ids, addresses) held by several customers:
//    the 100 held by the most (one row each), each with every customer holding it.
MATCH (i)<-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS]-(c:Customer)
WITH i, count(DISTINCT c) AS holders WHERE holders > 1
ORDER BY holders DESC, i.hash
LIMIT 100
MATCH held = (i)<-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS]-(:Customer)
RETURN i, holders, collect(held) AS holding;

// 4. Money paths: transfers A -> B -> C -> D within 24 hours, the second smaller than the
//    first (event time, epoch ms). The 25 accounts starting the largest such chains (one
//    row each), each with every chain it starts.
MATCH chain = (a:Account)-[t1:TRANSFERRED]->(:Account)-[t2:TRANSFERRED]->(:Account)
              -[t3:TRANSFERRED]->(:Account)
WHERE t1.at < t2.at < t3.at AND t3.at - t1.at < 24 * 3600 * 1000 AND t2.amount < t1.amount
WITH a, collect(chain) AS chains, max(t1.amount) AS largest
ORDER BY largest DESC, a.account_id
LIMIT 25
RETURN a, largest, chains;

// 5. Round-tripping: money that comes back to where it started through 3 to 6 different
//    accounts, each transfer later than the one before and no larger (money passed on,
//    not friends paying each other back). The 20 accounts starting the largest round
//    trips (one row each), each with every round trip it starts.
MATCH trip = (a:Account)-[:TRANSFERRED*3..6]->(a)
WHERE all(k IN range(1, length(trip) - 1)
          WHERE NOT nodes(trip)[k] IN nodes(trip)[0..k]
            AND relationships(trip)[k - 1].at < relationships(trip)[k].at
            AND relationships(trip)[k].amount <= relationships(trip)[k - 1].amount)
WITH a, collect(trip) AS trips, max(relationships(trip)[0].amount) AS largest
ORDER BY largest DESC, a.account_id
LIMIT 20
RETURN a, largest, trips;

// 6. Everything within two hops of confirmed fraud: the 10 latest confirmed-fraud reports
//    (one row each), each with what it reports, every neighbour of that and every
//    neighbour's neighbour, and every relationship of a neighbour. Nearest nodes first:
//    past its first 300, Browser draws the closest ones.
MATCH (r:FraudReport {kind: 'confirmed_fraud'})
WITH r ORDER BY r.reported_at DESC, r.report_id LIMIT 10
CALL (r) {
  MATCH (r)-[:REPORTS]->(x)
  MATCH (x)--(near)
  WITH collect(DISTINCT x) AS reported, collect(DISTINCT near) AS near
  UNWIND near AS one
  MATCH (one)-[rel]-(far)
  WITH reported, near, collect(DISTINCT far) AS far, collect(DISTINCT rel) AS relationships
  WITH reported, [n IN near WHERE NOT n IN reported] AS near, far, relationships
  RETURN reported + near + [n IN far WHERE NOT n IN reported AND NOT n IN near] AS nodes,
         relationships
}
RETURN r, nodes, relationships;
