"""Clinical trials: the registry of published RPT + ICI and monotherapy trials."""

from __future__ import annotations

from .clinicaltrials_gov import read_studies
from .registry import (
    ArmRecord,
    CaseReport,
    HazardRatio,
    IciSpec,
    RegimenStatus,
    Registry,
    RptSpec,
    TrialRecord,
    list_trials,
    regimen_mapping,
    registry,
    show_trial,
)
