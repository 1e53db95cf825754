"""Virtual populations: per-disease covariate distributions, sampling, and selection of virtual patients.

* :func:`sample_population` — quasi-random (Latin hypercube or Sobol) patients of one disease;
* :func:`patient_streams` — one random generator per patient, independent of chunking;
* :func:`site_hazard_ratio` — each patient's hazard ratio for death by the site of his disease;
* :func:`select_virtual_patients` — Allen et al. 2016 acceptance–rejection to match observed distributions;
* :func:`entropy_balance` / :func:`weight_population` — prevalence weights matching a trial's reported baseline
  (Hainmueller 2012), :func:`select_by_weights` — an equal-weight cohort from them.
"""

from __future__ import annotations

from .distributions import Disease, Marginal, known_diseases, load_disease
from .sampling import (METHODS, Population, mosteller_bsa, patient_streams, sample_population, site_hazard_ratio,
                       sphere_volume_mL)
from .selection import SelectionResult, select_virtual_patients
from .weighting import Weighting, entropy_balance, kish_ess, select_by_weights, weight_population

__all__ = [
    "METHODS", "Disease", "Marginal", "Population", "SelectionResult", "known_diseases", "load_disease",
    "mosteller_bsa", "patient_streams", "sample_population", "select_virtual_patients", "site_hazard_ratio",
    "sphere_volume_mL",
    "Weighting", "entropy_balance", "kish_ess", "select_by_weights", "weight_population",
]
