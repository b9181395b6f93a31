"""The learned scorer's model file: a LightGBM booster and what it was built from.

One JSON document, so the booster can never be read without the facts that make it
usable: the feature names and feature version it expects (they must equal
detection/learned/features.py, else the file is refused), the threshold chosen on
validation banks, the seeds it was trained and validated on, and its metrics. The
booster's text is checked against its SHA-256, so a truncated or edited file is
refused rather than scored with.

Why LightGBM: a 3.5 MB wheel with no GPU runtime (XGBoost's manylinux wheel carries
CUDA libraries of several hundred MB), fast single-row prediction, and TreeSHAP
contributions built in (`pred_contrib=True`), which the alerts' explanations use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fraudgraph.detection.learned.features import FEATURE_NAMES, FEATURES_VERSION
from fraudgraph.errors import ConfigError
from fraudgraph.paths import package_path

FORMAT = "fraudgraph-account-risk/1"
MODEL_FILE_NAME = "account_risk.json"


class ModelFileError(ConfigError):
    """The model file is missing, corrupt or built for other features."""


@dataclass(frozen=True)
class ModelFile:
    version: str  # e.g. "2026-12-06.1": shown in every alert the model raises
    threshold: float
    booster: str  # LightGBM's model text (Booster.model_to_string)
    feature_names: tuple[str, ...] = FEATURE_NAMES
    features_version: int = FEATURES_VERSION
    training: dict[str, Any] = field(default_factory=dict)  # seeds, sizes, parameters
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "version": self.version,
            "threshold": self.threshold,
            "features_version": self.features_version,
            "feature_names": list(self.feature_names),
            "training": self.training,
            "metrics": self.metrics,
            "booster_sha256": hashlib.sha256(self.booster.encode()).hexdigest(),
            "booster": self.booster,
        }
        return orjson.dumps(document, option=orjson.OPT_INDENT_2)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_bytes(self.to_json() + b"\n")
        temporary.replace(path)


def default_model_path() -> Path:
    """The packaged model (detection/models/account_risk.json)."""
    return package_path("detection", "models") / MODEL_FILE_NAME


def load_model_file(path: Path | None = None) -> ModelFile:
    """The model at `path` (default: the packaged one), or a one-line ModelFileError."""
    source = path or default_model_path()
    try:
        document = orjson.loads(source.read_bytes())
    except FileNotFoundError:
        raise ModelFileError(f"model file {source} does not exist") from None
    except OSError as error:
        raise ModelFileError(f"cannot read model file {source}: {error.strerror}") from None
    except orjson.JSONDecodeError as error:
        raise ModelFileError(f"model file {source} is not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelFileError(f"model file {source} is not a {FORMAT} file")
    try:
        booster = str(document["booster"])
        model = ModelFile(
            version=str(document["version"]),
            threshold=float(document["threshold"]),
            booster=booster,
            feature_names=tuple(str(n) for n in document["feature_names"]),
            features_version=int(document["features_version"]),
            training=dict(document.get("training") or {}),
            metrics=dict(document.get("metrics") or {}),
        )
        expected_sha = str(document["booster_sha256"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"model file {source} lacks or garbles {error}") from None
    if hashlib.sha256(booster.encode()).hexdigest() != expected_sha:
        raise ModelFileError(f"model file {source} is corrupt (booster checksum differs)")
    if model.features_version != FEATURES_VERSION or model.feature_names != FEATURE_NAMES:
        raise ModelFileError(
            f"model file {source} was built for features v{model.features_version} "
            f"({len(model.feature_names)} features), this build computes "
            f"v{FEATURES_VERSION} ({len(FEATURE_NAMES)}): train it again "
            "(fraudgraph model train)"
        )
    if not 0.0 < model.threshold < 1.0:
        raise ModelFileError(f"model file {source}: threshold {model.threshold} not in (0, 1)")
    return model
