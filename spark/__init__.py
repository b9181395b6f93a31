"""The same analytics as the stream, on Apache Spark: backfill, features, rings, alerts.

`fraudgraph spark …` runs locally (`local[2]`) and unchanged on a cluster
(`--master spark://…`, YARN or Kubernetes). See spark/README.md.
"""
