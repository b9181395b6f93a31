"""The project's copies of the fixed interfaces must equal the shared contracts."""

from pathlib import Path

import pytest

from fraudgraph.paths import ALERT_SCHEMA_JSON, BANK_SCHEMA_SQL
from tests.repo import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "contracts"


@pytest.mark.parametrize("copy", [BANK_SCHEMA_SQL, ALERT_SCHEMA_JSON], ids=lambda p: p.name)
def test_contract_copy_is_identical(copy: Path) -> None:
    original = SHARED / copy.name
    assert original.exists(), f"shared contract missing at {original}"
    assert copy.read_bytes() == original.read_bytes()
