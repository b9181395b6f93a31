"""Endpoints disabled after answering 410 Gone, remembered across restarts.

A receiver answers 410 to say "this subscription is gone, stop sending". The
endpoint is disabled for its URL: pointing the endpoint at another URL in the
endpoints file, or `fraudgraph webhooks enable NAME`, turns it back on.
The state is a small JSON file under the state directory, written atomically.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import orjson

from fraudgraph.alerts.webhooks.config import Endpoint
from fraudgraph.errors import ConfigError
from fraudgraph.observability.logs import get_logger

log = get_logger(__name__)


class DisabledEndpoints:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, str]] = {}

    def load(self) -> None:
        try:
            loaded = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as error:
            raise ConfigError(f"disabled-endpoints file {self.path} unreadable: {error}") from error
        if not isinstance(loaded, dict):
            raise ConfigError(f"disabled-endpoints file {self.path} is not a JSON object")
        self._entries = {str(name): dict(entry) for name, entry in loaded.items()}

    def is_disabled(self, endpoint: Endpoint) -> bool:
        entry = self._entries.get(endpoint.name)
        return entry is not None and entry.get("url") == str(endpoint.url)

    def disable(self, endpoint: Endpoint, reason: str) -> None:
        self._entries[endpoint.name] = {
            "url": str(endpoint.url),
            "reason": reason,
            "disabled_at": datetime.now(UTC).isoformat(),
        }
        self._save()

    def enable(self, name: str) -> bool:
        """True if `name` was disabled."""
        if self._entries.pop(name, None) is None:
            return False
        self._save()
        return True

    def names(self) -> list[str]:
        return sorted(self._entries)

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_bytes(orjson.dumps(self._entries, option=orjson.OPT_INDENT_2))
            os.replace(temporary, self.path)  # a crash mid-write leaves the old file whole
        except OSError as error:
            # Not worth stopping delivery for: after a restart the endpoint answers
            # 410 again and is disabled again.
            log.warning("disabled_endpoints_not_saved", path=str(self.path), error=str(error))
