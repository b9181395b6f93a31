"""The learned scorer: its features see only the past, its model file is checked before
use, and its alerts explain themselves with the model's own contributions."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import lightgbm
import numpy as np
import orjson
import pytest

from fraudgraph.detection.context import Context
from fraudgraph.detection.detectors._counterparts import pays_a_set_price, set_price
from fraudgraph.detection.detectors.learned_risk import LearnedRisk
from fraudgraph.detection.engine import DetectionEngine
from fraudgraph.detection.events import to_event
from fraudgraph.detection.history import HistorySource, Txn
from fraudgraph.detection.learned.features import (
    ABSENT,
    ACCOUNT_FEATURE_NAMES,
    FEATURE_NAMES,
    FEATURES_VERSION,
    LONG_RECEIVED_DAYS,
    PAIR_FEATURE_NAMES,
    SENT_DAYS,
    prefetch,
)
from fraudgraph.detection.learned.model_file import ModelFile, ModelFileError, load_model_file
from fraudgraph.detection.learned.training import BankSamples, FeatureRecorder, choose_threshold
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.offline import changes_of
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.registry import build_detectors
from fraudgraph.detection.settings import (
    DetectionConfig,
    DetectorConfig,
    load_detection_config,
    with_model_file,
)
from fraudgraph.errors import ConfigError
from fraudgraph.graph.mapping import default_mapping
from tests.unit.detect_support import TEST_HASHER
from tests.unit.detect_support import run as run_tables
from tests.unit.test_detect_money import Bank, named

FAN_IN = FEATURE_NAMES.index("payee_in_senders_7d")


def fan_in_bank(senders: int = 8) -> Bank:
    """`senders` people pay one account within a day; two friends pay each other."""
    bank = Bank()
    hub = bank.person(1)
    for n in range(senders):
        bank.pay(bank.person(10 + n), hours=1 + n, amount=90 + n, to=hub)
    friend, other = bank.person(2), bank.person(3)
    bank.pay(friend, hours=2.5, amount=20, to=other)
    return bank


def recorded(bank: Bank) -> dict[int, tuple[float, ...]]:
    recorder = FeatureRecorder()
    run_tables(bank.tables(), recorder)
    return {txn.txn_id: features for txn, features in recorder.rows}


def test_features_are_named_and_see_only_the_past() -> None:
    rows = recorded(fan_in_bank())
    assert len(FEATURE_NAMES) == 2 * len(ACCOUNT_FEATURE_NAMES) + len(PAIR_FEATURE_NAMES)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(len(features) == len(FEATURE_NAMES) for features in rows.values())
    # The hub's 4th sender: four senders so far (its own transfer included), not eight.
    assert [rows[n][FAN_IN] for n in (1, 4, 8)] == [1.0, 4.0, 8.0]
    payer_senders = FEATURE_NAMES.index("payer_in_senders_7d")
    assert rows[4][payer_senders] == 0.0


def feature(row: tuple[float, ...], name: str) -> float:
    return row[FEATURE_NAMES.index(name)]


def test_a_spreader_is_read_against_its_own_past_and_by_one_channel() -> None:
    """An account that paid friends small sums by p2p for two weeks then pays three
    accounts larger sums by transfer, two of them twice: the week reads as repeats on
    one channel, and the amounts against the account's own and the payee's usual."""
    bank = Bank()
    spreader = bank.person(1)
    friends = [bank.person(10 + n) for n in range(3)]
    for day in range(14):
        bank.pay(spreader, hours=day * 24, amount=100, to=friends[day % 3], channel="p2p")
    payees = [bank.person(20 + n) for n in range(3)]
    for n, payee in enumerate(payees):
        bank.pay(bank.person(30 + n), hours=15 * 24, amount=50, to=payee)  # their usual
    last = 0
    for n, payee in enumerate([*payees, payees[0], payees[1]]):
        last = bank.pay(spreader, hours=16 * 24 + n, amount=800, to=payee)
    row = recorded(bank)[last]  # the second 800 to payees[1]

    assert feature(row, "payer_out_receivers_7d") == 6  # three friends, three payees
    # Payees 0 and 1, and the friend paid on days 10 and 13 (the week began on day 9).
    assert feature(row, "payer_out_repeat_receivers_7d") == 3
    assert feature(row, "payer_out_channel_receivers_7d") == 3
    # Median of the week's payments (100 x 4, 800 x 5) over the median before it (100).
    assert feature(row, "payer_out_amount_vs_usual_7d") == pytest.approx(math.log(8))
    assert feature(row, "pair_transfers_7d") == 1  # the first 800 to the same payee
    # 800 against the payee's usual: the median of 50 and 800 received before.
    assert feature(row, "pair_amount_vs_payee_received") == pytest.approx(math.log(800 / 425))
    assert feature(row, "payee_in_repeat_senders_10d") == 1


def test_a_slow_collection_is_counted_over_three_weeks() -> None:
    bank = Bank()
    collector = bank.person(1)
    last = 0
    for n in range(7):  # one payer every three days
        last = bank.pay(bank.person(10 + n), hours=n * 72, amount=300 + n, to=collector)
    row = recorded(bank)[last]
    assert feature(row, "payee_in_senders_21d") == 7
    assert feature(row, "payee_in_senders_10d") == 4  # days 9-18 (payers 3 to 6)
    assert feature(row, "payee_in_channel_senders_10d") == 4


@pytest.mark.parametrize("config", [DetectionConfig(), load_detection_config(None)])
def test_the_features_read_no_further_back_than_a_batch_prefetches(
    config: DetectionConfig,
) -> None:
    """Reading further would make every scored transfer a cache miss in the worker."""
    assert config.history.received_days >= LONG_RECEIVED_DAYS
    assert config.history.sent_days >= SENT_DAYS


def test_money_leaving_the_bank_is_scored_and_card_payments_are_not() -> None:
    bank = Bank()
    payer = bank.person(1)
    out = bank.pay(payer, hours=1, amount=50)  # to an IBAN at another bank
    bank.pay(payer, hours=2, amount=9, channel="card_not_present")
    rows = recorded(bank)
    assert list(rows) == [out]
    payee = [rows[out][FEATURE_NAMES.index(f"payee_{n}")] for n in ACCOUNT_FEATURE_NAMES]
    assert set(payee) == {ABSENT}


def tiny_model(tmp_path: Path, *, threshold: float = 0.5, feature: int = FAN_IN) -> Path:
    """A model that learned one thing: a payee with five or more senders is risky
    (or whatever `feature` reaching 5 says)."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 10, size=(4000, len(FEATURE_NAMES))).astype(np.float64)
    y = (x[:, feature] >= 5).astype(np.float64)
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1}
    booster = lightgbm.train(params, lightgbm.Dataset(x, label=y), num_boost_round=20)
    path = tmp_path / "model.json"
    ModelFile("test-1", threshold, booster.model_to_string()).save(path)
    return path


def test_alerts_carry_score_threshold_version_and_contributions(tmp_path: Path) -> None:
    scorer = LearnedRisk({"model_file": str(tiny_model(tmp_path))})
    alerts = run_tables(fan_in_bank().tables(), scorer)
    scored = {int(a["txn_ids"][0]) for a in alerts}
    assert scored == {5, 6, 7, 8}  # the 5th sender onwards; not the friends
    alert = alerts[0]
    evidence = alert["evidence"]
    assert evidence["model_version"] == "test-1"
    assert evidence["threshold"] == 0.5
    assert evidence["score"] >= 0.5
    assert evidence["features_version"] == FEATURES_VERSION
    top = evidence["contributions"][0]
    assert top["feature"] == "payee_in_senders_7d"
    assert top["contribution"] > 0
    assert "payee_in_senders_7d" in alert["explanation"]
    roles = {(e["type"], e.get("role")) for e in alert["entities"]}
    assert {("account", "payer"), ("account", "payee"), ("customer", "payee")} <= roles


def spreader_bank() -> Bank:
    """Account 101 pays five accounts in one afternoon (the fifth transfer is what the
    test model flags: five payments that day), then one more by the same channel two
    days later, one by p2p, and one by transfer after the members' window."""
    bank = Bank()
    spreader = bank.person(1)
    for n in range(5):
        bank.pay(spreader, hours=12 + n, amount=300 + 17 * n, to=bank.person(10 + n))
    bank.pay(spreader, hours=60, amount=410, to=bank.person(20))  # followed
    bank.pay(spreader, hours=61, amount=45, to=bank.person(21), channel="p2p")
    bank.pay(spreader, hours=24 * 14, amount=380, to=bank.person(22))  # window over
    return bank


def test_a_flagged_spreaders_later_payments_are_followed(tmp_path: Path) -> None:
    model = tiny_model(tmp_path, feature=FEATURE_NAMES.index("payer_out_count_1d"))
    scorer = LearnedRisk({"model_file": str(model), "follow_min_score": 0.0})
    alerts = run_tables(spreader_bank().tables(), scorer)
    by_payee = {ends(a)["payee"]: a for a in alerts}
    assert set(by_payee) == {"114", "120"}
    followed = by_payee["120"]
    # Under the threshold itself, and under the default floor for following too.
    assert followed["evidence"]["score"] < 0.1
    assert followed["evidence"]["followed"] == {
        "account": "101",
        "txn_id": "5",
        "score": by_payee["114"]["evidence"]["score"],
    }
    assert "one more of account 101's 6 counterparts by transfer" in followed["explanation"]
    # It names the spreader's other recipients too, as of its own time.
    assert {m for m, role in named(followed).items() if role == "recipient"} == {
        "110", "111", "112", "113", "114",
    }  # fmt: skip


@pytest.mark.parametrize(
    "params",
    [
        {"follow_hubs": False, "follow_min_score": 0.0},
        {},  # the followed transfer scores under the default floor
    ],
)
def test_no_following_when_turned_off_or_under_its_floor(
    tmp_path: Path, params: dict[str, Any]
) -> None:
    model = tiny_model(tmp_path, feature=FEATURE_NAMES.index("payer_out_count_1d"))
    scorer = LearnedRisk({"model_file": str(model), **params})
    alerts = run_tables(spreader_bank().tables(), scorer)
    assert [ends(a)["payee"] for a in alerts] == ["114"]


def ends(alert: dict[str, Any]) -> dict[str, str]:
    """Role -> account id, for the payer and payee."""
    return {
        str(e["role"]): str(e["id"])
        for e in alert["entities"]
        if e["type"] == "account" and e.get("role") in ("payer", "payee")
    }


def test_one_alert_per_pair_and_the_same_ids_on_replay(tmp_path: Path) -> None:
    bank = fan_in_bank()
    hub, sender = 101, 110
    for day in range(1, 4):  # the first sender pays the hub again, later
        bank.pay(sender, hours=10 + day, amount=50, to=hub)
    scorer = LearnedRisk({"model_file": str(tiny_model(tmp_path))})
    first = run_tables(bank.tables(), scorer)
    again = run_tables(bank.tables(), LearnedRisk({"model_file": str(tiny_model(tmp_path))}))
    assert [a["alert_id"] for a in first] == [a["alert_id"] for a in again]
    # Three more transfers 110 -> 101 score over the threshold: one situation, one alert.
    ends = [
        {
            e["id"]: e.get("role")
            for e in a["entities"]
            if e["type"] == "account" and e.get("role") in ("payer", "payee")
        }
        for a in first
    ]
    assert ends.count({str(sender): "payer", str(hub): "payee"}) == 1


def named_as(alert: dict[str, Any], role: str, kind: str = "account") -> set[str]:
    return {e["id"] for e in alert["entities"] if e["type"] == kind and e.get("role") == role}


def by_txn(alerts: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(a["txn_ids"][0]): a for a in alerts}


def test_a_flagged_collector_names_the_accounts_that_fed_it(tmp_path: Path) -> None:
    bank = fan_in_bank()
    bank.pay(bank.person(30), hours=3.5, amount=70, to=101, channel="p2p")  # another rail
    scorer = LearnedRisk({"model_file": str(tiny_model(tmp_path))})
    alerts = by_txn(run_tables(bank.tables(), scorer))
    # The 5th sender's transfer is the first flagged: the four before it paid the
    # collector when nothing showed yet, and are named now, as of that transfer.
    assert named_as(alerts[5], "feeder") == {"110", "111", "112", "113"}
    assert named_as(alerts[5], "feeder", "customer") == {"10", "11", "12", "13"}
    assert named_as(alerts[8], "feeder") == {str(110 + n) for n in range(7)}
    assert alerts[5]["evidence"]["feeders"] == 4
    assert "collected from 5 accounts by transfer in 10 days" in alerts[5]["explanation"]
    assert {"5", "1", "4"} <= set(alerts[5]["txn_ids"])
    # Paid by p2p, the account's other rail: not one of the collection's members.
    assert all("130" not in named_as(a, "feeder") for a in alerts.values())


def test_a_flagged_spreader_names_the_accounts_it_paid(tmp_path: Path) -> None:
    bank = Bank()
    spreader = bank.person(1)
    for n in range(7):
        bank.pay(spreader, hours=1 + n, amount=90 + n, to=bank.person(10 + n))
    bank.pay(spreader, hours=1.5, amount=30, to=bank.person(30), channel="p2p")
    model = tiny_model(tmp_path, feature=FEATURE_NAMES.index("payer_out_receivers_7d"))
    alerts = by_txn(run_tables(bank.tables(), LearnedRisk({"model_file": str(model)})))
    # The 4th transfer is flagged (five receivers, the p2p friend among them), but
    # only four were paid by transfer: no recipients yet. The 5th names the four.
    assert named_as(alerts[4], "recipient") == set()
    assert named_as(alerts[5], "recipient") == {str(110 + n) for n in range(4)}
    assert alerts[5]["evidence"]["recipients"] == 4
    assert "paid 5 accounts by transfer in 10 days" in alerts[5]["explanation"]


def rent_bank(same: int, differ: int) -> Bank:
    """`same` tenants pay one landlord 750.00 each; `differ` others pay it other sums."""
    bank = Bank()
    landlord = bank.person(1)
    for n in range(same + differ):
        amount = 750.0 if n < same else 300.0 + 17 * n
        bank.pay(bank.person(10 + n), hours=1 + n, amount=amount, to=landlord)
    return bank


def test_rent_or_dues_at_one_set_price_raise_nothing(tmp_path: Path) -> None:
    model = str(tiny_model(tmp_path))
    quiet = run_tables(rent_bank(6, 2).tables(), LearnedRisk({"model_file": model}))
    # Six of eight paid the same amount: those six are rent; the two others are not,
    # and the collection's payers are not named, as it is one at a set price.
    assert {int(a["txn_ids"][0]) for a in quiet} == {7, 8}
    assert all(not named_as(a, "feeder") for a in quiet)
    loud = run_tables(
        rent_bank(6, 2).tables(), LearnedRisk({"model_file": model, "quiet_set_price": False})
    )
    assert {int(a["txn_ids"][0]) for a in loud} == {5, 6, 7, 8}


def test_a_collection_in_differing_amounts_is_no_set_price() -> None:
    def txn(n: int, amount: float) -> Txn:
        return Txn(n, 100 + n, "transfer", amount, "EUR", "posted", n, counterparty_account_id=1)

    assert set_price([txn(1, 750), txn(2, 750), txn(3, 310)])
    assert not set_price([txn(1, 750), txn(2, 740), txn(3, 310)])
    flagged = txn(4, 750)
    assert pays_a_set_price(flagged, [txn(1, 750), txn(2, 750), txn(3, 310)])
    assert not pays_a_set_price(txn(4, 310), [txn(1, 750), txn(2, 750), txn(3, 310)])
    assert not pays_a_set_price(flagged, [txn(1, 750)])  # two payers: no collection yet


@pytest.mark.parametrize("minimum", [0, 9])
def test_no_members_below_the_minimum_or_when_switched_off(tmp_path: Path, minimum: int) -> None:
    params = {"min_feeders": minimum, "min_recipients": minimum}
    scorer = LearnedRisk({"model_file": str(tiny_model(tmp_path)), **params})
    alerts = run_tables(fan_in_bank().tables(), scorer)
    assert alerts and all(not named_as(a, "feeder") for a in alerts)
    assert all(a["evidence"]["feeders"] == 0 for a in alerts)


class CountingSource:
    """A history source that counts the questions asked of it (Neo4j round trips)."""

    def __init__(self, inner: MemoryHistory) -> None:
        self.inner = inner
        self.questions = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def asked(*args: Any, **kwargs: Any) -> Any:
            self.questions += 1
            return method(*args, **kwargs)

        return asked


def questions_for_one_batch(senders: int, tmp_path: Path) -> int:
    bank = fan_in_bank(senders)
    for n in range(senders):  # each sender also paid someone of its own the day before
        bank.pay(110 + n, hours=-20 + n * 0.1, amount=5, to=bank.person(100 + n))
    tables = bank.tables()
    builder = RecordBuilder(default_mapping(), TEST_HASHER)
    source = CountingSource(MemoryHistory.from_tables(builder, tables))
    scorer = LearnedRisk({"model_file": str(tiny_model(tmp_path))})
    engine = DetectionEngine(
        cast(HistorySource, source), DetectionConfig(), builder, [(scorer, False)]
    )
    engine.run(changes_of(tables, "time"))
    assert scorer.scored >= senders
    return source.questions


def test_a_batch_asks_the_graph_the_same_questions_however_many_transfers(
    tmp_path: Path,
) -> None:
    # Transfer by transfer, each new counterparty's week would be one more round trip.
    assert questions_for_one_batch(4, tmp_path) == questions_for_one_batch(12, tmp_path)


def questions_for_features_alone(senders: int) -> int:
    """What the scorer's own prefetch asks of a cold graph for a batch of transfers (a
    late payment's re-judged transfers arrive after the batch's prefetch)."""
    bank = fan_in_bank(senders)
    tables = bank.tables()
    builder = RecordBuilder(default_mapping(), TEST_HASHER)
    source = CountingSource(MemoryHistory.from_tables(builder, tables))
    ctx = Context(cast(HistorySource, source), DetectionConfig().history)
    events = [e for c in changes_of(tables, "time") if (e := to_event(c, builder)) is not None]
    prefetch([e.txn for e in events if e.kind == "transaction"], ctx)
    return source.questions


def test_the_scorers_prefetch_asks_once_whatever_the_number_of_accounts() -> None:
    assert questions_for_features_alone(4) == questions_for_features_alone(12)


def test_a_threshold_in_the_detectors_file_overrides_the_model(tmp_path: Path) -> None:
    path = tiny_model(tmp_path, threshold=0.5)
    assert LearnedRisk({"model_file": str(path), "threshold": 0.97}).threshold == 0.97
    with pytest.raises(ConfigError, match="threshold"):
        LearnedRisk({"model_file": str(path), "threshold": 1.5})


def write(path: Path, document: object) -> Path:
    path.write_bytes(orjson.dumps(document))
    return path


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: None, "does not exist"),
        (lambda d: "not json", "not valid JSON"),
        (lambda d: {**d, "format": "other/9"}, "is not a fraudgraph-account-risk/1 file"),
        (lambda d: {**d, "booster": d["booster"][:-200]}, "corrupt"),
        (lambda d: {**d, "features_version": FEATURES_VERSION + 1}, "built for features"),
        (lambda d: {**d, "feature_names": d["feature_names"][:-1]}, "built for features"),
        (lambda d: {k: v for k, v in d.items() if k != "threshold"}, "lacks or garbles"),
        (lambda d: {**d, "threshold": 1.0}, "not in (0, 1)"),
    ],
)
def test_a_bad_model_file_is_refused_in_one_line(tmp_path: Path, change: object, says: str) -> None:
    good = orjson.loads(tiny_model(tmp_path).read_bytes())
    assert callable(change)
    bad = tmp_path / "bad.json"
    document = change(good)
    if document == "not json":
        bad.write_text("{ this is not json")
    elif document is not None:
        write(bad, document)
    with pytest.raises(ModelFileError) as raised:
        load_model_file(bad)
    assert says in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_booster_lightgbm_cannot_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbled.json"
    ModelFile("x", 0.5, "tree\nthis is no booster\n").save(path)
    with pytest.raises(ModelFileError, match="LightGBM cannot read"):
        LearnedRisk({"model_file": str(path)})


def test_rules_only_is_said_in_the_configuration(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    config = with_model_file(DetectionConfig(), missing)
    with pytest.raises(ConfigError, match="does not exist"):
        build_detectors(config)
    off = config.model_copy(update={"detectors": {"learned_risk": DetectorConfig(enabled=False)}})
    rules = [d.rule for d, _ in build_detectors(off)]
    assert "learned_risk" not in rules
    assert rules  # the rules still run


def test_the_packaged_model_matches_this_build() -> None:
    model = load_model_file()
    assert model.feature_names == FEATURE_NAMES
    assert 0 < model.threshold < 1
    assert model.training["fit_seeds"]  # the card's facts travel with the file
    scorer = LearnedRisk()
    assert scorer.model.version == model.version


def test_the_worker_stops_with_one_line_on_a_missing_model(tmp_path: Path) -> None:
    detectors = tmp_path / "detectors.yaml"
    detectors.write_text(
        f"detectors:\n  learned_risk:\n    params:\n      model_file: {tmp_path}/gone.json\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "fraudgraph", "worker"],
        env={
            "FRAUDGRAPH_DETECTORS_FILE": str(detectors),
            "FRAUDGRAPH_STATE_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    # JSON log lines may come first; the error is one plain line, with no traceback.
    errors = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    assert errors == [f"error: model file {tmp_path}/gone.json does not exist"]


def samples(
    generator: str, scores_by_account: dict[int, float], fraud: set[int]
) -> tuple[BankSamples, list[float]]:
    accounts = sorted(scores_by_account)
    bank = BankSamples(
        generator,
        1,
        [(a,) for a in accounts],
        [(0.0,) for _ in accounts],
        [int(a in fraud) for a in accounts],
        fraud,
        set(),
        0.0,
    )
    return bank, [scores_by_account[a] for a in accounts]


def test_the_threshold_is_the_lowest_that_keeps_the_precision() -> None:
    bank, scores = samples(
        "classic", {1: 0.95, 2: 0.9, 3: 0.8, 4: 0.7, 5: 0.6, 6: 0.3}, fraud={1, 2, 3, 5}
    )
    chosen = choose_threshold([bank], [scores], target_precision=0.75)
    # At 0.60 four of five flagged are fraud (0.8); at 0.30 four of six (0.67).
    assert chosen.threshold == 0.6
    assert chosen.recall == 1.0
    assert chosen.precision == pytest.approx(0.8)


def test_every_family_must_keep_the_precision_on_its_own() -> None:
    easy, easy_scores = samples("classic", {1: 0.9, 2: 0.8, 3: 0.7, 4: 0.6}, fraud={1, 2, 3, 4})
    hard, hard_scores = samples("amlsim", {1: 0.95, 2: 0.75, 3: 0.65, 4: 0.62}, fraud={1, 4})
    chosen = choose_threshold([easy, hard], [easy_scores, hard_scores], target_precision=0.75)
    # Pooled, 0.60 would keep 6 of 8 (0.75); amlsim alone is then 2 of 4. At 0.75 amlsim
    # keeps 1 of 2 too; only above 0.75 does it keep 1 of 1.
    assert chosen.threshold == 0.8
    assert chosen.by_generator["amlsim"]["precision"] == 1.0
    assert chosen.by_generator["classic"]["recall"] == 0.5


def test_model_train_writes_a_model_the_scorer_loads_and_its_card(tmp_path: Path) -> None:
    out = tmp_path / "small.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "fraudgraph", "model", "train", "--generator", "classic",
            "--customers", "300", "--days", "14", "--out", str(out), "--version", "t-1",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "FRAUDGRAPH_STATE_DIR": str(tmp_path), "COLUMNS": "100"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    model = load_model_file(out)
    assert model.version == "t-1"
    assert model.training["fit_seeds"] == {"classic": [1, 2, 3, 4, 5]}  # tuning seeds only
    assert model.training["folds"] == 5
    assert 0 < model.threshold < 1
    assert LearnedRisk({"model_file": str(out)}).threshold == model.threshold
    card = out.with_suffix(".md").read_text()
    assert "# Model card: account_risk t-1" in card
    assert "classic 1, 2, 3, 4, 5" in card
