"""The honest protocol: named seeds, the typology x generator matrix, `analyze replay --matrix`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fraudgraph.cli import app as main_app
from fraudgraph.detection.cli import app as analyze_app
from fraudgraph.detection.quality import replay_bank
from fraudgraph.detection.settings import load_detection_config
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, generator_of, load_rule_map
from fraudgraph.evaluation.errors import EvaluationError
from fraudgraph.evaluation.matrix import ALL_LOOKALIKES, OVERALL, Cell, build_matrix, pool
from fraudgraph.evaluation.scoring import DelayStats, LookalikeScore, Report, Score
from fraudgraph.evaluation.seeds import SEEDS, SPLITS, describe, parse_split, seeds_for
from fraudgraph.simulator.families import FAMILIES
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.labels import Label, write_labels
from fraudgraph.simulator.options import make_options

# -- seeds ------------------------------------------------------------------------------


def test_every_family_names_tuning_and_test_seeds() -> None:
    assert set(SEEDS) == set(FAMILIES)
    for family in FAMILIES:
        for split in SPLITS:
            assert seeds_for(family, split), (family, split)


def test_tuning_and_test_seeds_are_disjoint_within_and_across_families() -> None:
    for family, splits in SEEDS.items():
        assert not set(splits["tuning"]) & set(splits["test"]), family
    # Across families too: a seed fixes the population, whatever the family.
    everything = [seed for splits in SEEDS.values() for seeds in splits.values() for seed in seeds]
    assert len(everything) == len(set(everything))


def test_seed_helpers() -> None:
    assert describe([1003, 1001, 1002]) == "1001-1003"
    assert describe([1, 3]) == "1,3"
    assert parse_split("tuning") == "tuning"
    with pytest.raises(EvaluationError, match="--split"):
        parse_split("validation")


# -- the matrix from hand-made scores -------------------------------------------------------

NO_DELAY = DelayStats(0, None, None, None, None, None)


def figures(
    name: str, labelled: int, detected: int, predicted: int | None, tp: int | None
) -> Score:
    """A Score whose percentages are deliberately wrong: pooling must use the counts."""
    return Score(name, labelled, predicted, tp, None, detected, 0.5, 0.5, 0.5, 0, 0, None, NO_DELAY)


def report(
    scores: list[Score], overall: Score, lookalikes: tuple[LookalikeScore, ...] = ()
) -> Report:
    return Report(("customer", "account"), 0, 0, 0, 0, 0, 0, overall, tuple(scores), lookalikes)


def test_pool_sums_counts_over_seeds_instead_of_averaging_percentages() -> None:
    small = report([figures("cycle", 4, 4, 4, 4)], figures(OVERALL, 4, 4, 4, 4))
    large = report([figures("cycle", 96, 0, None, None)], figures(OVERALL, 96, 0, 10, 0))
    cells = pool([small, large])
    # Recall 4/100, not the mean of 100% and 0%; a seed where the rule never fired
    # (predicted None) adds nothing to the attributed entities.
    assert cells["cycle"] == Cell(100, 4, 4, 4)
    assert cells["cycle"].recall == pytest.approx(0.04)
    assert cells["cycle"].precision == 1.0
    assert cells["cycle"].f1 == pytest.approx(2 * 0.04 / 1.04)
    assert cells[OVERALL].precision == pytest.approx(4 / 14)


def test_a_typology_no_rule_claims_has_recall_but_no_precision() -> None:
    cells = pool([report([figures("stack", 10, 3, None, None)], figures(OVERALL, 10, 3, 3, 3))])
    assert cells["stack"].precision is None and cells["stack"].f1 is None
    assert cells["stack"].recall == pytest.approx(0.3)


def test_build_matrix_rows_columns_and_lookalikes() -> None:
    classic = report(
        [figures("cycle", 8, 8, 8, 8), figures("mule_chain", 10, 5, 6, 5)],
        figures(OVERALL, 18, 13, 14, 13),
    )
    amlsim = report(
        [figures("cycle", 30, 3, None, None), figures("fan_in", 20, 10, 40, 10)],
        figures(OVERALL, 50, 13, 60, 13),
        (
            LookalikeScore("lookalike_fan_in", 80, 8, 0.1),
            LookalikeScore(ALL_LOOKALIKES, 80, 8, 0.1),
        ),
    )
    matrix = build_matrix({"classic": [classic], "amlsim": [amlsim]}, header="h", caption="c")
    assert matrix.generators == ("classic", "amlsim")
    assert matrix.rows == (
        "cycle", "fan_in", "mule_chain", OVERALL, "lookalike_fan_in", ALL_LOOKALIKES,
    )  # fmt: skip
    assert matrix.cell("mule_chain", "amlsim") is None  # not an amlsim typology
    assert matrix.cell("cycle", "classic") == Cell(8, 8, 8, 8)
    fan_in = matrix.cell("fan_in", "amlsim")
    assert fan_in is not None and fan_in.precision == 0.25 and fan_in.recall == 0.5
    flagged = matrix.cell(ALL_LOOKALIKES, "amlsim")
    assert flagged is not None and flagged.lookalike
    assert flagged.recall == 0.1 and flagged.precision is None and flagged.f1 is None
    assert matrix.cell(ALL_LOOKALIKES, "classic") is None


# -- `fraudgraph analyze replay --matrix` on tiny banks ---------------------------------------


def test_analyze_replay_matrix_names_the_seeds_and_both_generators(tmp_path: Path) -> None:
    out = tmp_path / "matrix.json"
    result = CliRunner().invoke(
        analyze_app,
        ["replay", "--matrix", "--customers", "40", "--days", "2", "--json", str(out)],
        terminal_width=80,
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    header = text.splitlines()[0]
    for family in FAMILIES:
        test = describe(seeds_for(family, "test"))
        tuning = describe(seeds_for(family, "tuning"))
        assert f"{family} {test}" in header and f"{family} {tuning}" in header
    assert header.startswith("test seeds scored:")
    assert re.search(r"^ +classic +amlsim *$", text, re.MULTILINE), text
    assert re.search(r"^overall ", text, re.MULTILINE)
    caption = " ".join(text.split())  # wrapped at the table's width
    assert "in-family" in caption and "detectors.yaml" in caption
    document = orjson.loads(out.read_bytes())
    assert document["generators"] == ["classic", "amlsim"]
    assert set(document["rows"][OVERALL]) == {"classic", "amlsim"}
    assert "2001-2005" in document["header"]


# -- `fraudgraph eval` over several banks ----------------------------------------------------


def _bank_files(tmp_path: Path, generator: str, seed: int) -> list[str]:
    """A tiny bank's labels and today's alerts on it, as `simulate` and the worker write them."""
    options = make_options(seed=seed, customers=40, days=2, generator=generator)
    bank = generate(options)
    run = replay_bank(
        seed=seed,
        customers=40,
        days=2,
        config=load_detection_config(None),
        rule_map=load_rule_map(DEFAULT_RULE_MAP),
        generator=generator,
    )
    labels, alerts = tmp_path / f"{generator}-{seed}.jsonl", tmp_path / f"alerts-{seed}.jsonl"
    write_labels(labels, bank.labels)
    alerts.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in run.alerts))
    return ["--labels", str(labels), "--alerts", str(alerts)]


def test_eval_with_several_labels_files_prints_the_matrix(tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    args = [
        "eval",
        *_bank_files(tmp_path, "classic", 1001),
        *_bank_files(tmp_path, "amlsim", 2001),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(main_app, args, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "labels scored: classic: classic-1001.jsonl; amlsim: amlsim-2001.jsonl" in result.stdout
    assert "test 1001-1005" in result.stdout and "tuning 201-205" in result.stdout
    assert re.search(r"^ +classic +amlsim *$", result.stdout, re.MULTILINE), result.stdout
    document = orjson.loads(out.read_bytes())
    assert document["matrix"]["generators"] == ["classic", "amlsim"]
    assert [run["generator"] for run in document["runs"]] == ["classic", "amlsim"]


def test_eval_with_several_labels_files_needs_one_alerts_file_each(tmp_path: Path) -> None:
    files = _bank_files(tmp_path, "classic", 1001)
    result = CliRunner().invoke(main_app, ["eval", *files, "--labels", files[1]])
    # main() turns a FraudgraphError into a one-line message; the app itself raises it.
    assert isinstance(result.exception, EvaluationError)
    assert "need as many --alerts files" in str(result.exception)


def test_generator_of_reads_the_case_id_prefix() -> None:
    def label(case_id: str) -> Label:
        at = datetime(2026, 10, 1, tzinfo=UTC)
        return Label("cycle", case_id, "account", "1", "hop", at, at)

    assert generator_of([label("cycle:0001")], Path("a")) == "classic"
    assert generator_of([label("amlsim-cycle:0001")], Path("a")) == "amlsim"
    with pytest.raises(EvaluationError, match="one labels file per bank"):
        generator_of([label("cycle:0001"), label("amlsim-cycle:0002")], Path("a"))
