"""Column values as Debezium's JSON converter emits them, decoded to Python types.

Settings this relies on (connectors/bank-postgres.json): decimal.handling.mode=string,
time.precision.mode=adaptive_time_microseconds, schemas disabled.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

EPOCH_DAY = date(1970, 1, 1)


class ValueDrift(ValueError):
    """A value does not have the type the mapping declares for its column."""


def _bigint(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueDrift(f"expected an integer, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueDrift(f"expected text, got {type(value).__name__}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueDrift(f"expected a boolean, got {type(value).__name__}")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueDrift(f"expected a number, got {type(value).__name__}")
    return float(value)


def _decimal(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueDrift(f"expected a decimal string, got {type(value).__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueDrift(f"not a decimal: {value[:40]!r}") from None
    if not number.is_finite():
        raise ValueDrift(f"not a finite decimal: {value[:40]!r}")
    return number


def _timestamptz(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueDrift(f"expected an ISO timestamp, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueDrift(f"not an ISO timestamp: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise ValueDrift(f"timestamp without zone: {value[:40]!r}")
    return moment


def _date(value: Any) -> date:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueDrift(f"expected days since epoch, got {type(value).__name__}")
    try:
        return EPOCH_DAY + timedelta(days=value)
    except OverflowError:
        raise ValueDrift(f"date out of range: {value}") from None


def _inet(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueDrift(f"expected an address, got {type(value).__name__}")
    try:
        # Normalised text form, so "::ffff:1.2.3.4" style variants key one IP node.
        return str(ipaddress.ip_interface(value).ip)
    except ValueError:
        raise ValueDrift(f"not an IP address: {value[:60]!r}") from None


DECODERS: dict[str, Callable[[Any], Any]] = {
    "bigint": _bigint,
    "text": _text,
    "bool": _bool,
    "float": _float,
    "decimal": _decimal,
    "timestamptz": _timestamptz,
    "date": _date,
    "inet": _inet,
}
