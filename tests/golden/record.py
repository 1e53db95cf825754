"""Record the golden outputs of the redesign (issue 12): the numbers before it, to compare after it.

Run once, before the redesign, from the repository root: ``python tests/golden/record.py``. It writes, beside
this file, the engine's read-outs for a fixed cohort (``engine.npz``), the patient simulation of an example
scenario (``simulate.json``), a trial summary (``trial_summary.json``), a registry replay (``replay.json``) and
a regimen dose (``regimen_dose.json``). ``tests/test_golden.py`` recomputes each and compares.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from cases import engine_case, regimen_dose_case, replay_case, simulate_case, trial_summary_case  # noqa: E402


def _plain(value):
    """JSON-ready copy (NumPy scalars and arrays to Python; NaN to None)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def main() -> None:
    np.savez_compressed(HERE / "engine.npz", **engine_case())
    with tempfile.TemporaryDirectory() as folder:
        cases = {"simulate": simulate_case(), "trial_summary": trial_summary_case(Path(folder) / "trial"),
                 "replay": replay_case(), "regimen_dose": regimen_dose_case()}
    for name, value in cases.items():
        (HERE / f"{name}.json").write_text(json.dumps(_plain(value), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
