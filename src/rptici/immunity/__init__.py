"""Immunity: the tumour–immune–checkpoint equations (per-patient right-hand side, layout, parameters)."""

from __future__ import annotations

from .model import (COVARIATES, GLOBAL_PARAMETERS, LESION_PARAMETERS, LESION_STATES, MAX_LESIONS, SWITCH_EQUIVALENTS,
                    SYSTEMIC_STATES, ImmunityCovariates, ModelLayout, initial_state, jit, observables,
                    parameter_vector, rhs)
from .parameters import (PARAMETER_UNITS, SPECIES, SWITCHES, AntibodyValues, ImmunityParameters, load_parameters)

__all__ = [
    "COVARIATES", "GLOBAL_PARAMETERS", "LESION_PARAMETERS", "LESION_STATES", "MAX_LESIONS", "SWITCH_EQUIVALENTS",
    "SYSTEMIC_STATES", "ImmunityCovariates", "ModelLayout", "initial_state", "jit", "observables",
    "parameter_vector", "rhs",
    "PARAMETER_UNITS", "SPECIES", "SWITCHES", "AntibodyValues", "ImmunityParameters", "load_parameters",
]
