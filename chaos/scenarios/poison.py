"""Hostile rows in the source tables and poison records straight on the CDC topics."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fraudgraph.chaos.observe import merchant_names
from fraudgraph.chaos.scenarios.base import Scenario

if TYPE_CHECKING:
    from fraudgraph.chaos.harness import ChaosRun


class Poison(Scenario):
    name = "poison"
    default_outage_s = 20.0  # between the two waves of poison

    def describe(self, outage_s: float) -> str:
        return (
            "hostile rows in the source tables and malformed/unknown/ill-typed records on "
            f"the CDC topics, twice, {outage_s:g}s apart"
        )

    def inject(self, run: ChaosRun, outage_s: float) -> None:
        run.inject_source_poison()
        run.inject_topic_poison()
        run.pause(outage_s)
        run.inject_source_poison()
        run.inject_topic_poison()
        run.cleared()

    def check(self, run: ChaosRun) -> dict[str, Any]:
        """The hostile values arrived intact; logs stayed one JSON object per line."""
        problems: list[str] = []
        for rows in run.injected_source_poison:
            stored = merchant_names(run.driver, list(rows.merchants))
            for merchant_id, name in rows.merchants.items():
                if stored.get(merchant_id) != name:
                    problems.append(f"merchant {merchant_id}: name not stored as written")
        log_problems = [
            f"{child.name}: {problem}"
            for child in run.supervisor.children.values()
            if child.name.startswith("worker-")
            for problem in log_line_problems(child.output())
        ]
        records, _, _ = run.driver.execute_query("MATCH (n) RETURN count(n) AS n")
        return {
            "hostile_merchants_checked": sum(len(r.merchants) for r in run.injected_source_poison),
            "graph_nodes_after": records[0]["n"],
            "poison_problems": problems,
            "log_problems": log_problems[:10],
        }


def log_line_problems(text: str) -> list[str]:
    """Injected text must never begin a log line of its own nor put a raw escape on it."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "\x1b" in line:
            problems.append(f"line {number}: raw ANSI escape")
        if "FAKE-LOG-ENTRY" in line:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                problems.append(f"line {number}: injected text outside a JSON record")
                continue
            if record.get("event") == "FAKE-LOG-ENTRY":
                problems.append(f"line {number}: a forged log record")
    return problems
