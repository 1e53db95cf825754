"""Dose rate of every target region as a sum of exponentials per MBq administered.

For a linear compartment model the activity of compartment c after 1 MBq into blood is
A_c(t) = Σ_k a_ck e^(−r_k t) (:meth:`~rptici.kinetics.compartments.CompartmentModel.exponential_modes`), so
by the MIRD schema (Bolch et al. 2009, MIRD Pamphlet 21) the dose rate of target T is

    Ḋ_T(t) = Σ_c S(T ← c) A_c(t) = Σ_k [Σ_c S(T ← c) a_ck] e^(−r_k t)

— again a sum of exponentials with the same rates. Targets:

* ``lesion_*``: the compartment of that name and its sub-compartments (``lesion_1_mineral`` of a bone
  seeker), unit-density sphere self-dose (:func:`sphere_s_value`; α energy deposited locally);
* targets listed in an agent's ``bone_dosimetry`` block (Ra-223: ``bone_surfaces``, ``red_marrow``): α
  energy from the bone compartments times the ICRP Publication 30 α absorbed fractions,
  S_α(T ← c) = k · E_α · φ(T ← c) / m_T (electron and photon parts of Ra-223, 4.7 % of the energy, are
  left out, as in the ICRP 30 α treatment);
* targets listed in an agent's ``derived_regions`` block: a region without a compartment of its own whose
  activity is a fixed ``fraction`` of that of the compartments named in ``from`` (``body``: every compartment
  that is not excretion), organ self-dose of its mass. Red marrow of the antibodies by the blood-based method
  (Sgouros 1993 J Nucl Med 34:689: marrow activity concentration = RMBLR × blood concentration, so marrow
  activity = RMBLR × m_RM / m_blood × blood activity) and the total body (``from: body``, fraction 1);
* any other name: organ self-dose (:func:`organ_self_s_value`) of the compartments called ``name`` or
  ``name_*`` (``kidneys`` and ``kidneys_slow``), so red marrow of a β emitter is its own compartment's
  self-dose.

Coefficients are in Gy/d per MBq administered, rates in 1/d; arrays (patients, targets, modes). The
simulation engine drives its ODE with these; radiobiology integrates them in closed form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..kinetics.compartments import CompartmentModel
from ..physics import Nuclide
from ..units import HOURS_PER_DAY
from .absorbed_dose import ENERGY_TO_DOSE_MGY_G_PER_MBQ_H, MGY_PER_GY
from .sphere import organ_self_s_value, sphere_s_value

#: Gy/d per (MBq × mGy/(MBq h)): 24 h/d over 1000 mGy/Gy.
GY_PER_DAY_PER_MGY_PER_H = HOURS_PER_DAY / MGY_PER_GY


@dataclass(frozen=True)
class DoseRateModes:
    """Ḋ_T(t) = Σ_k coefficients[p, T, k] e^(−rates[p, k] t) per MBq administered at t = 0.

    ``coefficients`` (Gy/d per MBq) is the absorbed dose rate; ``alpha_coefficients`` its α part, so that
    the RBE-weighted dose rate is coefficients + (RBE − 1) · alpha_coefficients (MIRD Pamphlet 22).
    """

    targets: tuple[str, ...]
    coefficients: np.ndarray
    alpha_coefficients: np.ndarray
    rates: np.ndarray

    def weighted(self, rbe: float = 1.0) -> np.ndarray:
        """RBE-weighted coefficients (Gy/d per MBq): c + (RBE − 1) c_α."""
        return self.coefficients + (rbe - 1.0) * self.alpha_coefficients

    def dose_per_activity(self, rbe: float = 1.0) -> np.ndarray:
        """Absorbed dose to infinity per MBq administered (Gy/MBq), (patients, targets): Σ_k c_k / r_k."""
        return exponential_sum_integral(self.weighted(rbe), self.rates[:, None, :])

    def index(self, target: str) -> int:
        if target not in self.targets:
            raise InputError("target", target, f"one of {', '.join(self.targets)}")
        return self.targets.index(target)


def exponential_sum_integral(coefficients: np.ndarray, rates: np.ndarray, elapsed: np.ndarray | float = np.inf
                             ) -> np.ndarray:
    """∫₀ᵗ Σ_k c_k e^(−r_k s) ds = Σ_k c_k (1 − e^(−r_k t)) / r_k (modes on the last axis; t = ∞ allowed)."""
    if np.all(np.isinf(elapsed)):
        return np.sum(coefficients / rates, axis=-1)
    return np.sum(coefficients * -np.expm1(-rates * np.asarray(elapsed)) / rates, axis=-1)


def modes_to_dose_rate(amplitudes: np.ndarray, s_matrix: np.ndarray) -> np.ndarray:
    """Dose-rate coefficients (Gy/d per MBq) from activity amplitudes a[p, c, k] (MBq/MBq) and
    S[p, T, c] (mGy/(MBq h)): Σ_c S(T ← c) a_ck × 24/1000."""
    return np.einsum("ptc,pck->ptk", s_matrix, amplitudes) * GY_PER_DAY_PER_MGY_PER_H


def _masses(value, patients: int, name: str) -> np.ndarray:
    mass = np.broadcast_to(np.asarray(value, dtype=float), (patients,)) if np.ndim(value) <= 1 else None
    if mass is None or np.any(~np.isfinite(mass)) or np.any(mass < 0):
        raise InputError(f"target_masses.{name}", value, f"masses >= 0 g, a number or one per patient ({patients})")
    return mass


def _bone_fractions(bone_dosimetry: Mapping | None) -> dict[str, dict[str, float]]:
    if not bone_dosimetry:
        return {}
    fractions = bone_dosimetry.get("alpha_absorbed_fractions")
    if not isinstance(fractions, Mapping):
        raise InputError("bone_dosimetry.alpha_absorbed_fractions", fractions, "a mapping target -> source -> fraction")
    result = {}
    for target, sources in fractions.items():
        result[str(target)] = {}
        for source, entry in sources.items():
            value = float(entry["value"] if isinstance(entry, Mapping) else entry)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"bone_dosimetry.{target}.{source}", value, "an absorbed fraction in [0, 1]")
            result[str(target)][str(source)] = value
    return result


def derived_sources(derived_regions: Mapping | None, model: CompartmentModel) -> dict[str, tuple[list[int], float]]:
    """Per derived region (data file block ``derived_regions``): the source compartments' indices and the fraction
    of their activity that is in the region."""
    result: dict[str, tuple[list[int], float]] = {}
    names = model.compartments
    for region, entry in (derived_regions or {}).items():
        sources = entry.get("from") if isinstance(entry, Mapping) else None
        if sources == "body":
            columns = [index for index, name in enumerate(names) if name not in model.excretion]
        elif isinstance(sources, (list, tuple)) and sources and all(name in names for name in sources):
            columns = [names.index(name) for name in sources]
        else:
            raise InputError(f"derived_regions.{region}.from", sources, "'body' or a list of compartments of the model ("
                             + ", ".join(names) + ")")
        fraction = entry.get("fraction", 1.0)
        value = float(fraction["value"] if isinstance(fraction, Mapping) else fraction)
        if not 0.0 < value <= 1.0:
            raise InputError(f"derived_regions.{region}.fraction", value, "a fraction of activity in (0, 1]")
        result[str(region)] = (columns, value)
    return result


def s_value_matrix(model: CompartmentModel, nuclide: str | Nuclide, target_masses: Mapping[str, object],
                   bone_dosimetry: Mapping | None = None, derived_regions: Mapping | None = None
                   ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(targets, S, S_α): S(T ← c) in mGy/(MBq h) per patient, arrays (patients, targets, compartments).

    A target of mass 0 (an absent lesion) gets S = 0. See the module docstring for the target rules.
    """
    source = nuclide if isinstance(nuclide, Nuclide) else Nuclide(nuclide)
    patients, names = model.patients, model.compartments
    bone = _bone_fractions(bone_dosimetry)
    derived = derived_sources(derived_regions, model)
    targets = tuple(str(name) for name in target_masses)
    total = np.zeros((patients, len(targets), len(names)))
    alpha = np.zeros_like(total)
    for row, target in enumerate(targets):
        mass = _masses(target_masses[target], patients, target)
        present = mass > 0
        safe = np.where(present, mass, 1.0)
        if target in bone:
            per_mass = ENERGY_TO_DOSE_MGY_G_PER_MBQ_H * source.energy_per_decay.alpha / safe * present
            for compartment, fraction in bone[target].items():
                if compartment in names:
                    column = names.index(compartment)
                    alpha[:, row, column] = total[:, row, column] = per_mass * fraction
            continue
        if target in derived:
            columns, fraction = derived[target]
            s_value = organ_self_s_value(source, safe)
            for column in columns:
                total[:, row, column] = np.asarray(s_value.total) * present * fraction
                alpha[:, row, column] = np.asarray(s_value.alpha) * present * fraction
            continue
        if target.startswith("lesion"):
            columns = [model.index(target)] + [index for index, name in enumerate(names)
                                               if name.startswith(target + "_")]
            s_value = sphere_s_value(source, safe)
        else:
            columns = [index for index, name in enumerate(names)
                       if (name == target or name.startswith(target + "_")) and name not in model.excretion]
            if not columns:
                raise InputError("target_masses", target, f"a target with a compartment in the model ({', '.join(names)})")
            s_value = organ_self_s_value(source, safe)
        for column in columns:
            total[:, row, column] = np.asarray(s_value.total) * present
            alpha[:, row, column] = np.asarray(s_value.alpha) * present
    return targets, total, alpha


def dose_rate_modes(model: CompartmentModel, nuclide: str | Nuclide, target_masses: Mapping[str, object],
                    bone_dosimetry: Mapping | None = None, compartment: str = "blood",
                    derived_regions: Mapping | None = None) -> DoseRateModes:
    """Dose rate of each target per MBq administered into ``compartment``, as exponential sums.

    ``target_masses`` maps target names to masses in g (a number or one per patient); ``bone_dosimetry``
    is the agent data file's block of α absorbed fractions (Ra-223), ``derived_regions`` its block of regions
    whose activity is a fraction of some compartments' (blood-based red marrow, total body). Linear models only.
    """
    amplitudes, rates = model.exponential_modes(compartment)
    targets, total, alpha = s_value_matrix(model, nuclide, target_masses, bone_dosimetry, derived_regions)
    return DoseRateModes(targets, modes_to_dose_rate(amplitudes, total), modes_to_dose_rate(amplitudes, alpha), rates)
