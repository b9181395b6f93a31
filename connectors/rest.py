"""A thin client for Kafka Connect's REST API; HTTP errors become our own."""

from __future__ import annotations

from typing import Any

import httpx

from fraudgraph.connectors.errors import ConnectorRejectedError, ConnectUnavailableError


class ConnectClient:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, json: Any = None) -> Any:
        try:
            response = httpx.request(
                method, f"{self.base_url}{path}", json=json, timeout=self.timeout
            )
        except httpx.HTTPError as error:
            raise ConnectUnavailableError(
                f"Kafka Connect at {self.base_url} did not answer: {error}"
            ) from error
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ConnectorRejectedError(
                f"Kafka Connect refused {method} {path} ({response.status_code}): {message}"
            )
        return response.json() if response.content else None

    def validate(self, connector_class: str, config: dict[str, str]) -> list[str]:
        """Field errors Connect reports for `config` ('name: message'), empty when valid."""
        plugin = connector_class.rsplit(".", 1)[-1]
        result = self._request("PUT", f"/connector-plugins/{plugin}/config/validate", json=config)
        errors = []
        for entry in (result or {}).get("configs", []):
            value = entry.get("value", {})
            for message in value.get("errors", []):
                errors.append(f"{value.get('name')}: {message}")
        return errors

    def put_config(self, name: str, config: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = self._request("PUT", f"/connectors/{name}/config", json=config)
        return result

    def get_config(self, name: str) -> dict[str, str] | None:
        result: dict[str, str] | None = self._request("GET", f"/connectors/{name}/config")
        return result

    def status(self, name: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._request("GET", f"/connectors/{name}/status")
        return result

    def statuses(self) -> dict[str, Any]:
        """Every connector's status in one call: {name: {"status": {...}}}."""
        result: dict[str, Any] = self._request("GET", "/connectors?expand=status") or {}
        return result

    def offsets(self, name: str) -> list[dict[str, Any]]:
        """The source offsets Connect has committed for `name` ({partition, offset} each)."""
        result = self._request("GET", f"/connectors/{name}/offsets") or {}
        offsets: list[dict[str, Any]] = result.get("offsets", [])
        return offsets

    def list_connectors(self) -> list[str]:
        result: list[str] = self._request("GET", "/connectors") or []
        return result

    def restart(self, name: str) -> None:
        self._request("POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true")

    def delete(self, name: str) -> None:
        """Remove a connector (its replication slot stays: PostgreSQL keeps that)."""
        self._request("DELETE", f"/connectors/{name}")
