"""Keyed hashing of personal identifiers, so shared ones can be linked but never read.

HMAC-SHA256 with a secret key: without the key a hash cannot be reversed or
recomputed from a guessed value (a plain hash of a phone number can be brute-forced).
Values are normalised first so trivially different spellings link.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from fraudgraph.errors import ConfigError

_NON_DIGITS = re.compile(r"\D+")
_SEPARATORS = re.compile(r"[\s\-./]+")
_NON_WORD = re.compile(r"[^\w]+")
MIN_KEY_LENGTH = 16


def _email(value: str) -> str:
    return value.strip().casefold()


def _phone(value: str) -> str:
    return _NON_DIGITS.sub("", value)


def _token(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def _address(value: str) -> str:
    folded = unicodedata.normalize("NFKC", value).casefold()
    return _NON_WORD.sub(" ", folded).strip()


NORMALISERS: dict[str, Callable[[str], str]] = {
    "email": _email,
    "phone": _phone,
    "token": _token,
    "address": _address,
}


class PiiHasher:
    def __init__(self, key: str) -> None:
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(
                "the PII hash key (FRAUDGRAPH_PII_KEY) must have at least "
                f"{MIN_KEY_LENGTH} characters"
            )
        self._key = key.encode()

    def digest(self, normaliser: str, values: Sequence[Any]) -> str | None:
        """Hash of the normalised values; None if any is missing or normalises to nothing."""
        normalise = NORMALISERS[normaliser]
        parts = []
        for value in values:
            if value is None:
                return None
            part = normalise(str(value))
            if not part:
                return None
            parts.append(part)
        message = "\x1f".join(parts).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]
