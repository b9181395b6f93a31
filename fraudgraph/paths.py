"""Where the project's own files live, resolved from this package's location.

The repository is the unit of deployment (the Docker image copies it whole), so
files such as the contract schema and connector definitions are found relative
to the checkout rather than through package resources.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
CONNECTORS_DIR = PROJECT_ROOT / "connectors"
BANK_SCHEMA_SQL = CONTRACTS_DIR / "bank.sql"
ALERT_SCHEMA_JSON = CONTRACTS_DIR / "alert.schema.json"
DEFAULT_STATE_DIR = PROJECT_ROOT / ".state"
