"""Evidence measures (rptici.analysis.evidence): each checked on a small hand-made patient table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rptici.analysis.evidence import (compare_evidence, evidence_entries, progression_size_vs_any, psa50_by_suvmean,
                                      psa_groups, psa_waterfall)
from rptici.trials.endpoints import pcwg3_psa


def test_psa_groups_follow_the_vision_waterfall_edges():
    """VISION PSA analysis (Eur Urol 2024): rise (> 0 %), fall < 50 %, 50–90 %, ≥ 90 %; an exact −50 % is a PSA50
    response (PCWG3 ≥ 50 % decline) and −90 % is in the deepest group."""
    change = pd.Series([12.0, 0.0, -49.9, -50.0, -89.9, -90.0, -99.0, np.nan])
    assert psa_groups(change).tolist() == [0, 1, 1, 2, 2, 3, 3, -1]


def test_waterfall_shares_are_of_patients_with_a_value():
    patients = pd.DataFrame({"psa_best_percent_change_12wk": [30.0, -10.0, -60.0, -95.0, -97.0, np.nan]})
    assert psa_waterfall(patients, {}) == pytest.approx([0.2, 0.2, 0.2, 0.4])


def test_psa_landmark_change_ignores_values_after_the_landmark():
    """Best PSA change by week 12: a fall at week 15 does not count; the value at exactly day 84 does."""
    times = np.array([0.0, 42.0, 84.0, 105.0])
    psa = np.array([[10.0, 8.0, 6.0, 1.0], [10.0, 12.0, 14.0, 2.0]])
    result = pcwg3_psa(times, psa)
    assert result.best_percent_change_by(84.0) == pytest.approx([-40.0, 20.0])
    assert result.best_percent_change == pytest.approx([-90.0, -80.0])


def test_psa50_by_suvmean_splits_at_the_threshold():
    patients = pd.DataFrame({"target_uptake": [12.0, 10.0, 9.9, 5.0], "psa50": [True, False, True, True]})
    assert psa50_by_suvmean(patients, {"threshold": 10}) == pytest.approx([0.5, 1.0])


def test_progression_by_size_and_by_any_rule_at_the_landmark():
    patients = pd.DataFrame({"size_progression_days": [56.0, np.nan, 168.0, np.nan],
                             "radiographic_progression_days": [56.0, 112.0, 112.0, np.nan]})
    assert progression_size_vs_any(patients, {"landmark_days": 112}) == pytest.approx([0.25, 0.75])


def test_evidence_entries_carry_sources_and_counts():
    """Every entry names a calibration trial, a source and an n; the reported values are those of
    tests/reference/rpt_response.yaml (TheraP PSA50 0.91 vs 0.52 by SUVmean 10, Buteau et al. 2022; radium-223
    PSA50 0.16 in 110 real-world patients, Prostate 2017;77:479)."""
    entries = evidence_entries()
    assert {entry["trial"] for entry in entries.values()} <= {"VISION", "TheraP", "ALSYMPCA"}
    assert entries["radium223_psa50"]["value"] == [0.16] and entries["radium223_psa50"]["n"] == 110
    assert all(entry["source"] and entry["n"] for entry in entries.values())
    assert entries["therap_psa50_by_suvmean"]["value"] == [0.91, 0.52]
    rows = compare_evidence("TheraP", pd.DataFrame({"arm": ["Lu-PSMA-617"] * 2, "status": ["ok", "ok"],
                                                      "target_uptake": [15.0, 5.0], "psa50": [True, False]}))
    assert [(row.reported, row.simulated, row.n) for row in rows] == [(0.91, 1.0, 35), (0.52, 0.0, 64)]


def test_trial_level_tolerance():
    """Wilson 95 % interval at the trial's n widened by 0.05 for rates; ×/÷ 4/3 for medians; None fails.
    VISION PSA50 0.46 in 551 (Sartor et al. 2021): Wilson interval 0.419–0.502, so 0.37–0.55 holds."""
    from rptici.analysis.tolerance import holds, tolerance_band, wilson_interval

    low, high = wilson_interval(0.46, 551)
    assert (low, high) == pytest.approx((0.4188, 0.5017), abs=5e-4)
    assert tolerance_band("fraction", 0.46, 551) == pytest.approx((low - 0.05, high + 0.05))
    assert holds("fraction", 0.46, 0.55, 551) and not holds("fraction", 0.46, 0.56, 551)
    assert holds("months", 8.7, 11.5, None) and not holds("months", 8.7, 11.7, None)
    assert not holds("months", 8.7, None, None)
