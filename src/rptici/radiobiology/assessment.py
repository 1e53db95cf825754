"""Patient dosimetry from measurements: time–activity curves → TIA → absorbed dose → BED, per region.

This is the workbench chain of a clinical dosimetry study (MIRD Pamphlet 16, Siegel et al. 1999;
EANM dosimetry guidance): each region's curve is fitted (model chosen by AIC), integrated, multiplied
by the region's self-dose S-value (unit-density sphere for tumours, organ self-dose for organs) plus the
photon cross-dose from every other measured region in the stylised reference phantom
(:mod:`~rptici.dosimetry.phantom`; ``phantom=None`` for self-dose only), or by a user S-value table
(cross-dose), and converted to BED with the region's tissue parameters. Because a
fitted curve is a sum of exponentials, the dose rate is too, and the Lea–Catcheside factor G is exact
(:func:`~rptici.radiobiology.lq.g_factor_exponential_sum`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dosimetry import (PatientMeasurements, SValue, SValueTable, TacFit, absorbed_dose_components, absorbed_doses,
                         organ_self_s_value, sphere_s_value, tia_monte_carlo)
from ..dosimetry.absorbed_dose import check_rbe
from ..dosimetry.phantom import check_sex, mass_scaling, phantom_region, photon_cross_s_value
from ..errors import InputError
from ..physics import Nuclide
from .bed import bed_closed_form, eqd2
from .lq import g_factor_exponential_sum
from .plausibility import region_warnings
from .tissues import Tissue, risk_factors as known_risk_factors, tissue

TUMOUR_TISSUES = {"tumour"}


@dataclass(frozen=True)
class LimitMargin:
    """A tolerance and how far the region is from it (positive margin: below the limit)."""

    name: str
    quantity: str
    limit_Gy: float
    value_Gy: float
    source: str
    applies: bool = True
    why: str = "every patient"
    #: This cycle's contribution to ``value_Gy`` (None: not known, e.g. a cohort array); ``value_Gy`` includes the
    #: earlier cycles where the patient's file gives them.
    cycle_Gy: float | None = None

    @property
    def margin_Gy(self) -> float:
        return self.limit_Gy - self.value_Gy

    @property
    def further_cycles(self) -> Any:
        """How many more cycles like this one stay within the limit: ⌊margin / this cycle⌋ (0 when exceeded), per
        patient where the values are arrays (NaN: no dose this cycle). BED and dose add over cycles given weeks
        apart (repair is complete between them). None when this cycle's value is not known."""
        if self.cycle_Gy is None:
            return None
        cycle = np.asarray(self.cycle_Gy, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            count = np.where(cycle > 0, np.maximum(np.floor(np.asarray(self.margin_Gy) / cycle), 0.0), np.nan)
        return count if count.ndim else (None if np.isnan(count) else int(count))

    @property
    def exceeded(self):
        """Whether the value is above a limit that applies to the patient (an inapplicable limit is never
        exceeded; it is still shown, with why it does not apply)."""
        return (self.value_Gy > self.limit_Gy) & self.applies

    def as_dict(self, patient: int | None = None) -> dict[str, Any]:
        """The JSON form shared by ``rptici dose`` and ``rptici regimen dose`` (units in the keys); ``patient``
        picks one patient where the value is an array over patients."""
        def pick(value: Any) -> Any:
            return value if patient is None or value is None else np.asarray(value)[patient].item()

        further = pick(self.further_cycles)
        return {"name": self.name, "quantity": self.quantity, "limit_Gy": self.limit_Gy,
                "value_Gy": pick(self.value_Gy), "margin_Gy": pick(self.margin_Gy),
                "exceeded": bool(pick(self.exceeded)), "source": self.source, "applies": bool(self.applies),
                "why": self.why, "cycle_Gy": pick(self.cycle_Gy),
                "further_cycles": None if further is None or further != further else int(further)}


@dataclass(frozen=True)
class RegionDosimetry:
    """Everything computed for one region: fit, TIA, S-value, dose split by radiation, BED and limits."""

    region: str
    tissue: str | None
    mass_g: float | None
    fit: TacFit
    s_value: SValue | None
    dose_Gy: float
    dose_alpha_Gy: float
    dose_electron_Gy: float
    dose_photon_Gy: float
    rbe_weighted_dose_Gy: float
    dose_per_activity_Gy_per_GBq: float
    g_factor: float | None = None
    bed_Gy: float | None = None
    eqd2_Gy: float | None = None
    tia_monte_carlo_interval_MBq_h: tuple[float, float] | None = None
    limits: tuple[LimitMargin, ...] = ()

    def summary(self) -> dict[str, object]:
        return {
            "region": self.region, "tissue": self.tissue, "mass_g": self.mass_g,
            "model": self.fit.model, "effective_half_lives_h": [24 * value for value in self.fit.effective_half_lives],
            "tia_MBq_h": self.fit.tia, "tia_standard_error_MBq_h": self.fit.tia_standard_error,
            "tia_monte_carlo_95_MBq_h": self.tia_monte_carlo_interval_MBq_h,
            "s_value_mGy_per_MBq_h": None if self.s_value is None else float(self.s_value.total),
            "absorbed_dose_Gy": self.dose_Gy,
            "absorbed_dose_by_radiation_Gy": {"alpha": self.dose_alpha_Gy, "electron": self.dose_electron_Gy,
                                              "photon": self.dose_photon_Gy},
            "rbe_weighted_dose_Gy": self.rbe_weighted_dose_Gy,
            "dose_per_activity_Gy_per_GBq": self.dose_per_activity_Gy_per_GBq,
            "g_factor": self.g_factor, "bed_Gy": self.bed_Gy, "eqd2_Gy": self.eqd2_Gy,
            "limits": [limit.as_dict() for limit in self.limits],
        }


@dataclass(frozen=True)
class PatientDosimetry:
    """The result of :func:`assess_patient`: one :class:`RegionDosimetry` per region."""

    patient: str | None
    nuclide: str
    agent: str | None
    administered_activity_MBq: float
    rbe: float
    regions: dict[str, RegionDosimetry] = field(default_factory=dict)
    cross_dose: bool = False
    phantom: str | None = None

    def summary(self) -> dict[str, object]:
        models = ("self-dose (sphere / organ model)" if self.phantom is None else
                  f"self-dose (sphere / organ model) + photon cross-dose between measured regions in the stylised "
                  f"adult {self.phantom} phantom")
        return {
            "patient": self.patient, "nuclide": self.nuclide, "agent": self.agent,
            "administered_activity_MBq": self.administered_activity_MBq, "alpha_rbe": self.rbe,
            "s_values": (f"user table for its targets (cross-dose included), {models} elsewhere" if self.cross_dose
                         else models),
            "regions": (regions := {name: region.summary() for name, region in self.regions.items()}),
            "warnings": region_warnings(regions),
        }


def check_risk_factors(names: Collection[str], field_name: str = "risk_factors") -> tuple[str, ...]:
    """``names`` if each is a risk factor some tissue limit knows (tissues.yaml ``applies_to``), else InputError."""
    known = known_risk_factors()
    for name in names:
        if name not in known:
            raise InputError(field_name, name, "one of " + ", ".join(known))
    return tuple(names)


def _limit_margins(parameters: Tissue, dose: float, bed: float, eqd2_value: float,
                   risk_factors: Collection[str] = (), previous: dict[str, float] | None = None
                   ) -> tuple[LimitMargin, ...]:
    """Every limit of the tissue against the value of its quantity to date (``previous`` cycles' dose and BED plus
    this one's); a limit for patients with a risk factor applies only when the patient has it (Bodei et al. 2008:
    28 Gy kidney BED with renal risk factors, else 40)."""
    cycle = {"dose": dose, "bed": bed, "eqd2": eqd2_value}
    before = {"dose": 0.0, "bed": 0.0, **(previous or {})}
    before["eqd2"] = float(eqd2(before["bed"], parameters.alpha_beta))
    margins = []
    for limit in parameters.limits.values():
        if limit.applies_to is None:
            applies, why = True, "every patient"
        else:
            what = f"{limit.applies_to} risk factors ({limit.note or limit.applies_to})"
            applies = limit.applies_to in risk_factors
            why = (f"the patient has {what}" if applies else
                   f"only for patients with {what}; none given (risk_factors: [{limit.applies_to}] applies it)")
        margins.append(LimitMargin(limit.name, limit.quantity, limit.value,
                                   before[limit.quantity] + cycle[limit.quantity], limit.source, applies, why,
                                   cycle_Gy=cycle[limit.quantity]))
    return tuple(margins)


def assess_patient(measurements: PatientMeasurements, model: str = "auto", rbe: float | None = None,
                   s_values: SValueTable | None = None, monte_carlo_draws: int = 0, seed: int = 0,
                   phantom: str | None = "male", body_mass_kg: float | None = None) -> PatientDosimetry:
    """Fit, integrate and convert every region of ``measurements`` to absorbed dose and BED.

    ``rbe`` weights the α dose (default from the data file, 5). ``s_values``, a user table, replaces the
    self-dose models for the regions it lists as targets: their dose sums over every measured source in the
    table (cross-dose included; the table gives total S, so its dose is not split by radiation type).
    Regions not in the table keep the sphere / organ self-dose model and, with ``phantom`` (``male`` or
    ``female``; None for self-dose only), add the photon cross-dose from every other measured region in that
    reference phantom, scaled to ``body_mass_kg`` (default the reference mass); tumours sit anywhere in the
    body (:func:`~rptici.dosimetry.phantom.phantom_region`). BED uses the target's own curve shape for the
    dose-rate time course (exact for self-dose; the cross-dose is a few per cent at most).
    """
    if measurements.nuclide is None:
        raise InputError("nuclide", None, "the radionuclide of the measurements, e.g. 'Lu-177'")
    if not measurements.administered_activity:
        raise InputError("administered_activity", measurements.administered_activity, "a positive activity, e.g. '7.4 GBq'")
    nuclide = Nuclide(measurements.nuclide)
    rbe = check_rbe(rbe)
    if phantom is not None:
        check_sex(phantom)
        mass_scaling(body_mass_kg, phantom)
    check_risk_factors(measurements.risk_factors)
    fits = measurements.fit(model)
    table_doses = {}
    if s_values is not None:
        in_table = {name: fit.tia for name, fit in fits.items() if name in s_values.sources}
        table_doses = {target: float(dose) for target, dose in absorbed_doses(in_table, s_values).items()}
    regions = {}
    for name, region in measurements.regions.items():
        fit = fits[name]
        tissue_parameters = tissue(region.tissue) if region.tissue else None
        if name in table_doses:
            s_value, components = None, (0.0, table_doses[name], 0.0)
        else:
            if region.mass is None:
                raise InputError(f"regions.{name}.mass", None, "the region's mass, e.g. '310 g', or a user S-value table")
            tumour = tissue_parameters is not None and tissue_parameters.name in TUMOUR_TISSUES
            s_value = (sphere_s_value if tumour else organ_self_s_value)(nuclide, region.mass)
            split = absorbed_dose_components(fit.tia, s_value)
            cross = 0.0 if phantom is None else _cross_dose_Gy(nuclide, name, measurements, fits, phantom, body_mass_kg)
            components = (float(split.alpha), float(split.electron), float(split.photon) + cross)
        dose = sum(components)
        weighted = rbe * components[0] + components[1] + components[2]
        g = bed = eqd2_value = None
        limits: tuple[LimitMargin, ...] = ()
        if tissue_parameters is not None and weighted > 0:
            amplitudes, rates = fit.exponential_terms
            g = float(g_factor_exponential_sum(amplitudes, rates, tissue_parameters.repair_half_time))
            bed = float(bed_closed_form(weighted, tissue_parameters.alpha_beta, g))
            eqd2_value = float(eqd2(bed, tissue_parameters.alpha_beta))
            limits = _limit_margins(tissue_parameters, weighted, bed, eqd2_value, measurements.risk_factors,
                                    region.previous)
        interval = None
        if monte_carlo_draws:
            interval = tuple(tia_monte_carlo(fit, monte_carlo_draws, seed).interval_95)
        regions[name] = RegionDosimetry(
            region=name, tissue=tissue_parameters.name if tissue_parameters else None, mass_g=region.mass, fit=fit,
            s_value=s_value, dose_Gy=dose, dose_alpha_Gy=components[0], dose_electron_Gy=components[1],
            dose_photon_Gy=components[2], rbe_weighted_dose_Gy=weighted,
            dose_per_activity_Gy_per_GBq=weighted / (measurements.administered_activity / 1000.0),
            g_factor=g, bed_Gy=bed, eqd2_Gy=eqd2_value, tia_monte_carlo_interval_MBq_h=interval, limits=limits)
    return PatientDosimetry(measurements.patient, nuclide.name, measurements.agent, measurements.administered_activity,
                            rbe, regions, cross_dose=bool(table_doses), phantom=phantom)


def _phantom_region_of(name: str, measurements: PatientMeasurements) -> str:
    """The phantom region of a measured region: tumours anywhere in the body, organs by name, else the remainder."""
    region = measurements.regions[name]
    if region.tissue in TUMOUR_TISSUES:
        return "total_body"
    return phantom_region(name) or "remainder"


def _cross_dose_Gy(nuclide: Nuclide, target: str, measurements: PatientMeasurements, fits: dict[str, TacFit],
                   sex: str, body_mass_kg: float | None) -> float:
    """Photon cross-dose (Gy) to ``target`` from every other measured region: Σ Ã_s S_γ(T ← s) / 1000."""
    target_region = _phantom_region_of(target, measurements)
    total = 0.0
    for source, fit in fits.items():
        if source == target:
            continue
        s = photon_cross_s_value(nuclide, target_region, _phantom_region_of(source, measurements), sex, body_mass_kg)
        total += float(fit.tia) * float(s) / 1000.0
    return total
