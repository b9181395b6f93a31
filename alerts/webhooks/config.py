"""The endpoints file: where alerts go, which of them, and how long delivery keeps trying.

Secrets are never in the file: each endpoint names the environment variable that
holds its `whsec_…` signing secret, so the file can be committed and reviewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from standardwebhooks.webhooks import Webhook

from fraudgraph.alerts.model import Kind, Severity
from fraudgraph.errors import ConfigError

# 5 s, 30 s, 2 min, 10 min, 30 min, then hourly: the last delay repeats until
# `give_up_after_seconds` (8 h) has passed since the first attempt.
DEFAULT_SCHEDULE_SECONDS = (5, 30, 120, 600, 1800, 3600)
DEFAULT_GIVE_UP_AFTER_SECONDS = 8 * 3600

_Frozen = ConfigDict(extra="forbid", frozen=True)


class Endpoint(BaseModel):
    model_config = _Frozen

    # The name labels metrics, logs and retry records, so it must stay short and plain.
    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    url: AnyHttpUrl
    secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # None: every kind; otherwise only these.
    kinds: frozenset[Kind] | None = None
    min_severity: Severity | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)

    @field_validator("kinds")
    @classmethod
    def _kinds_not_empty(cls, kinds: frozenset[Kind] | None) -> frozenset[Kind] | None:
        if kinds is not None and not kinds:
            raise ValueError("an empty list would deliver nothing; omit kinds for all")
        return kinds


class RetryPolicy(BaseModel):
    model_config = _Frozen

    schedule_seconds: tuple[Annotated[int, Field(ge=1, le=86_400)], ...] = Field(
        default=DEFAULT_SCHEDULE_SECONDS, min_length=1, max_length=20
    )
    give_up_after_seconds: int = Field(default=DEFAULT_GIVE_UP_AFTER_SECONDS, ge=1)
    # Each delay is drawn from [d·(1-jitter), d·(1+jitter)] so endpoints recovering
    # from an outage are not hit by every pending retry in the same second.
    jitter: float = Field(default=0.2, ge=0, le=0.5)


class EndpointsFile(BaseModel):
    model_config = _Frozen

    endpoints: tuple[Endpoint, ...] = Field(min_length=1)
    retry: RetryPolicy = RetryPolicy()
    # Deliveries in flight at once (one HTTP request each).
    concurrency: int = Field(default=16, ge=1, le=256)

    @model_validator(mode="after")
    def _names_unique(self) -> EndpointsFile:
        names = [endpoint.name for endpoint in self.endpoints]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"endpoint names must be unique: {', '.join(duplicates)}")
        return self


@dataclass(frozen=True)
class WebhookConfig:
    """The validated file plus each endpoint's signer (built from its secret)."""

    endpoints: tuple[Endpoint, ...]
    signers: Mapping[str, Webhook]
    retry: RetryPolicy
    concurrency: int

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)


def load_config(path: Path, environ: Mapping[str, str]) -> WebhookConfig:
    """Read and validate `path`; every problem becomes a one-line ConfigError."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"webhooks file {path}: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        problem = str(error).replace("\n", " ")
        raise ConfigError(f"webhooks file {path}: not YAML: {problem}") from error
    try:
        parsed = EndpointsFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"webhooks file {path}: {one_line(error)}") from error
    signers = {e.name: signer(e, environ, path) for e in parsed.endpoints}
    return WebhookConfig(parsed.endpoints, signers, parsed.retry, parsed.concurrency)


def signer(endpoint: Endpoint, environ: Mapping[str, str], path: Path) -> Webhook:
    secret = environ.get(endpoint.secret_env, "")
    where = f"webhooks file {path}: endpoint {endpoint.name}"
    if not secret:
        raise ConfigError(f"{where}: environment variable {endpoint.secret_env} is not set")
    return secret_signer(secret, f"{where}: {endpoint.secret_env}")


def secret_signer(secret: str, where: str) -> Webhook:
    """A signer for a `whsec_…` secret, or a ConfigError naming `where` (never the secret)."""
    if not secret.startswith("whsec_"):
        raise ConfigError(f"{where} must hold a secret of the form whsec_<base64>")
    try:
        return Webhook(secret)
    except Exception as error:
        raise ConfigError(f"{where} is not a valid whsec_<base64> secret") from error


def one_line(error: ValidationError) -> str:
    problems = []
    for detail in error.errors():
        location = ".".join(str(part) for part in detail["loc"]) or "file"
        problems.append(f"{location}: {detail['msg']}")
    return "; ".join(problems)
