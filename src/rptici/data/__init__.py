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


def read_user_text(path: str | os.PathLike[str], field: str, allowed: str) -> str:
    """The text of a user's file; a missing or unreadable file, or one that is not UTF-8 text (a binary file), is
    an :class:`InputError` naming ``field`` and saying what is ``allowed``."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise InputError(field, str(path), f"{allowed}, or the path of an existing file holding it") from None
    except UnicodeDecodeError as error:
        raise InputError(field, str(path), f"a UTF-8 text file holding {allowed} (byte {error.start} is not "
                                           "text: a binary file?)") from None
    except (OSError, ValueError) as error:  # permission denied, a name with a NUL byte, ...
        reason = getattr(error, "strerror", None) or str(error)
        raise InputError(field, str(path), f"a readable file holding {allowed} ({reason})") from None


def read_mapping(source: Mapping[str, Any] | str | os.PathLike[str], field: str, allowed: str) -> Mapping[str, Any]:
    """A user's scenario: ``source`` itself if a mapping, else the YAML file it names.

    A missing file, malformed YAML or a document that is not a mapping is an :class:`InputError` naming
    ``field`` and saying what is ``allowed``.
    """
    if isinstance(source, Mapping):
        return source
    text = read_user_text(source, field, allowed)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputError(field, str(source), f"valid YAML ({str(error).splitlines()[0]})") from None
    except RecursionError:
        raise InputError(field, str(source), "valid YAML nested less deeply") from None
    if not isinstance(document, Mapping):
        raise InputError(field, str(source), f"a YAML file holding {allowed}")
    return document
