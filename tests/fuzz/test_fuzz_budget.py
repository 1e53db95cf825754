"""The fuzz suite's size (issue 19, must show: at least 10,000 generated inputs across the suite within CI's budget).

The budgets are what CI runs (profile ``ci``); the inputs actually generated are counted where hypothesis calls each
test body and reported at the end of every pytest run (``fuzz: N generated inputs``). Measured in
``benchmarks/fuzz_budget.md``."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fuzz_inputs
from fuzz_inputs import BUDGETS, GENERATED, SUITE_BUDGET, fuzz_settings

FUZZ_MODULES = ("test_fuzz_scenarios", "test_fuzz_files", "test_fuzz_cli", "test_fuzz_dashboard")


def test_the_budgets_of_the_suite_reach_ten_thousand_inputs():
    pytest.importorskip("fastapi")  # the dashboard's fuzz needs the web extra, as CI installs it
    for name in FUZZ_MODULES:
        importlib.import_module(name)
    per_module = {name: sum(budget for test, budget in BUDGETS.items() if test.startswith(f"{name}::"))
                  for name in FUZZ_MODULES}
    assert all(per_module.values()), per_module  # every schema, the CLI and the dashboard are fuzzed
    assert sum(BUDGETS.values()) >= SUITE_BUDGET, per_module


def test_every_generated_input_is_counted(monkeypatch):
    monkeypatch.setenv("RPTICI_FUZZ_PROFILE", "ci")
    seen = []

    @fuzz_settings(37)
    @given(st.integers())
    def probe(number):
        seen.append(number)

    before = GENERATED[f"{__name__}::probe"]
    probe()
    assert len(seen) == 37  # max_examples reached: the integers never run out
    assert GENERATED[f"{__name__}::probe"] - before == 37
    BUDGETS.pop(f"{__name__}::probe")  # not a test of the suite
    GENERATED.pop(f"{__name__}::probe")


@pytest.mark.parametrize("profile, examples", [("quick", 4), ("deep", 370)])
def test_a_profile_scales_every_budget(monkeypatch, profile, examples):
    monkeypatch.setenv("RPTICI_FUZZ_PROFILE", profile)
    seen = []

    @fuzz_settings(37)
    @given(st.integers())
    def probe(number):
        seen.append(number)

    probe()
    assert len(seen) == examples
    BUDGETS.pop(f"{__name__}::probe")
    GENERATED.pop(f"{__name__}::probe")


def test_an_unknown_profile_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv("RPTICI_FUZZ_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"^RPTICI_FUZZ_PROFILE: got 'fast'; expected one of quick, ci, deep$"):
        fuzz_inputs.fuzz_profile()
