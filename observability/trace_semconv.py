"""Span and attribute names: OpenTelemetry semantic conventions plus fraudgraph's own.

The names that make the spans readable by any OpenTelemetry backend follow the
messaging (Kafka), database and HTTP client conventions; `fraudgraph.*` attributes
carry what those do not cover (source table, primary key, LSN, commit time). The
writers (stream/, alerts/) and the reader (`fraudgraph trace`) share them here.

Never put a PII value in an attribute: primary keys are surrogate ids, and rows'
contents stay out of spans altogether.
"""

from __future__ import annotations

# messaging (https://opentelemetry.io/docs/specs/semconv/messaging/kafka/)
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_PARTITION = "messaging.destination.partition.id"
MESSAGING_CONSUMER_GROUP = "messaging.consumer.group.name"
MESSAGING_BATCH_COUNT = "messaging.batch.message_count"
KAFKA_OFFSET = "messaging.kafka.offset"
KAFKA_KEY = "messaging.kafka.message.key"
KAFKA_TIMESTAMP_MS = "fraudgraph.kafka.timestamp_ms"  # the record's CreateTime

# database (https://opentelemetry.io/docs/specs/semconv/database/)
DB_SYSTEM = "db.system.name"
DB_OPERATION = "db.operation.name"
DB_BATCH_SIZE = "db.operation.batch.size"

# HTTP client (https://opentelemetry.io/docs/specs/semconv/http/http-spans/)
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
HTTP_RESEND_COUNT = "http.request.resend_count"
URL_FULL = "url.full"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# fraudgraph
TABLE = "fraudgraph.source.table"
OP = "fraudgraph.source.op"
ROW_KEY = "fraudgraph.source.key"  # the primary key value(s), e.g. "42" or "a=1,b=2"
LSN = "fraudgraph.source.lsn"
COMMIT_MS = "fraudgraph.source.commit_ms"  # ts_ms of Debezium's source block
DEAD_LETTER_REASON = "fraudgraph.deadletter.reason"
ALERT_ID = "fraudgraph.alert.id"
ALERT_RULE = "fraudgraph.alert.rule"
ALERT_TXN_IDS = "fraudgraph.alert.txn_ids"
ALERT_SHADOW = "fraudgraph.alert.shadow"
DETECTOR = "fraudgraph.detector"
EVENTS = "fraudgraph.detection.events"
ALERTS = "fraudgraph.detection.alerts"
# Round trips to Neo4j the batch's judgement made for history the cache did not hold,
# and the entities they asked for.
GRAPH_READS = "fraudgraph.detection.graph_reads"
GRAPH_READ_KEYS = "fraudgraph.detection.graph_read_keys"
WEBHOOK_ENDPOINT = "fraudgraph.webhook.endpoint"
WEBHOOK_OUTCOME = "fraudgraph.webhook.outcome"

# span names (messaging: "{operation} {destination}")
PROCESS = "process"
SEND = "send"
DECODE = "decode"
GRAPH_WRITE = "graph write"
DETECT = "detect"
RECHECK = "detect again"  # a shared group's second judgement of earlier batches
BATCH = "worker batch"
DEBEZIUM_COMMIT = "db-log-write"  # ActivateTracingSpan's span, started at the commit
DEBEZIUM_READ = "debezium-read"  # ActivateTracingSpan's span, started when Debezium read it
