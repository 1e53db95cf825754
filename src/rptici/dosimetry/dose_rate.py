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
  self-dose.

Options from an agent's data file (``agent``, none of them used by the agents that lack the block):

* ``photon_cross_dose``: the target ``total_body`` is every body compartment in a unit-density sphere of the
  patient's weight, and every organ target also gets the photon dose of the activity outside it, at the
  whole-body mean photon S-value (the "remainder of body" approximation; for I-131, whose 364-keV photons carry
  two thirds of the energy, the photon part of the EANM blood-dose formula, Lassmann et al. 2008 Eur J Nucl Med
  Mol Imaging 35:1405, is this term);
* ``blood_dosimetry``: its ``targets`` (red marrow) get the local (α, electron) energy of the ``blood``
  compartment at the activity concentration of blood × ``marrow_to_blood_ratio``, S = k E_local r / m_blood
  (Sgouros 1993 J Nucl Med 34:689; EANM blood dosimetry);
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


def s_value_matrix(model: CompartmentModel, nuclide: str | Nuclide, target_masses: Mapping[str, object],
                   bone_dosimetry: Mapping | None = None, agent: Mapping | None = None,
                   body_masses: Mapping[str, object] | None = None) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(targets, S, S_α): S(T ← c) in mGy/(MBq h) per patient, arrays (patients, targets, compartments).

    A target of mass 0 (an absent lesion) gets S = 0. See the module docstring for the target rules;
    ``agent`` is the agent's data file (its ``photon_cross_dose``, ``blood_dosimetry`` and ``daughters``
    blocks), ``body_masses`` the patients' ``total_body`` and ``blood`` masses in g (needed by those blocks).
    """
    source = nuclide if isinstance(nuclide, Nuclide) else Nuclide(nuclide)
    agent = agent or {}
    patients, names = model.patients, model.compartments
    bone = _bone_fractions(bone_dosimetry)
    targets = tuple(str(name) for name in target_masses)
    total = np.zeros((patients, len(targets), len(names)))
    alpha = np.zeros_like(total)
    body = [index for index, name in enumerate(names) if name not in model.excretion]
    cross = agent.get("photon_cross_dose") is not None
    blood_block = agent.get("blood_dosimetry") or {}
    blood_targets = tuple(blood_block.get("targets", ()))
    needs = (("total_body",) if cross else ()) + (("blood",) if blood_targets else ())
    masses_of_body = {name: _masses((body_masses or {}).get(name), patients, name) if name in (body_masses or {})
                      else None for name in needs}
    for name in needs:
        if masses_of_body[name] is None:
            raise InputError("body_masses", name, "the patients' total_body and blood masses (g) for this agent")
    whole_body_photon = (np.asarray(organ_self_s_value(source, masses_of_body["total_body"]).photon) if cross
                         else None)
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
        if target == "total_body" and cross:
            s_value = organ_self_s_value(source, safe)
            total[:, row, body] = (np.asarray(s_value.total) * present)[:, None]
            alpha[:, row, body] = (np.asarray(s_value.alpha) * present)[:, None]
            continue
        if target.startswith("lesion"):
            columns = [model.index(target)] + [index for index, name in enumerate(names)
                                               if name.startswith(target + "_")]
            s_value = sphere_s_value(source, safe)
        else:
            columns = [index for index, name in enumerate(names)
                       if (name == target or name.startswith(target + "_")) and name not in model.excretion]
            if not columns and target not in blood_targets:
                raise InputError("target_masses", target, f"a target with a compartment in the model ({', '.join(names)})")
            s_value = organ_self_s_value(source, safe)
        own_columns[target] = columns
        for column in columns:
            total[:, row, column] = np.asarray(s_value.total) * present
            alpha[:, row, column] = np.asarray(s_value.alpha) * present
        if target.startswith("lesion"):
            continue
        if target in blood_targets:
            ratio = float(blood_block["marrow_to_blood_ratio"]["value"])
            local_total, local_alpha = _local_s(source.energy_per_decay, np.zeros(patients), masses_of_body["blood"])
            for column in [index for index, name in enumerate(names) if name == "blood"]:
                total[:, row, column] += ratio * local_total * present
                alpha[:, row, column] += ratio * local_alpha * present
        if cross:
            others = [column for column in body if column not in columns]
            total[:, row, others] += (whole_body_photon * present)[:, None]
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


def dose_rate_modes(model: CompartmentModel, nuclide: str | Nuclide, target_masses: Mapping[str, object],
                    bone_dosimetry: Mapping | None = None, compartment: str = "blood", agent: Mapping | None = None,
                    body_masses: Mapping[str, object] | None = None) -> DoseRateModes:
    """Dose rate of each target per MBq administered into ``compartment``, as exponential sums.

    ``target_masses`` maps target names to masses in g (a number or one per patient); ``bone_dosimetry``
    is the agent data file's block of α absorbed fractions (Ra-223); ``agent`` and ``body_masses`` as in
    :func:`s_value_matrix`. Linear models only.
    """
    amplitudes, rates = model.exponential_modes(compartment)
    targets, total, alpha = s_value_matrix(model, nuclide, target_masses, bone_dosimetry, agent, body_masses)
    return DoseRateModes(targets, modes_to_dose_rate(amplitudes, total), modes_to_dose_rate(amplitudes, alpha), rates)
