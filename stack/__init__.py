"""The native service launcher: PostgreSQL, Kafka, Kafka Connect and Neo4j as plain processes.

Our machines have no Docker engine, so the real services are assembled from
Debian packages and Maven Central and run under a git-ignored state folder.
"""
