"""What to simulate: sizes, window, fraud mix. Validated here, so the CLI and tests agree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fraudgraph.simulator.errors import OptionError
from fraudgraph.simulator.families import DEFAULT_GENERATOR, get_family
from fraudgraph.simulator.typologies import TYPOLOGIES, Typology

DEFAULT_START = datetime(2026, 10, 1, tzinfo=UTC)
REFERENCE_CUSTOMERS = 10_000  # typology default counts are per this many customers
MIN_CUSTOMERS = 20


@dataclass(frozen=True)
class FraudSpec:
    count: int
    size: int


@dataclass(frozen=True)
class SimulationOptions:
    seed: int = 1
    customers: int = 10_000
    days: int = 30
    start: datetime = DEFAULT_START
    fraud: dict[str, FraudSpec] = field(default_factory=dict)
    reveal_share: float = 0.3
    false_positives: int = 25
    generator: str = DEFAULT_GENERATOR  # the generator family whose typologies are injected

    def spec(self, typology: str) -> FraudSpec:
        return self.fraud[typology]


def default_fraud(
    customers: int, typologies: Mapping[str, Typology] = TYPOLOGIES
) -> dict[str, FraudSpec]:
    """Each typology's default count scaled to the bank's size (at least one case)."""
    scale = customers / REFERENCE_CUSTOMERS
    return {
        name: FraudSpec(max(1, round(t.default_count * scale)), t.default_size)
        for name, t in typologies.items()
    }


def parse_fraud_specs(
    customers: int, specs: list[str], typologies: Mapping[str, Typology] = TYPOLOGIES
) -> dict[str, FraudSpec]:
    """Apply `NAME=COUNT[:SIZE]` overrides (NAME may be `all`) to the scaled defaults."""
    fraud = default_fraud(customers, typologies)
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not value:
            raise OptionError(f"--fraud {spec!r}: expected NAME=COUNT[:SIZE], e.g. mule_chain=20:5")
        names = list(typologies) if name == "all" else [name]
        if name != "all" and name not in typologies:
            raise OptionError(
                f"--fraud {spec!r}: unknown typology {name!r} (known: all, {', '.join(typologies)})"
            )
        count_text, _, size_text = value.partition(":")
        try:
            count = int(count_text) if count_text else None
            size = int(size_text) if size_text else None
        except ValueError as error:
            raise OptionError(f"--fraud {spec!r}: COUNT and SIZE must be whole numbers") from error
        for typology in names:
            current = fraud[typology]
            new_count = current.count if count is None else count
            new_size = current.size if size is None else size
            if new_count < 0:
                raise OptionError(f"--fraud {spec!r}: count must be >= 0")
            minimum = typologies[typology].min_size
            if new_size < minimum:
                raise OptionError(f"--fraud {spec!r}: {typology} size must be >= {minimum}")
            fraud[typology] = FraudSpec(new_count, new_size)
    return fraud


def make_options(
    *,
    seed: int = 1,
    customers: int = 10_000,
    days: int = 30,
    start: datetime | str = DEFAULT_START,
    fraud: list[str] | None = None,
    reveal_share: float = 0.3,
    false_positives: int | None = None,
    generator: str = DEFAULT_GENERATOR,
) -> SimulationOptions:
    """Validated options; raises OptionError with a one-line reason."""
    family = get_family(generator)
    if customers < MIN_CUSTOMERS:
        raise OptionError(f"--customers must be >= {MIN_CUSTOMERS} (got {customers})")
    if days < 1:
        raise OptionError(f"--days must be >= 1 (got {days})")
    if not 0.0 <= reveal_share <= 1.0:
        raise OptionError(f"--reveal-share must be between 0 and 1 (got {reveal_share})")
    if false_positives is not None and false_positives < 0:
        raise OptionError(f"--false-positives must be >= 0 (got {false_positives})")
    if isinstance(start, str):
        try:
            start = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError as error:
            raise OptionError(f"--start {start!r} is not an ISO 8601 date-time") from error
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return SimulationOptions(
        seed=seed,
        customers=customers,
        days=days,
        start=start.astimezone(UTC),
        fraud=parse_fraud_specs(customers, fraud or [], family.typologies),
        reveal_share=reveal_share,
        false_positives=false_positives
        if false_positives is not None
        else max(1, customers // 400),
        generator=family.name,
    )
