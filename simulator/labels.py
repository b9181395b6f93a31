"""Ground truth: one JSON line per (typology, case, entity). Never written to the database.

    {"typology": "mule_chain", "case_id": "mule_chain:0003", "entity_type": "account",
     "entity_id": "4812", "role": "mule", "first_event_at": "2026-10-04T09:12:00Z",
     "last_event_at": "2026-10-04T11:40:31Z"}

entity_type and entity_id follow contracts/alert.schema.json (ids are the source
primary keys as strings; an ip's id is its address).

An optional `"kind"` says what the case is: absent means `"fraud"`; `"lookalike"`
marks an honest pattern shaped like fraud (payroll, rent, a club's dues), so that
scoring can report how often detectors flag it without counting it as fraud. Only
non-fraud kinds are written, so fraud-only files stay byte-identical to before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

ENTITY_TYPES = ("customer", "account", "card", "device", "ip", "merchant", "transaction")
FRAUD = "fraud"
LOOKALIKE = "lookalike"
KINDS = (FRAUD, LOOKALIKE)


@dataclass(frozen=True, order=True)
class Label:
    typology: str
    case_id: str
    entity_type: str
    entity_id: str
    role: str
    first_event_at: datetime
    last_event_at: datetime
    kind: str = FRAUD

    @property
    def entity(self) -> tuple[str, str]:
        return self.entity_type, self.entity_id


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def label_to_json(label: Label) -> dict[str, str]:
    data = {
        "typology": label.typology,
        "case_id": label.case_id,
        "entity_type": label.entity_type,
        "entity_id": label.entity_id,
        "role": label.role,
        "first_event_at": _iso(label.first_event_at),
        "last_event_at": _iso(label.last_event_at),
    }
    if label.kind != FRAUD:
        data["kind"] = label.kind
    return data


def write_labels(path: Path, labels: Iterable[Label]) -> int:
    """Write (replace) a labels file; returns the number of lines."""
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for label in labels:
            out.write(orjson.dumps(label_to_json(label)) + b"\n")
            count += 1
    return count


class LabelFormatError(ValueError):
    """A labels file line is not a label."""


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_labels(path: Path) -> list[Label]:
    labels: list[Label] = []
    with path.open("rb") as source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
                entity_type = str(data["entity_type"])
                if entity_type not in ENTITY_TYPES:
                    raise LabelFormatError(f"unknown entity_type {entity_type!r}")
                kind = str(data.get("kind", FRAUD))
                if kind not in KINDS:
                    raise LabelFormatError(f"unknown kind {kind!r}")
                labels.append(
                    Label(
                        typology=str(data["typology"]),
                        case_id=str(data["case_id"]),
                        entity_type=entity_type,
                        entity_id=str(data["entity_id"]),
                        role=str(data.get("role", "")),
                        first_event_at=parse_time(str(data["first_event_at"])),
                        last_event_at=parse_time(str(data["last_event_at"])),
                        kind=kind,
                    )
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise LabelFormatError(f"{path}:{number}: not a label ({error})") from error
    return labels
