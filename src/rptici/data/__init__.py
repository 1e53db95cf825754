"""Packaged data files. Every number carries its unit and source in the file itself."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@lru_cache(maxsize=None)
def load_yaml(name: str) -> Any:
    """Parse the packaged YAML file ``name`` (for example ``"tissues.yaml"``); cached, so treat as read-only."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)
