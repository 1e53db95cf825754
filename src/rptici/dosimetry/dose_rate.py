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
* any other name: organ self-dose (:func:`organ_self_s_value`) of the compartments called ``name`` or
  ``name_*`` (``kidneys`` and ``kidneys_slow``), so red marrow of a β emitter is its own compartment's
  self-dose;
* with ``cross_dose`` (a :class:`~rptici.dosimetry.phantom.CrossDose`), every other body compartment adds its
  photon cross-dose S(T ← c) from the stylised reference phantom, scaled to each patient's body mass
  (:mod:`~rptici.dosimetry.phantom`; blood and rest of body spread over the remainder of the body, lesions
  anywhere in the body). Without it, self-dose only, as before.

Options from an agent's data file (``agent``; none of them is used by the agents that lack the block):

* ``derived_regions``: a region whose activity is a fixed ``fraction`` of that of the compartments named in
  ``from`` (``body``: every compartment that is not excretion), plus its own compartments if it has any (the
  marrow involvement of [131I]I-MIBG), organ self-dose of its mass. Red marrow by the blood-based method
  (Sgouros 1993 J Nucl Med 34:689: marrow activity concentration = RMBLR × blood concentration, so marrow
  activity = RMBLR × m_RM / m_blood × blood activity; the EANM blood dosimetry of radioiodine, Lassmann et al.
  2008 Eur J Nucl Med Mol Imaging 35:1405) and the total body (``from: body``, fraction 1);
* ``photon_cross_dose``: every organ target also gets the photon dose of the body activity outside its own
  compartments, at the whole-body mean photon S-value (a sphere of the patient's weight: the "remainder of body"
  approximation); a derived region's share of other compartments then deposits its α and electrons locally and
  its photons through this term (marrow is spread through the skeleton). For I-131, whose 364-keV photons carry
  two thirds of the energy, this is the photon term of the EANM blood-dose formula;
* ``daughters.released``: a share ``fraction`` of the decays of the listed daughters (and the energy they
  emit) that belong to activity in the ``from`` compartments happens in organ ``to`` instead (a daughter
  freed from its chelate by the α recoil, e.g. free Bi-213 of Ac-225 taken up by the kidneys); being
  short-lived, the freed daughters decay in step with the parent's activity where it was.

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
from ..physics.nuclides import EnergyPerDecay, own_energy_per_decay
from ..units import HOURS_PER_DAY
from .absorbed_dose import ENERGY_TO_DOSE_MGY_G_PER_MBQ_H, MGY_PER_GY
from .phantom import CrossDose, phantom_region, photon_cross_s_value
from .sphere import organ_self_s_value, photon_absorbed_fraction, sphere_s_value

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


def released_energy(nuclide: Nuclide, daughters: list[str]) -> EnergyPerDecay:
    """Energy (MeV) per parent decay emitted by ``daughters`` of the parent's equilibrium chain, each weighted by
    its decays per parent decay (:meth:`Nuclide.daughters_included`); a name not in the chain is an error."""
    chain = nuclide.daughters_included
    total = EnergyPerDecay()
    for name in daughters:
        if name not in chain:
            raise InputError("daughters.released.nuclides", name,
                             f"a daughter of {nuclide.name} in equilibrium: {', '.join(chain) or 'none'}")
        total = total + own_energy_per_decay(name).scaled(chain[name])
    return total


def _releases(agent: Mapping, source: Nuclide, names: tuple[str, ...]) -> list[tuple[EnergyPerDecay, float, list[int], str]]:
    """(energy, fraction, source columns, destination organ) of each ``daughters.released`` entry."""
    result = []
    for entry in (agent.get("daughters") or {}).get("released", []):
        fraction = float(entry["fraction"]["value"] if isinstance(entry["fraction"], Mapping) else entry["fraction"])
        if not 0.0 <= fraction <= 1.0:
            raise InputError("daughters.released.fraction", fraction, "a fraction in [0, 1]")
        columns = [names.index(name) for name in entry["from"] if name in names]
        if any(name.startswith("lesion") for name in entry["from"]):
            raise InputError("daughters.released.from", entry["from"], "body compartments (not lesions)")
        result.append((released_energy(source, list(entry["nuclides"])), fraction, columns, str(entry["to"])))
    return result


def _local_s(energy: EnergyPerDecay, photon_fraction: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(total, α) S-values, mGy/(MBq h), of ``energy`` deposited in ``mass``: α and electrons locally, photons
    with the absorbed fraction given."""
    per_mass = ENERGY_TO_DOSE_MGY_G_PER_MBQ_H / mass
    alpha = per_mass * energy.alpha
    return alpha + per_mass * (energy.electron + photon_fraction * energy.photon), alpha


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
                   bone_dosimetry: Mapping | None = None, derived_regions: Mapping | None = None,
                   agent: Mapping | None = None, body_masses: Mapping[str, object] | None = None,
                   cross_dose: CrossDose | None = None
                   ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(targets, S, S_α): S(T ← c) in mGy/(MBq h) per patient, arrays (patients, targets, compartments).

    A target of mass 0 (an absent lesion) gets S = 0. See the module docstring for the target rules;
    ``agent`` is the agent's data file (its ``derived_regions``, unless given, ``photon_cross_dose`` and
    ``daughters`` blocks), ``body_masses`` the patients' ``total_body`` mass in g (for ``photon_cross_dose``);
    ``cross_dose`` adds the phantom's photon cross-dose from every compartment that is not the target's own
    (not for an agent with its own ``photon_cross_dose`` block, which already counts those photons).
    """
    source = nuclide if isinstance(nuclide, Nuclide) else Nuclide(nuclide)
    agent = agent or {}
    patients, names = model.patients, model.compartments
    bone = _bone_fractions(bone_dosimetry)
    derived = derived_sources(derived_regions if derived_regions is not None else agent.get("derived_regions"), model)
    targets = tuple(str(name) for name in target_masses)
    total = np.zeros((patients, len(targets), len(names)))
    alpha = np.zeros_like(total)
    body = [index for index, name in enumerate(names) if name not in model.excretion]
    whole_body_photon = None
    if agent.get("photon_cross_dose") is not None:  # the agent's own whole-body photon term replaces the phantom's
        cross_dose = None
        if "total_body" not in (body_masses or {}):
            raise InputError("body_masses", body_masses, "the patients' total_body masses (g) for photon_cross_dose")
        weight = _masses(body_masses["total_body"], patients, "total_body")
        whole_body_photon = np.asarray(organ_self_s_value(source, weight).photon)
    own_columns: dict[str, list[int]] = {}
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
        if target.startswith("lesion"):
            columns = [model.index(target)] + [index for index, name in enumerate(names)
                                               if name.startswith(target + "_")]
            s_value = sphere_s_value(source, safe)
        else:
            columns = [index for index, name in enumerate(names)
                       if (name == target or name.startswith(target + "_")) and name not in model.excretion]
            if not columns and target not in derived:
                raise InputError("target_masses", target, f"a target with a compartment in the model ({', '.join(names)})")
            s_value = organ_self_s_value(source, safe)
        own_columns[target] = columns
        for column in columns:
            total[:, row, column] = np.asarray(s_value.total) * present
            alpha[:, row, column] = np.asarray(s_value.alpha) * present
        if cross_dose is not None:  # a derived region's own sources count as its own (their share is self-dose)
            own = set(columns) | set(derived[target][0] if target in derived else ())
            _add_cross_dose(total, row, target, own, names, model.excretion, source, cross_dose, present)
        if target.startswith("lesion"):
            continue
        if target in derived:  # with photon_cross_dose the photons of a derived share come from the whole body
            sources, fraction = derived[target]
            share = np.asarray(s_value.total) - (np.asarray(s_value.photon) if whole_body_photon is not None else 0.0)
            for column in sources:
                total[:, row, column] += share * present * fraction
                alpha[:, row, column] += np.asarray(s_value.alpha) * present * fraction
            if whole_body_photon is None:
                columns = sorted(set(columns) | set(sources))
        if whole_body_photon is not None:
            others = [column for column in body if column not in columns]
            total[:, row, others] += (whole_body_photon * present)[:, None]
    if cross_dose is not None:
        for row, target in enumerate(targets):
            if target in bone:
                _add_cross_dose(total, row, target, {names.index(name) for name in bone[target] if name in names},
                                names, model.excretion, source, cross_dose, _masses(target_masses[target], patients,
                                                                                     target) > 0)
    for energy, fraction, columns, destination in _releases(agent, source, names):
        for row, target in enumerate(targets):  # the released share leaves the organs that hold the parent
            own = own_columns.get(target, [])
            moved = [column for column in columns if column in own]
            if moved:
                mass = np.where(np.asarray(target_masses[target], float) > 0, target_masses[target], 1.0)
                mass = np.broadcast_to(np.asarray(mass, float), (patients,))
                photon = np.asarray(photon_absorbed_fraction(source, mass))
                local_total, local_alpha = _local_s(energy, photon, mass)
                total[:, row, moved] -= (fraction * local_total)[:, None]
                alpha[:, row, moved] -= (fraction * local_alpha)[:, None]
        if destination in targets:
            row = targets.index(destination)
            mass = np.broadcast_to(np.asarray(target_masses[destination], float), (patients,))
            safe = np.where(mass > 0, mass, 1.0)
            local_total, local_alpha = _local_s(energy, np.asarray(photon_absorbed_fraction(source, safe)), safe)
            total[:, row, columns] += (fraction * local_total * (mass > 0))[:, None]
            alpha[:, row, columns] += (fraction * local_alpha * (mass > 0))[:, None]
    return targets, total, alpha


def _add_cross_dose(total: np.ndarray, row: int, target: str, own: set[int], names: tuple[str, ...],
                    excretion: tuple[str, ...], nuclide: Nuclide, cross_dose: CrossDose, present: np.ndarray) -> None:
    """Add the photon cross-dose S(target ← c) of every body compartment c not in ``own`` to row ``row``."""
    target_region = phantom_region(target)
    for column, name in enumerate(names):
        source_region = phantom_region(name, excretion)
        if column in own or source_region is None:
            continue
        s = photon_cross_s_value(nuclide, target_region, source_region, cross_dose.sex, cross_dose.body_mass_kg)
        total[:, row, column] += np.asarray(s) * present


def dose_rate_modes(model: CompartmentModel, nuclide: str | Nuclide, target_masses: Mapping[str, object],
                    bone_dosimetry: Mapping | None = None, compartment: str = "blood",
                    derived_regions: Mapping | None = None, agent: Mapping | None = None,
                    body_masses: Mapping[str, object] | None = None, cross_dose: CrossDose | None = None
                    ) -> DoseRateModes:
    """Dose rate of each target per MBq administered into ``compartment``, as exponential sums.

    ``target_masses`` maps target names to masses in g (a number or one per patient); ``bone_dosimetry``
    is the agent data file's block of α absorbed fractions (Ra-223), ``derived_regions`` its block of regions
    whose activity is a fraction of some compartments' (blood-based red marrow, total body; default the
    ``agent``'s); ``agent``, ``body_masses`` and ``cross_dose`` (the reference phantom's photon cross-dose; None:
    self-dose only) as in :func:`s_value_matrix`. Linear models only.
    """
    amplitudes, rates = model.exponential_modes(compartment)
    targets, total, alpha = s_value_matrix(model, nuclide, target_masses, bone_dosimetry, derived_regions, agent,
                                           body_masses, cross_dose)
    return DoseRateModes(targets, modes_to_dose_rate(amplitudes, total), modes_to_dose_rate(amplitudes, alpha), rates)
