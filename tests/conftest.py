"""Shared fixtures: the published reference numbers in ``tests/reference`` (copies of the project's reference
files, each number with its unit and source), so that ``make test`` runs from a plain clone."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

#: The reference files travel with the tests (tests/reference/README.md says where they come from).
REFERENCE_FOLDER = Path(__file__).resolve().parent / "reference"


@lru_cache(maxsize=None)
def _load_reference(name: str) -> Any:
    path = REFERENCE_FOLDER / name
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing: the tests compare against the copies in tests/reference")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def reference() -> Callable[[str], Any]:
    """``reference("dosimetry.yaml")`` -> the parsed reference file (read-only)."""
    return _load_reference
