"""Render the service configuration templates under stack/assets/."""

from __future__ import annotations

import re
from pathlib import Path

from fraudgraph.paths import STACK_ASSETS_DIR
from fraudgraph.stack.errors import StackError

ASSETS_DIR = STACK_ASSETS_DIR
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def render(template: Path, destination: Path, values: dict[str, str]) -> Path:
    """Fill every {{NAME}} in `template`; a placeholder without a value is an error."""
    text = template.read_text()
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise StackError(f"{template.name}: no value for {', '.join(missing)}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(_PLACEHOLDER.sub(lambda match: values[match.group(1)], text))
    return destination
