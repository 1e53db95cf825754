"""Target occupancy (engagement) of PD-1, PD-L1 or CTLA-4 by a checkpoint antibody.

occupancy = C / (C + K), the equilibrium fraction of target bound for a ligand in excess
(law of mass action, Hill coefficient 1). K is taken, in this order of preference, from

1. a functional in-vivo/ex-vivo potency (IC50, ug/mL), which already includes the assay's
   conditions: for pembrolizumab the ex vivo IL-2 stimulation IC50 of 0.535 ug/mL
   (Elassaiss-Schaap et al. 2017, CPT Pharmacometrics Syst Pharmacol 6:21);
2. the binding affinity KD (nM), converted with the molecular weight:
   K [ug/mL] = KD [nM] x MW [kDa] x 1e-3 (1 nM of a 1 kDa protein is 1e-9 mol/L x 1e3 g/mol = 1e-3 ug/mL).

Both numbers and their sources live in the catalogue (``checkpoint_inhibitors.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rptici.data.catalogue import CheckpointInhibitor, checkpoint_inhibitor
from rptici.errors import InputError

#: ug/mL per (nM x kDa): 1 nM of a 1 kDa protein is 1e-9 mol/L x 1e3 g/mol = 1e-6 g/L = 1e-3 ug/mL.
UG_PER_ML_PER_NM_KDA = 1e-3


@dataclass(frozen=True)
class HalfOccupancy:
    """The concentration at half occupancy (ug/mL), how it was obtained, and its source."""

    concentration_ug_per_mL: float
    basis: Literal["ic50", "affinity"]
    source: str


def affinity_to_concentration(affinity_nM: float, molecular_weight_kDa: float) -> float:
    """A molar dissociation constant (nM) as a mass concentration (ug/mL) for a protein of the given weight."""
    return affinity_nM * molecular_weight_kDa * UG_PER_ML_PER_NM_KDA


def half_occupancy(agent: str | CheckpointInhibitor) -> HalfOccupancy:
    """K of ``agent``: its functional IC50 where the catalogue has one, else KD converted to ug/mL."""
    entry = agent if isinstance(agent, CheckpointInhibitor) else checkpoint_inhibitor(agent)
    binding = entry.binding
    if binding.ic50_ug_per_mL is not None:
        return HalfOccupancy(binding.ic50_ug_per_mL, "ic50", binding.source)
    if binding.affinity_nM is not None:
        return HalfOccupancy(affinity_to_concentration(binding.affinity_nM, entry.molecular_weight_kDa),
                             "affinity", f"{binding.source}; molecular weight: {entry.molecular_weight_source}")
    raise InputError("agent", entry.name, "a checkpoint antibody with a binding affinity or IC50 in the catalogue "
                                          "(checkpoint_inhibitors.yaml, field binding)")


def occupancy_fraction(concentration: object, half_occupancy_ug_per_mL: float) -> np.ndarray:
    """C / (C + K) for concentrations C (ug/mL, any shape, negative values treated as 0)."""
    concentration = np.maximum(np.asarray(concentration, dtype=float), 0.0)
    return concentration / (concentration + half_occupancy_ug_per_mL)


def occupancy(concentration: object, agent: str | CheckpointInhibitor) -> np.ndarray:
    """Fraction of the target of ``agent`` (PD-1, PD-L1 or CTLA-4) bound at serum concentration (ug/mL)."""
    return occupancy_fraction(concentration, half_occupancy(agent).concentration_ug_per_mL)
