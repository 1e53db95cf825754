"""Packaged data files. Every number carries its unit and source in the file itself."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError


@lru_cache(maxsize=None)
def load_yaml(name: str) -> Any:
    """Parse the packaged YAML file ``name`` (for example ``"tissues.yaml"``); cached, so treat as read-only."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def read_mapping(source: Mapping[str, Any] | str | os.PathLike[str], field: str, allowed: str) -> Mapping[str, Any]:
    """A user's scenario: ``source`` itself if a mapping, else the YAML file it names.

    A missing file, malformed YAML or a document that is not a mapping is an :class:`InputError` naming
    ``field`` and saying what is ``allowed``.
    """
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    if not path.is_file():
        raise InputError(field, str(source), f"{allowed}, or the path of a YAML file holding one")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InputError(field, str(path), f"valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(document, Mapping):
        raise InputError(field, str(path), f"a YAML file holding {allowed}")
    return document
