"""Replays of registry trials: arms, reported endpoints, simulated values with CIs, CLI JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rptici.analysis.replay import (COMBINATION_ARM, RPT_ALONE_ARM, population_for, replay, replay_arms,
                                    reported_endpoints)
from rptici.cli import app
from rptici.trials import registry


def test_prince_arms_and_reported_values():
    """PRINCE (Sandhu et al. 2022 J Clin Oncol 40(16 suppl):5017): PSA50 76 % with pembrolizumab, about 46 %
    for Lu-PSMA-617 alone; median rPFS 11.2 and OS 17.8 months."""
    record = registry().get("PRINCE")
    arms = replay_arms(record)
    assert [arm.name for arm in arms] == [COMBINATION_ARM, RPT_ALONE_ARM]
    assert "ici" not in arms[1].regimen and arms[1].control
    rows = {(row["arm"], row["endpoint"]): row["reported"] for row in reported_endpoints(record)}
    assert rows[(COMBINATION_ARM, "psa50")] == pytest.approx(0.76)
    assert rows[(RPT_ALONE_ARM, "psa50")] == pytest.approx(0.46)
    assert rows[(COMBINATION_ARM, "median_rpfs")] == pytest.approx(11.2)


def test_populations_and_randomised_arms():
    """NCT03325816 enrolled extensive-stage SCLC and lung NET (replayed as SCLC); NCT03093428 reported medians
    per arm (Choudhury et al. 2024: rPFS 6.1 vs 5.7 months)."""
    assert population_for(registry().get("NCT03325816")) == "sclc"
    assert population_for(registry().get("NETTER-1")) == "gep_net"
    rows = {(row["arm"], row["endpoint"]): row["reported"] for row in reported_endpoints(registry().get("NCT03093428"))}
    assert rows[(COMBINATION_ARM, "median_rpfs")] == 6.1 and rows[(RPT_ALONE_ARM, "median_rpfs")] == 5.7


def test_small_prince_replay_has_simulated_values_inside_their_intervals():
    result = replay("PRINCE", patients=30, seed=2)
    assert result["summary"]["patients"] == 30
    for row in result["endpoints"]:
        if row["simulated"] is not None and row["low"] is not None and row["high"] is not None:
            assert row["low"] - 1e-9 <= row["simulated"] <= row["high"] + 1e-9


def test_cli_replay_json():
    outcome = CliRunner().invoke(app, ["registry", "replay", "NCT03658447", "--patients", "20", "--seed", "1", "--json"])
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.output)
    endpoints = {(row["arm"], row["endpoint"]) for row in document["endpoints"]}
    assert (COMBINATION_ARM, "psa50") in endpoints and document["trial"] == "NCT03658447"
