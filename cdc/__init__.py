"""Debezium change events decoded into plain row changes: no Kafka, Faust or Neo4j here,
so the stream processor and the Spark jobs share one decoder."""
