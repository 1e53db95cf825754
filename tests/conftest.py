"""Shared fixtures: the published reference numbers in ``shared/reference`` (beside the repository)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

#: The repository sits beside ``shared/`` (here /work/main and /work/shared; in CI the clone and a copy).
REFERENCE_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "reference"


@lru_cache(maxsize=None)
def _load_reference(name: str) -> Any:
    path = REFERENCE_FOLDER / name
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing: the tests compare against shared/reference beside the repository")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def reference() -> Callable[[str], Any]:
    """``reference("dosimetry.yaml")`` -> the parsed reference file (read-only)."""
    return _load_reference
