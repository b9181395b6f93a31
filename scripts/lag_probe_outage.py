"""Do lag probes survive a broker restart? A reproduction, not a test (it stops Kafka).

Six child processes loop over `LagProbe.measure()` and `partition_counts()` while the
native stack's Kafka is stopped for 45 s and started again; each child's exit code is
printed (-11: SIGSEGV, -6: abort). With the AdminClient-based probe one child in six
died (confluentinc/librdkafka#4605); with the Consumer-based one none did.

    eval "$(.venv/bin/fraudgraph stack env)" && .venv/bin/python scripts/lag_probe_outage.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from fraudgraph.graph.mapping import default_mapping
from fraudgraph.observability.lag import LagProbe, LagUnavailableError
from fraudgraph.settings import Settings
from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.manager import Stack
from fraudgraph.stream.topics import cdc_topics

TIMEOUTS_S = ("1", "2", "5", "1", "2", "5")
RUN_S = 110.0
OUTAGE_S = 45.0


def probe_loop(seconds: float, timeout_s: float) -> None:
    settings = Settings()
    topics = cdc_topics(settings, default_mapping())
    probe = LagProbe(settings.kafka_bootstrap, settings.worker_group, topics, timeout_s)
    measured = failed = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            probe.measure()
            probe.partition_counts()
            measured += 1
        except LagUnavailableError:
            failed += 1
        time.sleep(0.2)
    print(f"measured {measured}, unavailable {failed}")


def main() -> None:
    stack = Stack(StackConfig())
    environment = dict(os.environ) | Settings().as_environment()
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", str(RUN_S), timeout],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for timeout in TIMEOUTS_S
    ]
    time.sleep(10)
    kafka = stack.service("kafka")
    kafka.process.stop(timeout=kafka.stop_timeout_s)
    print(f"kafka stopped for {OUTAGE_S:g}s", flush=True)
    time.sleep(OUTAGE_S)
    stack.up(["kafka"])
    print("kafka started", flush=True)
    for child, timeout in zip(children, TIMEOUTS_S, strict=True):
        output, _ = child.communicate()
        last = output.strip().splitlines()[-1:] or ["(no output)"]
        print(f"timeout {timeout}s: exit {child.returncode}; {last[0]}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        probe_loop(float(sys.argv[2]), float(sys.argv[3]))
    else:
        main()
