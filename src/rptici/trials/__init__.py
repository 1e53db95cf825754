"""Clinical trials: endpoints (RECIST 1.1, PCWG3, survival), toxicity and its attribution, and the registry."""

from __future__ import annotations

from .clinicaltrials_gov import read_studies
from .endpoints import (COMPLETE_RESPONSE, NOT_EVALUABLE, PARTIAL_RESPONSE, PROGRESSIVE_DISEASE, RESPONSE_LABELS,
                        STABLE_DISEASE, PsaResult, RecistResult, SurvivalParameters, background_hazard,
                        bone_scan_progression, censoring_times, days_per_month, death_hazard, death_times,
                        dropout_times, pcwg3_psa, recist, time_to_event, to_days, to_months)
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
from .toxicity import (CAUSES, CHECKPOINT_CLASSES, ToxicityResult, attribute_toxicity, blood_count_grade,
                       blood_count_nadir, grade_decreased_count, immune_adverse_events, immune_rate,
                       lymphopenia_grade, ntcp_grade, radiation_toxicity)
from .scenario import ArmSpec, Calibration, TrialScenario, load_calibration, load_trial_scenario
from .run import TrialRun, run_trial, simulate_trial
