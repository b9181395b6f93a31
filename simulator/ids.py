"""Deterministic bigint ids per table and unique opaque tokens derived from them."""

from __future__ import annotations

from fraudgraph.simulator.rows import TABLE_ORDER

_MASK64 = (1 << 64) - 1


def mix64(value: int) -> int:
    """A bijection on 64-bit integers (splitmix64 finaliser): distinct in, distinct out."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def token(kind: int, value: int, parts: int = 1) -> str:
    """Hex text unique per `value`: the first 16 digits are a bijection of it."""
    words = [mix64(value)] + [mix64(value ^ (kind << 56) ^ (i << 48)) for i in range(1, parts)]
    return "".join(f"{word:016x}" for word in words)


class IdAllocator:
    """Next primary key per table, starting where told (1, or after what a database holds)."""

    def __init__(self, starts: dict[str, int] | None = None) -> None:
        self._next = {table: 1 for table in TABLE_ORDER}
        if starts:
            for table, start in starts.items():
                self._next[table] = max(1, start)

    def next(self, table: str) -> int:
        value = self._next[table]
        self._next[table] = value + 1
        return value

    def peek(self, table: str) -> int:
        return self._next[table]

    def starts(self) -> dict[str, int]:
        return dict(self._next)
