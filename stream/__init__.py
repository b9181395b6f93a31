"""The stream processor: the only place that knows Faust. It wires decoding, graph
writes and dead letters together, and owns batching, retries and offsets."""
