"""Every table the commands print stays whole in an 80-column log.

Output that is not a terminal (a CI log, `make demo | tee`) is 80 columns wide, and
rich fits a wider table by cutting headers and cells to `…`. Each table is rendered
here with the longest realistic values into 80 columns: no line is wider, nothing is
cut, and every value is there in full (wrapped or folded over lines at worst). On a
wide console the full layout is still the one printed.
"""

from __future__ import annotations

import io
import re
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Column, Table

from fraudgraph.bench.report import figures_table
from fraudgraph.connectors.apply import ConnectorState
from fraudgraph.connectors.cli import connectors_table
from fraudgraph.demo import Arrival, change_events_table, step_times_table
from fraudgraph.demo_alerts import _row, _view
from fraudgraph.demo_graph import LABELS, graph_table
from fraudgraph.detection.clusters import Ring, rings_table
from fraudgraph.detection.quality import VARIANTS, matrix_caption
from fraudgraph.evaluation.cli import report_table
from fraudgraph.evaluation.matrix import (
    ALL_LOOKALIKES,
    Matrix,
    ablation_table,
    build_matrix,
    matrix_table,
)
from fraudgraph.evaluation.scoring import DelayStats, LookalikeScore, Report, Score
from fraudgraph.observability.trace_cli import summary_table
from fraudgraph.simulator.cli import bulk_tables, live_table
from fraudgraph.simulator.families.amlsim import TYPOLOGIES as AMLSIM_TYPOLOGIES
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.live import LiveOptions, LiveStats
from fraudgraph.simulator.loader import CopyStats
from fraudgraph.simulator.options import make_options
from fraudgraph.simulator.rows import TABLE_ORDER
from fraudgraph.simulator.typologies import TYPOLOGIES
from fraudgraph.stack.cli import status_table
from fraudgraph.stack.service import ServiceStatus
from fraudgraph.tables import Fitting

LOG = 80
WIDE = 200
STATE = "/home/runner/work/fraudgraph/fraudgraph/.state"  # a CI checkout's state dir


def render(renderable: RenderableType, width: int = LOG) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    # crop=False: a line too wide must show as too wide, not be cut at the edge unseen.
    console.print(renderable, crop=False)
    return console.export_text()


# The rule under a table's header: boxed (┡━━╇━━┩) or compact (──── ───, a break
# between columns). Each run of rule characters is one column, padding included.
HEADER_RULE = re.compile(r"^┡[━╇]*┩$|^[─ ]*─[─ ]*$")


def columns(text: str) -> list[str]:
    """The text of each column of each table in `text`, top to bottom, whitespace
    removed: a value wrapped or folded over several lines of its cell reads whole."""
    found = []
    lines = text.splitlines()
    for at, line in enumerate(lines):
        if not HEADER_RULE.match(line.rstrip()):
            continue
        body = []
        for following in lines[at + 1 :]:
            if not following.strip() or following.startswith("└"):
                break
            body.append(following)
        for rule in re.finditer(r"[━─]+", line):
            start, end = rule.span()
            found.append("".join("".join(row[start:end].split()) for row in body))
    return found


def assert_readable(text: str, *values: str, width: int = LOG) -> None:
    """No line wider than `width`, no `…`, and each value whole: on one line as it
    is, or in one column once the line breaks of its cell are taken out."""
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    assert "…" not in text, text
    cells = columns(text)
    missing = [
        v for v in values if v not in text and not any("".join(v.split()) in c for c in cells)
    ]
    assert not missing, f"not whole: {missing}\n{text}"


# -- the helpers themselves ----------------------------------------------------------


def test_columns_rejoins_a_folded_cell_and_keeps_columns_apart() -> None:
    table = Table("name", Column("path", overflow="fold"))
    table.add_row("alert-receiver", "/a/very/long/path/" * 5)
    text = render(table, width=40)
    assert "/a/very/long/path/" * 5 not in text  # folded over lines ...
    assert columns(text) == ["alert-receiver", "/a/very/long/path/" * 5]  # ... and rejoined
    assert_readable(text, "alert-receiver", "/a/very/long/path/" * 5, width=40)


def test_assert_readable_catches_a_cut_cell() -> None:
    table = Table("topic", "partition@offset", "key", "after")
    table.add_row("bank.bank.fraud_reports", "0@1234567", '{"report_id":1}', '{"kind":"x"}' * 3)
    with pytest.raises(AssertionError, match="…"):  # rich's own squeeze: `bank.bank.f…`
        assert_readable(render(table, width=40), "bank.bank.fraud_reports")
    cropped = Table("topic", Column("error", no_wrap=True, overflow="crop"))
    cropped.add_row("bank.bank.fraud_reports", TRACE)
    with pytest.raises(AssertionError, match="not whole"):  # cut with no `…` to show it
        assert_readable(render(cropped), TRACE.splitlines()[0])


def test_fitting_takes_the_first_layout_that_fits_where_it_is_printed() -> None:
    wide, narrow = Table("a" * 100), Table("b" * 10)
    assert "aaa" in render(Fitting(wide, narrow), width=WIDE)
    assert "aaa" not in render(Fitting(wide, narrow), width=LOG)
    # Indented by 150 on a 200 console there are 50 left: chosen when printed, the
    # narrow layout is the one used.
    indented = render(Padding(Fitting(wide, narrow), (0, 0, 0, 150)), width=WIDE)
    assert "bbb" in indented and "aaa" not in indented
    # Nothing fits: the last layout, which is the most compact.
    assert "a" not in render(Fitting(wide, narrow), width=10)


# -- `fraudgraph eval`, `analyze replay`, the demo's quality table ---------------------


def figures(name: str, labelled: int, false_positives: int) -> Score:
    """A typology's row at its widest: five-digit counts, 100.0%, a delay in hours."""
    return Score(
        name=name,
        labelled=labelled,
        predicted=labelled + false_positives - 3,
        true_positives=labelled - 3,
        false_positives=false_positives,
        detected=labelled - 3,
        precision=0.987,
        recall=1.0,
        f1=0.993,
        rings=120,
        rings_detected=118,
        ring_recall=118 / 120,
        delay=DelayStats(118, -5400.0, -5000.0, 60.0, -7300.0, 7300.0),
    )


def quality_report() -> Report:
    typologies = tuple(figures(name, 1234, 123) for name in TYPOLOGIES)
    return Report(
        entity_types=("customer", "account"),
        alerts=23456,
        unique_alerts=23000,
        duplicate_alerts=456,
        unmapped_alerts=0,
        named_entities=12345,
        unknown_entities=12,
        overall=figures("overall", 12345, 1234),
        typologies=typologies,
    )


def test_quality_report_in_80_columns_is_compact_and_whole() -> None:
    text = render(report_table(quality_report()))
    assert_readable(text, *TYPOLOGIES, "overall", "12345", "98.7%", "100.0%", "118/120", "-90m")
    for name in TYPOLOGIES:  # a name to look up: on one line, never folded
        assert re.search(rf"^{name} ", text, re.MULTILINE), name
    assert re.search(r"\bP\b.*\bR\b.*\bF1\b", text)  # short headers ...
    assert "P precision; R recall" in text  # ... that the legend spells out
    assert "attributed" not in text and "ring recall" not in text  # dropped, derivable


def test_quality_report_on_a_wide_console_keeps_every_column() -> None:
    text = render(report_table(quality_report()), width=WIDE)
    assert_readable(text, *TYPOLOGIES, width=WIDE)
    for header in ("labelled", "attributed", "precision", "recall", "ring recall"):
        assert header in text
    assert "median delay" in text and "98.3%" in text


def test_quality_report_with_no_rule_for_a_typology_shows_dashes() -> None:
    unmapped = Score(
        "impossible_travel", 8, None, None, None, 0, None, 0.0, None, 2, 0, 0.0,
        DelayStats(0, None, None, None, None, None),
    )  # fmt: skip
    report = Report(("customer",), 0, 0, 0, 0, 0, 0, unmapped, (unmapped,))
    text = render(report_table(report))
    assert_readable(text, "impossible_travel", "0.0%", "0/2")
    assert re.search(r"impossible_travel +8 +- +- +- +0\.0% +- +0/2 +-", text)


def quality_matrix() -> Matrix:
    """Both families' typologies at their widest figures, plus look-alike rows."""
    classic = quality_report()
    amlsim_names = sorted(AMLSIM_TYPOLOGIES)
    amlsim = Report(
        ("customer", "account"), 0, 0, 0, 0, 0, 0,
        figures("overall", 12345, 1234),
        tuple(figures(n, 1234, 123) for n in amlsim_names if not n.startswith("lookalike")),
        tuple(
            LookalikeScore(n, 12345, 1234, 0.1)
            for n in [*(n for n in amlsim_names if n.startswith("lookalike")), ALL_LOOKALIKES]
        ),
    )  # fmt: skip
    return build_matrix(
        {"classic": [classic, classic], "amlsim": [amlsim]},
        header="test seeds scored: classic 1001-1005, amlsim 2001-2005",
        caption=matrix_caption(None),
    )


def test_quality_matrix_in_80_columns_is_whole() -> None:
    matrix = quality_matrix()
    text = render(matrix_table(matrix))
    # Pooled from the counts (1231 of 1354 attributed), not the Score's own 98.7%.
    assert_readable(text, *matrix.rows, "classic", "amlsim", "90.9%", "99.8%", "10.0%")
    for row in matrix.rows:  # a name to look up: on one line, never folded
        assert re.search(rf"^{row} ", text, re.MULTILINE), row
    assert re.search(r"\bP\b.*\bR\b.*\bF1\b.*\bP\b.*\bR\b.*\bF1\b", text)
    legend = " ".join(text.split())  # the caption wraps at the table's width
    assert "in-family" in legend and "P precision, R recall" in legend


def test_quality_matrix_on_a_wide_console_adds_labelled_counts() -> None:
    text = render(matrix_table(quality_matrix()), width=WIDE)
    assert_readable(text, "24690", "12345", width=WIDE)  # classic pooled over two banks
    assert "n labelled entities" in " ".join(text.split())


def test_ablation_in_80_columns_names_every_variant_and_family() -> None:
    variants = {name: quality_matrix() for name in VARIANTS}
    text = render(ablation_table(variants))
    assert_readable(text, *VARIANTS, "classic", "amlsim", "10.0%")
    for name in VARIANTS:  # each variant on one line with its figures
        assert re.search(rf"^{re.escape(name)} +\S+%", text, re.MULTILINE), name


# -- `fraudgraph analyze clusters` ---------------------------------------------------------


def rings() -> list[Ring]:
    big = tuple(range(1_000_001, 1_000_012))  # 11 members, 8 shown
    return [
        Ring(big, 12345, 0.67, 45, 12, 3, 1_234_567.89, big[:3], 0.93),
        Ring((5, 6, 7), 3, 1.0, 3, 0, 0, 0.0, (), 0.71),
    ]


def test_rings_in_80_columns_keep_headers_and_members_whole() -> None:
    text = render(rings_table(rings()))
    shown = ", ".join(str(m) for m in range(1_000_001, 1_000_009))
    assert_readable(text, shown + " +3", "1,234,567.89", "12345", "5, 6, 7")
    assert "1000009" not in text  # beyond the eight shown: counted by "+3"
    assert "comp. customers in its connected component" in text


def test_rings_on_a_wide_console_keep_full_headers() -> None:
    text = render(rings_table(rings()), width=WIDE)
    assert_readable(text, width=WIDE)
    for header in ("component", "density", "device", "reported"):
        assert header in text


# -- `fraudgraph bench …` --------------------------------------------------------------


def test_bench_figures_fold_long_names_and_paths_whole() -> None:
    latency = {"p50_ms": 231.0, "p99_ms": 1048.2, "hops": {"debezium read → kafka": 12}}
    delay = {"median": 12.5, "p90": 1234.5}
    measured = {
        "customers": 10_000,
        "report": {"typologies": {"synthetic_identity": {"detection_delay_seconds": delay}}},
        "1000_tx_s": latency,
        "worker_log": f"{STATE}/bench/latency-2024-05-01T10-00-00/worker.log",
        "reproduce": f"fraudgraph eval --labels {STATE}/bench/labels.jsonl --topic bank.alerts",
    }
    text = render(figures_table("quality", measured))
    assert_readable(
        text,
        "report.typologies.synthetic_identity.detection_delay_seconds.median",
        "12.5",
        "1000_tx_s.hops.debezium read → kafka",
        "1,048.2",
        measured["worker_log"],
        measured["reproduce"],
    )


# -- `fraudgraph stack status` -------------------------------------------------------------


def services() -> list[ServiceStatus]:
    return [
        ServiceStatus(
            "postgres",
            1234567,
            (5432,),
            True,
            69.0,
            f"db=bank user=fraudgraph (password: {STATE}/secrets.json)",
        ),
        ServiceStatus("kafka", 1234568, (9092, 9093), True, 1361.0, "bootstrap 127.0.0.1:9092"),
        ServiceStatus(
            "connect",
            1234569,
            (8083, 9404),
            False,
            204.0,
            "REST http://127.0.0.1:8083, JMX metrics :9404",
        ),
        ServiceStatus(
            "alert-receiver",
            None,
            (9110,),
            False,
            0.0,
            f"http://127.0.0.1:9110/alertmanager  -> {STATE}/alert-receiver/received.jsonl",
        ),
        ServiceStatus("exporter", 1234570, (9111,), True, 41.0, ""),
    ]


def test_stack_status_in_80_columns_lists_details_under_the_table() -> None:
    text = render(status_table(services()))
    rows = services()
    assert_readable(
        text, *(s.name for s in rows), *(s.detail for s in rows if s.detail), "1234567", "1361 MB"
    )
    assert "unhealthy" in text and "stopped" in text
    table, details = text.split("└", 1)
    assert "detail" not in table and "secrets.json" in details


def test_stack_status_on_a_wide_console_is_one_table() -> None:
    text = render(status_table(services()), width=WIDE)
    assert_readable(text, *(s.detail for s in services() if s.detail), width=WIDE)
    assert text.count("┏") == 1 and "detail" in text


# -- `fraudgraph connectors status` ---------------------------------------------------------


TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the "
    "change event producer. This connector will be stopped.\n\tat io.debezium.Pipeline"
)


def test_connectors_in_80_columns_give_the_error_its_own_lines() -> None:
    states = [
        ConnectorState("bank-postgres", "FAILED", ((0, "FAILED"),), "127.0.0.1:8083", TRACE),
        ConnectorState(
            "bank-postgres-replica", "UNASSIGNED", ((0, "RUNNING"), (1, "UNASSIGNED")), "-"
        ),
    ]
    text = render(connectors_table(states))
    assert_readable(text, TRACE.splitlines()[0], "bank-postgres-replica", "1:UNASSIGNED")
    assert "io.debezium.Pipeline" not in text  # the first line of the trace only


def test_connectors_without_errors_stay_one_table_in_80_columns() -> None:
    running = ConnectorState("bank-postgres", "RUNNING", ((0, "RUNNING"),), "127.0.0.1:8083")
    text = render(connectors_table([running]))
    assert_readable(text, "bank-postgres", "0:RUNNING", "127.0.0.1:8083")
    assert "error" in text  # the full layout: its error column, empty, costs 8 characters


# -- `fraudgraph demo` -------------------------------------------------------------------


def arrivals() -> list[Arrival]:
    row = 1_518_273_645
    payment = {"status": "reversed", "amount": "250.00"}
    return [
        Arrival(1.037, "bank.bank.customers", 0, 1234567, {"customer_id": row},
                {"op": "c", "after": {"country": "GB", "full_name": "Demo Customer"}}),
        Arrival(1.040, "bank.bank.accounts", 2, 1234567, {"account_id": row},
                {"op": "c", "after": {"kind": "checking"}}),
        Arrival(2.234, "bank.bank.transactions", 11, 12345678, {"txn_id": row},
                {"op": "u", "after": payment}),
        Arrival(12.5, "bank.bank.fraud_reports", 11, 12345678, {"report_id": row},
                {"op": "c", "after": {"kind": "account_takeover"}}),
    ]  # fmt: skip


def test_change_events_in_80_columns_keep_topics_on_one_line() -> None:
    text = render(change_events_table(arrivals(), committed=1.0))
    assert_readable(
        text,
        '{"customer_id": 1518273645}',
        '{"status": "reversed", "amount": "250.00"}',
        '{"kind": "account_takeover"}',
        "11@12345678",
        "11500 ms",
    )
    for topic in ("customers", "accounts", "transactions", "fraud_reports"):
        assert f"bank.bank.{topic} " in text  # whole, on one line
    assert "Demo Customer" not in text  # only the fields the demo picks


def test_change_events_on_a_wide_console_are_one_line_each() -> None:
    text = render(change_events_table(arrivals(), committed=1.0), width=WIDE)
    assert_readable(text, width=WIDE)
    assert "partition@offset" in text
    assert re.search(
        r"bank\.bank\.transactions +│ 11@12345678 +│ u +│ \{\"txn_id\":1518273645\}", text
    )


def test_the_demo_step_times_fit_and_add_up() -> None:
    timings = [("the bank", 41.25), ("the stream worker", 0.5), ("live alerts", 61.0)]
    text = render(step_times_table(timings))
    assert_readable(text, "the stream worker", "41.2", "0.5", "61.0", "102.8")
    assert re.search(r"total +│ +102\.8", text)


def test_the_graph_table_fits_as_it_is() -> None:
    text = render(graph_table(dict.fromkeys(LABELS, 12_345_678)))
    assert_readable(text, *LABELS, "12,345,678")


class _Message:
    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms

    def timestamp(self) -> tuple[int, int]:
        return 1, self.at_ms


def live_rows() -> deque[dict[str, Any]]:
    committed = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
    alert = {
        "rule": "shared_identifiers",
        "kind": "cluster",
        "severity": "critical",
        "score": 0.93,
        "source_committed_at": committed.isoformat(),
        "entities": [
            {"type": "customer", "id": "1518273645"},
            {"type": "account", "id": "1518273646"},
            {"type": "ip", "id": "2001:db8:85a3::8a2e:370:7334"},
            {"type": "device", "id": "1518273647"},
            {"type": "card", "id": "1518273648"},
        ],
    }
    late = int(committed.timestamp() * 1000) + 12_345
    travel = {**alert, "rule": "impossible_travel", "kind": "anomaly", "severity": "medium"}
    return deque([_row(alert, _Message(late)), _row(travel, _Message(late))])


def test_live_alerts_in_80_columns_drop_kind_and_keep_entities_whole() -> None:
    text = render(_view(live_rows(), {"alerts": 12345}, "worker catching up"))
    entities = "customer 1518273645, account 1518273646, ip 2001:db8:85a3::8a2e:370:7334 +2"
    assert_readable(text, "shared_identifiers", "impossible_travel", entities, "12,345 ms")
    assert "12,345 alerts (worker catching up)" in text
    assert "anomaly" not in text


def test_live_alerts_on_a_wide_console_show_kind() -> None:
    text = render(_view(live_rows(), {"alerts": 2}, "live"), width=WIDE)
    assert_readable(text, width=WIDE)
    assert "cluster" in text and "anomaly" in text


# -- `fraudgraph simulate` ------------------------------------------------------------


def test_simulator_summaries_fit_as_they_are() -> None:
    bank = generate(make_options(seed=1, customers=150, days=3))
    text = "".join(render(t) for t in bulk_tables(bank, CopyStats(12_345_678, 123.4)))
    assert_readable(text, *TABLE_ORDER, *TYPOLOGIES, "COPY (binary)", "100,046")
    stats = LiveStats(
        seconds=3600.0,
        inserted=Counter(dict.fromkeys(TABLE_ORDER, 12_345_678)),
        updated=Counter({"transactions": 1_234_567, "fraud_reports": 12}),
        deleted_logins=1234,
        batches=123_456,
        cases=1234,
        dropped_events=12,
    )
    text = render(live_table(stats, LiveOptions(rate=5000.0)))
    assert_readable(text, "inserted fraud_reports", "updated fraud_reports", "events not yet due")


# -- `fraudgraph trace --summary` -----------------------------------------------------------


def test_trace_summary_wraps_hop_names_rather_than_cutting_them() -> None:
    row = {"count": 123_456, "p50_ms": 12_345.6, "p95_ms": 123_456.7, "p99_ms": 123_456.7}
    row["max_ms"] = 1_234_567.8
    hops = {
        "commit → debezium read": row,
        "debezium read → kafka": row,
        "alert → webhook": row,
        "debezium read → webhook (total)": row,
    }
    text = render(summary_table({"transactions": 123_456, "hops": hops}))
    assert_readable(text, *hops, "1,234,567.8")
