"""Dosimetry: time–activity curves to time-integrated activity, and absorbed dose by the MIRD schema."""

from .absorbed_dose import (AbsorbedDose, SValue, absorbed_dose, absorbed_dose_components, default_alpha_rbe,
                            rbe_weighted_dose)
from .integration import TrapezoidTia, trapezoid_tia
from .measurements import PatientMeasurements, RegionMeasurements, read_measurements
from .phantom import CrossDose, organ_s_value, photon_cross_s_value, photon_saf
from .s_values import SValueTable, absorbed_doses
from .single_time_point import hanscheid_ratio, hanscheid_tia, madsen_tia
from .sphere import (alpha_absorbed_fraction, electron_absorbed_fraction, organ_self_s_value, photon_absorbed_fraction, sphere_radius_cm,
                     sphere_s_value)
from .tac import MODELS, TacFit, TacModel, TiaMonteCarlo, fit_all_models, fit_tac, select_model, tia_monte_carlo

__all__ = [
    "AbsorbedDose", "SValue", "absorbed_dose", "absorbed_dose_components", "default_alpha_rbe", "rbe_weighted_dose",
    "SValueTable", "absorbed_doses",
    "CrossDose", "organ_s_value", "photon_cross_s_value", "photon_saf",
    "alpha_absorbed_fraction", "electron_absorbed_fraction", "organ_self_s_value", "photon_absorbed_fraction", "sphere_radius_cm", "sphere_s_value",
    "MODELS", "TacFit", "TacModel", "TiaMonteCarlo", "fit_all_models", "fit_tac", "select_model", "tia_monte_carlo",
    "TrapezoidTia", "trapezoid_tia",
    "hanscheid_ratio", "hanscheid_tia", "madsen_tia",
    "PatientMeasurements", "RegionMeasurements", "read_measurements",
]
