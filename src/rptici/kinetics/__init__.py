"""Kinetics: radiopharmaceutical biokinetics, checkpoint-antibody population PK and occupancy; regimens."""

from __future__ import annotations

from .antibody import (AntibodyAmounts, AntibodyModel, AntibodyParameters, antibody_model, closed_form_amounts,
                       disposition_rates, half_life_from_parameters, numerical_amounts, simulate_antibody,
                       simulate_parameters, terminal_half_life)
from .biokinetics import (Covariates, agent_parameters, biokinetic_model, body_masses_g, known_agents, lesion_names,
                          organ_masses_g, reference_anatomy)
from .compartments import Administration, CompartmentModel, SaturableUptake
from .occupancy import HalfOccupancy, affinity_to_concentration, half_occupancy, occupancy, occupancy_fraction
from .regimen import IciSchedule, Regimen, RptSchedule, Sequence, load_regimen

__all__ = [
    "AntibodyAmounts", "AntibodyModel", "AntibodyParameters", "antibody_model", "closed_form_amounts",
    "disposition_rates", "half_life_from_parameters", "numerical_amounts", "simulate_antibody",
    "simulate_parameters", "terminal_half_life",
    "Covariates", "agent_parameters", "biokinetic_model", "known_agents", "lesion_names", "organ_masses_g", "body_masses_g",
    "reference_anatomy", "Administration", "CompartmentModel", "SaturableUptake",
    "HalfOccupancy", "affinity_to_concentration", "half_occupancy", "occupancy", "occupancy_fraction",
    "IciSchedule", "Regimen", "RptSchedule", "Sequence", "load_regimen",
]
