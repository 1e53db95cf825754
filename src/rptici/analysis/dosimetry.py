"""Dosimetry of a trial's arms at the disease's reference patient, for the trial report and the dashboard.

:func:`arm_dosimetry` evaluates :func:`~rptici.radiobiology.regimen_dose.regimen_dose` (closed form) for every
arm that gives a radiopharmaceutical, at :func:`reference_patient` (the medians of a virtual population of the
disease): dose table with limits, activity curves for a figure, checkpoint occupancy. The report renders what
this returns; it samples and computes nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import RpticiError

#: Size of the virtual population whose medians define the reference patient of a disease, and its seed.
REFERENCE_POPULATION = 400
REFERENCE_SEED = 0


def reference_patient(disease: str | None) -> tuple[Any, str, str]:
    """(Covariates, sex, description) of the reference patient of ``disease``: the medians of a virtual
    population of :data:`REFERENCE_POPULATION` patients (seed :data:`REFERENCE_SEED`), with the median lesion
    count, each lesion at the median mass of its rank; the ICRP 89 reference adult male without lesions
    when the disease is unknown."""
    from ..kinetics.biokinetics import Covariates
    from ..population.distributions import known_diseases, load_disease
    from ..population.sampling import sample_population

    if not disease or str(disease) not in known_diseases():
        return Covariates.reference("male"), "male", "ICRP 89 reference adult male, no lesions"
    population = sample_population(str(disease), REFERENCE_POPULATION, REFERENCE_SEED)
    sexes, counts = np.unique(population.sex, return_counts=True)
    sex = str(sexes[np.argmax(counts)])
    lesions = int(np.round(np.median(population.lesion_count)))
    masses = np.array([np.nanmedian(population.lesion_masses_g[:, rank]) for rank in range(lesions)])
    covariates = Covariates(float(np.median(population.weight_kg)), float(np.median(population.bsa_m2)),
                            float(np.median(population.gfr_mL_per_min)),
                            float(np.median(population.target_uptake_scale)), masses[None, :])
    title = load_disease(str(disease)).title  # in words, not the code 'mcrpc' (issue 19, item 6)
    description = (f"median patient of {REFERENCE_POPULATION} virtual patients with {title}: {sex}, "
                   f"{covariates.weight_kg[0]:.0f} kg, BSA {covariates.bsa_m2[0]:.2f} m², GFR "
                   f"{covariates.gfr_mL_per_min[0]:.0f} mL/min, target uptake ×{covariates.target_uptake_scale[0]:.2f}, "
                   f"{lesions} lesion{'s' if lesions != 1 else ''} of "
                   + ", ".join(f"{mass:.3g}" for mass in masses) + " g")
    return covariates, sex, description


def row_warnings(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The 'beyond any clinical range' lines (:mod:`rptici.radiobiology.plausibility`) of :func:`dose_rows`."""
    from ..radiobiology.plausibility import region_warnings

    return region_warnings({row["target"]: {"rbe_weighted_dose_Gy": row.get("dose_Gy"), "bed_Gy": row.get("bed_Gy"),
                                            "tissue": row.get("tissue")} for row in rows})


def dose_rows(result: Any, patient: int = 0) -> list[dict[str, Any]]:
    """One row per organ and lesion of a :class:`~rptici.radiobiology.regimen_dose.RegimenDose`: dose (RBE-
    weighted, Gy), Gy/GBq, BED, EQD2 and every limit with the margin to it (limit − value; < 0 exceeded)."""
    rows = []
    for target, values in result.region_summary(patient).items():
        rows.append({"target": target, "tissue": values["tissue"], "mass_g": values["mass_g"],
                     "dose_Gy": values["rbe_weighted_dose_Gy"],
                     "gy_per_gbq": values["dose_per_activity_Gy_per_GBq"], "bed_Gy": values["bed_Gy"],
                     "eqd2_Gy": values["eqd2_Gy"], "limits": values["limits"],
                     "exceeded": any(limit["exceeded"] for limit in values["limits"])})
    return rows


@dataclass(frozen=True)
class ArmDosimetry:
    """One arm's dosimetry at the reference patient (``error`` set, the rest empty, when it could not be
    computed). ``activity_MBq`` maps each body compartment (excretion left out) to its activity at ``times``."""

    arm: str
    agent: str | None = None
    nuclide: str | None = None
    total_GBq: float = 0.0
    cycles: int = 0
    alpha_rbe: float | None = None
    rows: tuple[dict[str, Any], ...] = ()
    ici: dict[str, Any] | None = None
    times: np.ndarray | None = None
    activity_MBq: Mapping[str, np.ndarray] | None = None
    administration_times: np.ndarray | None = None
    error: str | None = None


def arm_dosimetry(scenario: Mapping[str, Any]) -> tuple[list[ArmDosimetry], str]:
    """(Dosimetry of every arm of ``scenario`` (a trial scenario mapping) that gives a radiopharmaceutical,
    description of the reference patient); ([], "") when no arm does."""
    from ..kinetics.regimen import load_regimen
    from ..radiobiology.regimen_dose import regimen_dose

    arms = [arm for arm in scenario.get("arms", []) or [] if isinstance(arm, Mapping)
            and isinstance(arm.get("regimen"), Mapping) and arm["regimen"].get("rpt")]
    if not arms:
        return [], ""
    covariates, sex, description = reference_patient(scenario.get("disease"))
    sections = []
    for arm in arms:
        name = str(arm.get("name", ""))
        try:
            result = regimen_dose(load_regimen(arm["regimen"]), covariates, sex=sex)
        except RpticiError as error:
            sections.append(ArmDosimetry(name, error=str(error)))
            continue
        body = [index for index, compartment in enumerate(result.compartments) if compartment not in result.excretion]
        sections.append(ArmDosimetry(
            name, result.agent, result.nuclide, float(result.total_activity_MBq[0]) / 1000.0,
            len(result.administration_times), result.alpha_rbe, tuple(dose_rows(result)), result.summary(0).get("ici"),
            result.times, {result.compartments[index]: result.activity_MBq[0, index] for index in body},
            result.administration_times))
    return sections, description
