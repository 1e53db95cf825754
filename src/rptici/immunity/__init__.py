"""Immunity: the tumour–immune–checkpoint model (one table, its equations, linear parts, covariates → parameters,
observables) and its parameter sets."""

from __future__ import annotations

from .model import (COVARIATES, GLOBAL_PARAMETERS, LESION_PARAMETERS, LESION_STATES, MAX_LESIONS, MODEL,
                    SWITCH_EQUIVALENTS, SYSTEMIC_STATES, ImmunityCovariates, ModelLayout, TumourImmuneModel,
                    initial_state, jit, observables, parameter_vector, rhs)
from .parameters import (PARAMETER_UNITS, SPECIES, SWITCHES, AntibodyValues, ImmunityParameters, load_parameters)
from .table import TABLE, ModelTable, Observable, Parameter, State, Switch

__all__ = [
    "COVARIATES", "GLOBAL_PARAMETERS", "LESION_PARAMETERS", "LESION_STATES", "MAX_LESIONS", "MODEL",
    "SWITCH_EQUIVALENTS", "SYSTEMIC_STATES", "ImmunityCovariates", "ModelLayout", "TumourImmuneModel",
    "initial_state", "jit", "observables", "parameter_vector", "rhs",
    "PARAMETER_UNITS", "SPECIES", "SWITCHES", "AntibodyValues", "ImmunityParameters", "load_parameters",
    "TABLE", "ModelTable", "Observable", "Parameter", "State", "Switch",
]
