"""The Neo4j side: the table -> graph mapping, Cypher, constraints and batched writes.

Nothing here knows Kafka or Faust: it takes decoded row changes and makes the
graph match them, idempotently.
"""
