"""Retry records that are not due yet: held in offset order, paused far off, resumed early."""

from fraudgraph.alerts.webhooks.holdback import Held, Holdback
from fraudgraph.alerts.webhooks.records import Incoming, RetryState

TOPIC = "hooks.retry.5s"


def held(offset: int, due_ms: int, partition: int = 0) -> Held:
    record = Incoming(TOPIC, partition, offset, b"k", b"{}", ())
    return Held(record, RetryState("cases", 2, 0, due_ms))


def test_records_come_out_when_due_in_offset_order() -> None:
    holdback = Holdback(lead_ms=1000)
    for offset, due in [(10, 5000), (11, 4000), (12, 9000)]:
        holdback.hold(held(offset, due))
    assert holdback.take_due(3999) == []
    # Offset 11 is due at 4000 but waits behind offset 10: a partition never reorders.
    assert holdback.take_due(4500) == []
    assert [h.record.offset for h in holdback.take_due(5000)] == [10, 11]
    assert holdback.first_offset((TOPIC, 0)) == 12
    assert [h.record.offset for h in holdback.take_due(9000)] == [12]
    assert not holdback.holding((TOPIC, 0))
    assert holdback.first_offset((TOPIC, 0)) is None


def test_partitions_wait_independently() -> None:
    holdback = Holdback()
    holdback.hold(held(1, 9000, partition=0))
    holdback.hold(held(7, 2000, partition=1))
    assert [h.tp for h in holdback.take_due(2000)] == [(TOPIC, 1)]
    assert holdback.holding((TOPIC, 0))
    assert holdback.count() == 1


def test_pause_while_the_head_is_far_resume_lead_ms_before() -> None:
    holdback = Holdback(lead_ms=1500)
    holdback.hold(held(1, 10_000))
    assert holdback.to_pause(8_000) == {(TOPIC, 0)}
    assert holdback.to_pause(8_500) == set()  # fetch what lies behind the head in time


def test_pause_when_too_much_is_held_even_if_due_soon() -> None:
    holdback = Holdback(lead_ms=1500, max_held=3)
    for offset in range(3):
        holdback.hold(held(offset, 1000))
    assert holdback.to_pause(900) == {(TOPIC, 0)}
    assert holdback.next_event_ms(900, paused={(TOPIC, 0)}) == 1000  # no busy loop


def test_next_event_is_the_earliest_due_or_resume_time() -> None:
    holdback = Holdback(lead_ms=1500)
    assert holdback.next_event_ms(0, paused=set()) is None
    holdback.hold(held(1, 10_000, partition=0))
    holdback.hold(held(1, 12_000, partition=1))
    assert holdback.next_event_ms(0, paused=set()) == 10_000
    assert holdback.next_event_ms(0, paused={(TOPIC, 0)}) == 8_500


def test_dropped_partitions_are_forgotten() -> None:
    holdback = Holdback()
    holdback.hold(held(1, 10_000, partition=0))
    holdback.hold(held(1, 10_000, partition=1))
    holdback.drop({(TOPIC, 0)})
    assert not holdback.holding((TOPIC, 0))
    assert holdback.holding((TOPIC, 1))
