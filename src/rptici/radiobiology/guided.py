"""Dosimetry-guided activities: each patient's RPT activities chosen to reach an organ target over the course.

The schedule (:class:`rptici.kinetics.regimen.GuidedDosing`) names the organ, the quantity (BED, RBE-weighted
dose or EQD2), the target (default: the organ's limit in ``data/tissues.yaml``, kidney BED 40 Gy after Bodei et
al. 2008), the basis (cycle-1 dosimetry or pre-therapy PET) and what is adjusted (activity or number of cycles).

For linear biokinetics each patient's RBE-weighted dose per MBq ``d`` and Lea–Catcheside factor ``G`` of the organ
do not depend on the activity, and cycles weeks apart add (:func:`rptici.radiobiology.bed.bed_cycles`):
a cycle of activity A gives BED b(A) = dA (1 + G dA/(α/β)). With cycle 1 given at A₁ and the remaining n − 1
cycles at a common A, the target T is met when (n − 1) b(A) = T − b(A₁), a quadratic in A:

    A = [−1 + √(1 + 4 G R / ((n − 1)(α/β)))] (α/β) / (2 G d),   R = T − b(A₁)  (A = R / ((n − 1) d) when G = 0),

and A = 0 (no further cycle) when cycle 1 alone reaches the target. A dose target is the same with G = 0; an
EQD2 target is the BED target T (1 + 2/(α/β)). By default the dosimetry is exact: the measured dose per GBq is
the model's (no SPECT or PET error, which favours guided dosing). With ``error`` σ > 0 the activity is chosen from
a measured d·exp(σz), z a standard normal per patient (:func:`rptici.seeds.dosimetry_normals`, keyed on the
patient's covariates so that the trial's organ doses and the engine draw the same error), and the organ receives
what the true d gives: the course's BED then scatters around the target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import hashlib

from .. import seeds
from ..errors import InputError
from .tissues import tissue


#: Relative amount by which an activity-adjusted course aims under its target: float rounding of the BED sum
#: (about 1e-15) then never puts a patient guided to a limit over it.
TARGET_SHORTFALL = 1e-12


def target_limit(region: str, quantity: str) -> tuple[float, str]:
    """The target (Gy) and its source for ``quantity`` of ``region`` when the schedule gives none: the smallest
    limit of that quantity in ``data/tissues.yaml`` that applies to every patient; for EQD2 without an EQD2 limit,
    the BED limit as EQD2 (BED / (1 + 2/(α/β)))."""
    entry = tissue(region)

    def smallest(kind: str):
        limits = [item for item in entry.limits.values() if item.quantity == kind and item.applies_to is None]
        return min(limits, key=lambda item: item.value) if limits else None

    chosen = smallest(quantity)
    if chosen is not None:
        return float(chosen.value), chosen.source
    if quantity == "eqd2" and smallest("bed") is not None:
        chosen = smallest("bed")
        return float(chosen.value) / (1 + 2 / entry.alpha_beta), chosen.source
    raise InputError("rpt.guided.target", None, f"a target such as '40 Gy': data/tissues.yaml has no {quantity} "
                                                f"limit for {entry.name} that applies to every patient")


def cycle_activity_for(remaining_Gy: np.ndarray, cycles: int, dose_per_MBq: np.ndarray, g: np.ndarray,
                       alpha_beta: float) -> np.ndarray:
    """The common activity (MBq) of ``cycles`` cycles whose summed BED is ``remaining_Gy`` (module docstring);
    0 where nothing remains or the organ takes no dose."""
    remaining = np.maximum(np.asarray(remaining_Gy, float), 0.0)
    d = np.asarray(dose_per_MBq, float)
    g = np.asarray(g, float)
    if cycles <= 0:
        return np.zeros_like(remaining)
    quadratic = g * d * d / alpha_beta * cycles
    linear = d * cycles
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(quadratic > 1e-300,
                        2 * remaining / (linear + np.sqrt(linear * linear + 4 * quadratic * remaining)),
                        remaining / np.where(linear > 0, linear, 1.0))
    return np.where((d > 0) & (remaining > 0), root, 0.0)


def organ_response(regimen: Any, covariates: Any, region: str, sex: str = "male", rbe: float | None = None,
                   site_selective: bool = False, cross_dose: bool = False) -> tuple[np.ndarray, np.ndarray, float, str]:
    """(RBE-weighted dose per MBq (Gy/MBq), G, α/β (Gy), tissue name) of ``region`` for each patient: the
    dosimetry of one administration, independent of the activity (linear biokinetics). ``cross_dose``: with the
    phantom's photon cross-dose (as ``regimen_dose`` by default) or self-dose only (as the trial runner), so that
    a course is planned on the dosimetry that then reports it."""
    from .regimen_dose import regimen_dose

    wanted = tissue(region).name
    unguided = regimen.model_copy(update={"rpt": regimen.rpt.model_copy(update={"guided": None})})
    result = regimen_dose(unguided, covariates, times=np.array([0.0]), sex=sex, rbe=rbe,
                          site_selective=site_selective, antibody=False, cross_dose=cross_dose)
    columns = [index for index, name in enumerate(result.tissues) if name == wanted
               and not result.targets[index].startswith("lesion")]
    if not columns:
        organs = sorted({name for name, target in zip(result.tissues, result.targets) if not target.startswith("lesion")})
        raise InputError("rpt.guided.region", region, f"an organ that {result.agent} irradiates: " + ", ".join(organs))
    column = columns[0]
    total = result.total_activity_MBq
    per_MBq = np.where(total > 0, result.rbe_weighted_dose_Gy[:, column] / np.where(total > 0, total, 1.0), 0.0)
    return per_MBq, result.g_factor[:, column], float(tissue(wanted).alpha_beta), wanted


def patient_keys(covariates: Any) -> list[int]:
    """A key per patient from their weight, GFR and target uptake (10 significant digits): the same patient gets the
    same key whatever the batch or the caller."""
    columns = [np.broadcast_to(np.asarray(value, dtype=float), (covariates.patients,))
               for value in (covariates.weight_kg, covariates.gfr_mL_per_min, covariates.target_uptake_scale)]
    return [int.from_bytes(hashlib.sha256("|".join(f"{value:.9e}" for value in row).encode()).digest()[:8], "little")
            for row in zip(*columns)]


def guided_administrations(regimen: Any, covariates: Any, sex: str = "male", rbe: float | None = None,
                           site_selective: bool = False, cross_dose: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(times in days (cycles,), activities in MBq (cycles, patients)) of ``regimen`` for ``covariates``: the
    schedule's own without guided dosing, else each patient's guided activities (module docstring)."""
    times, nominal = regimen.rpt_administrations(covariates.weight_kg, covariates.bsa_m2)
    guided = None if regimen.rpt is None else regimen.rpt.guided
    if guided is None:
        return times, nominal
    per_MBq, g, alpha_beta, _ = organ_response(regimen, covariates, guided.region, sex, rbe, site_selective,
                                               cross_dose)
    target = guided.target_Gy if guided.target_Gy is not None else target_limit(guided.region, guided.quantity)[0]
    if guided.quantity == "eqd2":
        target = target * (1 + 2 / alpha_beta)
    if guided.quantity == "dose":
        g = np.zeros_like(g)
    activities = np.array(nominal, dtype=float)
    cycles = activities.shape[0]
    if guided.error > 0:  # what the dosimetry measures; the organ receives what per_MBq gives (regimen_dose)
        per_MBq = per_MBq * np.exp(guided.error * seeds.dosimetry_normals(guided.error_seed, patient_keys(covariates)))

    def bed(activity: np.ndarray) -> np.ndarray:
        dose = per_MBq * activity
        return dose * (1 + g * dose / alpha_beta)

    if guided.adjust == "cycles":
        given = np.zeros_like(per_MBq)
        for cycle in range(cycles):
            step = bed(activities[cycle])
            allowed = (cycle == 0) | (given + step <= target * (1 + 1e-12))
            allowed &= np.all(activities[:cycle] > 0, axis=0) if cycle else True
            activities[cycle] = np.where(allowed, activities[cycle], 0.0)
            given += np.where(allowed, step, 0.0)
    else:
        first = 1 if guided.basis == "cycle1" else 0
        # aim a hair (1e-12 relative) under the target, so that rounding never reports a guided patient over it
        remaining = target * (1 - TARGET_SHORTFALL) - (bed(activities[0]) if first else 0.0)
        common = cycle_activity_for(remaining, cycles - first, per_MBq, g, alpha_beta)
        if guided.max_MBq is not None:
            common = np.minimum(common, guided.max_MBq)
        activities[first:] = common[None, :]
    if guided.max_MBq is not None:
        activities = np.minimum(activities, guided.max_MBq)
    return times, activities
