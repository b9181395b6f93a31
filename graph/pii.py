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


# Mail providers that deliver one mailbox under two domain names.
_SAME_MAILBOX_DOMAINS = {"googlemail.com": "gmail.com"}
# A national significant number's last digits: long enough to tell subscribers apart
# within one bank, short enough that "+44 7700 900123" and "07700 900123" meet.
PHONE_DIGITS = 9
# Street words written in full or abbreviated.
_ADDRESS_WORDS = {
    "street": "st",
    "str": "st",
    "road": "rd",
    "avenue": "ave",
    "av": "ave",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "place": "pl",
    "square": "sq",
    "court": "ct",
    "apartment": "apt",
    "flat": "apt",
    "suite": "ste",
    "strasse": "st",
    "straße": "st",
}


def _email(value: str) -> str:
    """One mailbox, however it is spelled: case, a `+tag` and dots in the local part
    (which most providers ignore, and ring members vary to look distinct)."""
    folded = value.strip().casefold()
    local, at, domain = folded.rpartition("@")
    if not at or not local:
        return folded
    local = local.split("+", 1)[0].replace(".", "")
    domain = domain.rstrip(".")
    return f"{local}@{_SAME_MAILBOX_DOMAINS.get(domain, domain)}"


def _phone(value: str) -> str:
    """The number's last `PHONE_DIGITS` digits: the country code, a trunk 0 and the
    punctuation are ways of writing one line."""
    digits = _NON_DIGITS.sub("", value)
    return digits[-PHONE_DIGITS:]


def _token(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def _address(value: str) -> str:
    folded = unicodedata.normalize("NFKC", value).casefold()
    words = _NON_WORD.sub(" ", folded).split()
    return " ".join(_ADDRESS_WORDS.get(word, word) for word in words)


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
