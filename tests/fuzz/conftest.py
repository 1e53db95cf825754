"""The fuzz suite's rules: a RuntimeWarning (overflow, invalid value) is a failure, as a traceback is (issue 19: a
finite ``interval: 1e306 d`` times 6 cycles overflowed with only a warning); and the number of inputs actually
generated is reported at the end of the run (issue 19, must show: at least 10,000 within CI's budget)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.filterwarnings("error::RuntimeWarning"))


def pytest_terminal_summary(terminalreporter):
    from fuzz_inputs import BUDGETS, GENERATED, fuzz_profile

    if GENERATED:
        terminalreporter.write_line(
            f"fuzz: {sum(GENERATED.values()):,} generated inputs in {len(GENERATED)} of {len(BUDGETS)} fuzz tests "
            f"(profile {fuzz_profile()}, RPTICI_FUZZ_PROFILE; budgets of the suite at profile ci: "
            f"{sum(BUDGETS.values()):,})")
