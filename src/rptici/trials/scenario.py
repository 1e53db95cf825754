"""Virtual-trial scenarios: arms, patients, follow-up, assessment schedule, and the calibration they run with.

A scenario file (YAML) or mapping::

    name: PRINCE-like
    disease: mcrpc                      # a population of rptici.population (data/populations/<disease>.yaml)
    arms:
      - {name: Lu-PSMA-617, control: true, regimen: {rpt: {agent: Pluvicto, activity: 8.5 GBq, ...}}}
      - {name: Lu-PSMA-617 + pembrolizumab, regimen: {rpt: {...}, ici: {...}, sequence: {order: concurrent}}}
      - {name: standard of care, regimen: null}      # no active treatment (untreated growth)
      - {name: octreotide, regimen: null, standard_of_care: netter1_octreotide_lar_60mg}  # an empirical SOC effect
    patients: 400                       # total, split by each arm's ``ratio`` (default 1); or per arm ``patients``
    allocation: randomised              # or paired: every virtual patient in every arm (a counterfactual comparison)
    follow_up: 24 months
    assessments: q8w x3 then q12w       # imaging; "q8w" alone repeats to the end of follow-up
    psa_assessments: q4w
    seed: 1
    chunk_size: 1000
    overrides: {kill_rate: 0.05}        # immunity parameters (internal units), after the calibration
    calibration: default                # packaged data/calibration/<name>.yaml, a file path, or null (none)
    baseline_weighting: VISION          # optional: resample the patients to a trial's reported baseline
                                        # (data/baseline_targets.yaml; rptici.population.weighting)
    excluded_sites: [liver, lung]       # eligibility: no patient with a lesion at these sites (ALSYMPCA: no
                                        # visceral metastases)
    prior_lines: 0                      # every patient's prior systemic lines (a first-line trial: 0), or shares
                                        # {0: 0.39, 1: 0.61}; default: the population file's distribution; an arm
                                        # may set its own, and
                                        # its eligibility: measurable_disease true / false (KEYNOTE-199's cohorts)
    treatment: {stop_at: [progression, toxicity], progression_confirmation: 4 weeks, ici_max_duration: 2 years,
                immune_exposure: follow_up}   # treatment as given in trials (default: the whole regimen for all)

``allocation``: ``randomised`` (default) gives each patient one arm by a seeded permutation; ``paired`` simulates
every virtual patient in every arm with the same random streams (the same patients with and without the ICI), so that
a difference between the arms is the treatment's alone, without the noise of which patients each arm drew (common
random numbers); its arms must enrol alike (equal shares, prior lines and eligibility) and ``patients`` counts
simulations, a multiple of the number of arms.

The calibration (:class:`Calibration`) holds the fitted uncertain parameters (written by
``rptici calibrate``; :mod:`rptici.analysis.calibration`) and how each applies: a scale of a population
covariate, a per-disease tumour doubling time, the scale of the death hazard from tumour burden, or an
immunity-model parameter.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

import numpy as np
from pydantic import BeforeValidator, field_validator, model_validator

from ..data import load_yaml, read_mapping
from ..errors import InputError
from ..kinetics.regimen import Regimen, Sequence, load_regimen
from ..kinetics.schema import Schema, quantity, whole
from ..population import known_diseases
from ..units import parse_interval, parse_positive
from .endpoints import SurvivalParameters
from .standard_of_care import known_standards_of_care

DEFAULT_CALIBRATION = "default"
_SEGMENT = re.compile(r"^\s*(?P<interval>q\s*\d+(?:\.\d+)?\s*[a-z]+)\s*(?:x\s*(?P<count>\d+))?\s*$", re.IGNORECASE)


#: Most assessments of one schedule (weekly scans for 100 years are 5,218): a 'q1h' over years is a typing error.
MAX_ASSESSMENTS = 10_000


def parse_schedule(text: str, horizon_days: float, field_name: str = "assessments") -> np.ndarray:
    """Assessment days after baseline (day 0 first) from 'q8w', or 'q8w x3 then q12w' (last segment repeats).

    Times run up to and including ``horizon_days``.
    """
    segments = [part for part in re.split(r"\bthen\b|,", str(text)) if part.strip()]
    if not segments:
        raise InputError(field_name, text, "a schedule such as 'q8w' or 'q8w x3 then q12w'")
    times = [0.0]
    for number, segment in enumerate(segments):
        match = _SEGMENT.match(segment)
        if not match:
            raise InputError(field_name, text, "segments such as 'q8w' or 'q8w x3', joined by 'then'")
        step = parse_interval(match.group("interval").replace(" ", ""), field_name)
        count = match.group("count")
        last = number == len(segments) - 1
        if count is None and not last:
            raise InputError(field_name, text, "a count ('x3') on every segment but the last")
        repeats = int(count) if count is not None else math.inf
        if min(repeats, horizon_days / step) > MAX_ASSESSMENTS:
            raise InputError(field_name, text, f"at most {MAX_ASSESSMENTS:,} assessments over the follow-up "
                                               f"({horizon_days:g} d)")
        done = 0
        while done < repeats and times[-1] + step <= horizon_days * (1 + 1e-12):
            times.append(times[-1] + step)
            done += 1
    return np.asarray(times)


#: Most virtual patients of one trial: the population is sampled whole before the chunks run (about 170 bytes per
#: patient), so a mistyped 10⁹ would exhaust the memory (164 GiB) after the run folder was pinned to it.
MAX_TRIAL_PATIENTS = 1_000_000


def prior_lines_field(value: object) -> int | dict[int, float] | None:
    """Prior systemic lines: a whole number from 0 to 20 for every patient, or the shares of a mixed cohort
    ``{lines: share}`` (whole numbers from 0 to 20, shares from 0 to 1 that sum to 1; KEYNOTE-641: 39 % with none,
    61 % with one)."""
    if value is None:
        return None
    allowed = "a whole number of lines from 0 to 20, or {lines: share} with shares summing to 1"
    if isinstance(value, Mapping):
        shares: dict[int, float] = {}
        for lines, share in value.items():
            if isinstance(lines, bool) or not isinstance(lines, (int, np.integer)) or not 0 <= lines <= 20 or                     isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
                raise InputError("prior_lines", dict(value), allowed)
            shares[int(lines)] = float(share)
        if not shares or abs(sum(shares.values()) - 1.0) > 1e-6:
            raise InputError("prior_lines", dict(value), allowed)
        return dict(sorted(shares.items()))
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= 20:
        raise InputError("prior_lines", value, allowed)
    return int(value)


#: Prior systemic lines of every patient, or of a mixed cohort (:func:`prior_lines_field`).
PriorLines = Annotated[int | dict[int, float] | None, BeforeValidator(prior_lines_field)]

#: The eligibility criteria an arm may set for its own patients (:func:`rptici.trials.run.arm_cohorts`).
ARM_CRITERIA = ("measurable_disease", "pet_screen_exclusion")


class ArmSpec(Schema):
    """One arm: its name, its regimen mapping (``rptici.kinetics.load_regimen``; null: no active treatment),
    whether it is the reference arm, its share of the patients (``patients`` or ``ratio``), and the standard of
    care its patients also receive (a name of ``data/standard_of_care.yaml``: a growth-rate reduction and
    background disease-related adverse events, :mod:`.standard_of_care`; None: untreated growth, no background).

    An arm that is a cohort of its own may set who is in it: ``prior_lines`` (every patient's prior systemic lines,
    or the shares of a mixed cohort, :func:`prior_lines_field`) and ``measurable_disease`` (True: RECIST-measurable disease required, a target lesion at baseline; False: only
    patients without, e.g. bone-predominant prostate cancer; None: the population as sampled), and
    ``pet_screen_exclusion``: the share of the screened patients that a PET screen turns away for target-low disease
    (TheraP's FDG-discordant or PSMA-low disease), those with the largest target-low share (None: no such screen)."""

    name: str
    regimen: dict[str, Any] | None = None
    control: bool = False
    patients: whole(1, MAX_TRIAL_PATIENTS) | None = None  # type: ignore[valid-type]
    ratio: float = 1.0
    standard_of_care: str | None = None
    prior_lines: PriorLines = None
    measurable_disease: bool | None = None
    pet_screen_exclusion: quantity("dimensionless", maximum=0.99) | None = None  # type: ignore[valid-type]

    @field_validator("standard_of_care")
    @classmethod
    def _known_standard_of_care(cls, value: str | None) -> str | None:
        if value is not None and value not in known_standards_of_care():
            raise ValueError("one of " + ", ".join(known_standards_of_care()))
        return value

    @field_validator("regimen")
    @classmethod
    def _valid_regimen(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            load_regimen(value)  # raises InputError naming the field
        return value

    @field_validator("ratio")
    @classmethod
    def _positive_ratio(cls, value: float) -> float:
        if not value > 0 or not math.isfinite(value):
            raise ValueError("a positive allocation ratio")
        return value

    def load_regimen(self) -> Regimen:
        """The arm's :class:`Regimen`; an arm without a regimen gets an empty one (no RPT, no ICI)."""
        if self.regimen is None:
            return Regimen.model_construct(rpt=None, ici=None, sequence=Sequence())
        return load_regimen(self.regimen)


STOP_REASONS = ("progression", "toxicity")
IMMUNE_EXPOSURE_WINDOWS = ("progression", "follow_up")


class TreatmentRules(Schema):
    """Treatment as given in trials (issue 13 item 5); the defaults give every patient the whole regimen.

    ``stop_at``: ``progression`` stops every administration (RPT and ICI) after the scan that confirms RECIST 1.1
    progression (``progression_confirmation`` later, iRECIST-style; none: the first PD scan), ``toxicity`` stops the
    checkpoint inhibitor at the onset of a grade ≥ 3 immune-related adverse event. ``ici_max_duration`` ends the
    checkpoint inhibitor that long after its first infusion (KEYNOTE and CheckMate protocols: 2 years).
    ``immune_exposure``: the window over which checkpoint occupancy adds to the irAE hazard — ``progression`` (until
    progression or the end of follow-up: the former proxy for stopping at progression, kept as the default) or
    ``follow_up`` (until death or censoring, the dosing decides). Patients are followed for OS after stopping.
    """

    stop_at: tuple[Literal["progression", "toxicity"], ...] = ()
    progression_confirmation: str | None = None
    ici_max_duration: str | None = None
    immune_exposure: Literal["progression", "follow_up"] = "progression"

    @model_validator(mode="after")
    def _parse(self) -> TreatmentRules:
        if len(set(self.stop_at)) != len(self.stop_at):
            raise InputError("stop_at", list(self.stop_at), "each of " + ", ".join(STOP_REASONS) + " at most once")
        for text, name in ((self.progression_confirmation, "progression_confirmation"),
                           (self.ici_max_duration, "ici_max_duration")):
            if text is not None:
                parse_positive(text, "time", name, allow_zero=name == "progression_confirmation")
        if self.progression_confirmation is not None and "progression" not in self.stop_at:
            raise InputError("progression_confirmation", self.progression_confirmation,
                             "no confirmation unless stop_at includes 'progression'")
        return self

    @property
    def active(self) -> bool:
        """Whether any rule changes what a patient receives."""
        return bool(self.stop_at) or self.ici_max_duration is not None

    @property
    def confirmation_days(self) -> float | None:
        return None if self.progression_confirmation is None else \
            parse_positive(self.progression_confirmation, "time", "progression_confirmation", allow_zero=True)

    @property
    def ici_max_days(self) -> float | None:
        return None if self.ici_max_duration is None else parse_positive(self.ici_max_duration, "time",
                                                                          "ici_max_duration")


class TrialScenario(Schema):
    """A virtual trial (see the module docstring for the file format)."""

    kind: Literal["trial"] = "trial"
    name: str = "trial"
    description: str | None = None
    disease: str
    arms: tuple[ArmSpec, ...]
    patients: whole(1, MAX_TRIAL_PATIENTS) | None = None  # type: ignore[valid-type]
    follow_up: str = "24 months"
    assessments: str = "q8w"
    psa_assessments: str = "q4w"
    output_step: str = "1 week"
    confirm_response: bool = True
    dropout_per_year: float | None = None
    seed: whole(0) = 1  # type: ignore[valid-type]
    chunk_size: whole(1) = 1000  # type: ignore[valid-type]
    population_method: str = "lhs"
    baseline_weighting: str | None = None
    excluded_sites: tuple[str, ...] = ()
    prior_lines: PriorLines = None
    overrides: dict[str, float] = {}
    calibration: str | None = DEFAULT_CALIBRATION
    treatment: TreatmentRules = TreatmentRules()
    allocation: Literal["randomised", "paired"] = "randomised"

    @field_validator("disease")
    @classmethod
    def _known_disease(cls, value: str) -> str:
        if value not in known_diseases():
            raise ValueError("one of " + ", ".join(known_diseases()))
        return value

    @model_validator(mode="after")
    def _known_baseline(self) -> TrialScenario:
        """A trial of data/baseline_targets.yaml whose population is the scenario's disease."""
        if self.baseline_weighting is not None:
            from ..population.weighting import baseline_targets

            disease = baseline_targets(self.baseline_weighting)["disease"]
            if disease != self.disease:
                raise InputError("baseline_weighting", self.baseline_weighting,
                                 f"a trial of disease {self.disease} (its targets describe {disease})")
            if self.arms_select:
                raise InputError("baseline_weighting", self.baseline_weighting,
                                 "null when an arm sets " + " or ".join(ARM_CRITERIA) + " (an arm's eligibility and "
                                 "a weighting to the whole trial's baseline do not combine)")
        return self

    @field_validator("excluded_sites")
    @classmethod
    def _known_sites(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from ..kinetics.biokinetics import LESION_SITES

        unknown = sorted(set(value) - set(LESION_SITES))
        if unknown:
            raise ValueError(f"lesion sites among {', '.join(LESION_SITES)} (unknown: {', '.join(unknown)})")
        return value

    @field_validator("dropout_per_year")
    @classmethod
    def _dropout_rate(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError("a rate of loss to follow-up per year, finite and >= 0 (e.g. 0.07)")
        return value

    @field_validator("overrides")
    @classmethod
    def _known_overrides(cls, value: dict[str, float]) -> dict[str, float]:
        """Checked here, not when the first chunk of patients runs: every name an immunity parameter, every
        value finite and >= 0."""
        from ..immunity import load_parameters

        for name, number in value.items():
            if not (math.isfinite(number) and number >= 0):
                raise ValueError(f"{name}: a finite value >= 0 in internal units, not {number}")
        load_parameters("human", value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrialScenario:
        if not self.arms:
            raise ValueError("at least one arm")
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must differ: {names}")
        if sum(arm.control for arm in self.arms) > 1:
            raise ValueError("at most one arm with control: true")
        given = [arm.patients is not None for arm in self.arms]
        if any(given) and not all(given):
            raise ValueError("patients on every arm or on none (then a total 'patients' with ratios)")
        if not any(given) and self.patients is None:
            raise ValueError("a number of patients: 'patients' in total, or per arm")
        for text, name in ((self.follow_up, "follow_up"), (self.output_step, "output_step")):
            parse_positive(text, "time", name)
        if self.follow_up_days / self.output_step_days > MAX_ASSESSMENTS:
            raise InputError("output_step", self.output_step, f"a step that gives at most {MAX_ASSESSMENTS:,} output "
                                                              f"times over the follow-up ({self.follow_up})")
        parse_schedule(self.assessments, self.follow_up_days, "assessments")
        parse_schedule(self.psa_assessments, self.follow_up_days, "psa_assessments")
        if self.allocation == "paired":
            self._pairable()
        return self

    def _pairable(self) -> None:
        """A paired trial simulates every patient in every arm: the arms must enrol alike (equal shares, the same
        prior lines and eligibility)."""
        for name in ("ratio", "patients", "prior_lines", *ARM_CRITERIA):
            values = [getattr(arm, name) for arm in self.arms]
            if any(value != values[0] for value in values):
                raise InputError(f"arms.{name}", values, "the same value on every arm when allocation is paired "
                                                         "(each virtual patient is simulated in every arm)")

    @property
    def follow_up_days(self) -> float:
        return parse_positive(self.follow_up, "time", "follow_up")

    @property
    def output_step_days(self) -> float:
        return parse_positive(self.output_step, "time", "output_step")

    @property
    def arms_select(self) -> bool:
        """Whether an arm enrols by its own criterion (:data:`ARM_CRITERIA`), so that patients are drawn per arm."""
        return bool(self.arm_criteria_set)

    @property
    def arm_criteria_set(self) -> tuple[str, ...]:
        """The eligibility criteria (:data:`ARM_CRITERIA`) that at least one arm sets."""
        return tuple(name for name in ARM_CRITERIA if any(getattr(arm, name) is not None for arm in self.arms))

    @property
    def control_arm(self) -> str | None:
        """The reference arm's name: the one marked ``control``, else None."""
        return next((arm.name for arm in self.arms if arm.control), None)

    def arm_counts(self, patients: int | None = None) -> list[int]:
        """Patients per arm: as given per arm, or ``patients`` (default: the scenario's total) split by ratio
        (largest remainders, so the counts sum to the total)."""
        if patients is None and all(arm.patients is not None for arm in self.arms):
            counts = [int(arm.patients) for arm in self.arms]  # type: ignore[arg-type]
            if sum(counts) > MAX_TRIAL_PATIENTS:
                raise InputError("arms.patients", counts, f"at most {MAX_TRIAL_PATIENTS:,} patients in all")
            return counts
        total = self.patients if patients is None else patients
        if isinstance(total, bool) or not isinstance(total, int) or not len(self.arms) <= total <= MAX_TRIAL_PATIENTS:
            raise InputError("patients", total, f"a whole number from the number of arms ({len(self.arms)}) "
                                                f"to {MAX_TRIAL_PATIENTS:,}")
        if self.allocation == "paired" and total % len(self.arms):
            raise InputError("patients", total, f"a multiple of the number of arms ({len(self.arms)}) when allocation "
                                                "is paired (each virtual patient is simulated in every arm)")
        ratios = np.array([arm.ratio if arm.patients is None else float(arm.patients) for arm in self.arms])
        ratios = ratios / ratios.max()  # shares of the largest: no overflow however large the ratios
        exact = total * ratios / ratios.sum()
        counts = np.floor(exact).astype(int)
        for index in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
            counts[index] += 1
        empty = [arm.name for arm, count in zip(self.arms, counts) if count == 0]
        if empty:
            raise InputError("patients", total, f"enough patients for every arm: with these ratios arm(s) "
                                                f"{', '.join(empty)} would get none")
        return counts.tolist()


def load_trial_scenario(source: TrialScenario | Mapping[str, Any] | str | os.PathLike[str]) -> TrialScenario:
    """A :class:`TrialScenario` from a mapping or a YAML file; InputError names the field that is wrong."""
    return TrialScenario.load(source)


# --- calibration ---------------------------------------------------------------------------------------

#: How a calibration parameter applies. ``doubling_time_days.<disease>`` and ``immunity.<name>`` are families.
SCALES = {"alpha_scale": "alpha_per_Gy", "infiltration_scale": "immune_infiltration"}
DEATH_SCALE = "death_hazard_scale"
#: The exponent k of the burden term of the death hazard (replaces data/endpoints.yaml's).
DEATH_EXPONENT = "death_hazard_exponent"
#: ``disease_hazard.<disease>``: the burden-independent disease hazard (1/d) of one disease.
DISEASE_HAZARD = "disease_hazard"
#: The within-patient coefficient of variation of lesion target expression (replaces the population file's).
LESION_UPTAKE_SPREAD = "lesion_uptake_spread"
#: Minus the correlation of a patient's target-low share with its target uptake (rptici.population.sampling): a
#: larger share of target-low cells goes with a lower SUVmean, so the correlation is negative and the value positive.
LOW_UPTAKE_ANTICORRELATION = "low_uptake_anticorrelation"
#: Exponents that widen (> 1) or narrow (< 1) the between-patient log-spread of a covariate around the disease's
#: median (rptici.trials.run.spread_log): name → (population attribute, population-file marginal); each may have a
#: disease-specific value ``<name>.<disease>``, which replaces the general one.
SPREADS = {"alpha_spread": ("alpha_per_Gy", "alpha"), "infiltration_spread": ("immune_infiltration", "infiltration")}
#: ``growth_spread.<disease>``: the log-SD of each patient's tumour growth rate around the disease's (0: every patient
#: grows at the disease's doubling time; rptici.trials.run.patient_doubling_times).
GROWTH_SPREAD = "growth_spread"
#: ``prior_line_infiltration.<disease>``: the factor f on a patient's immune infiltration per prior systemic line,
#: infiltration × f^lines (1: no effect; rptici.trials.run.calibrated_population).
PRIOR_LINE_INFILTRATION = "prior_line_infiltration"
#: ``prior_line_hazard.<disease>``: the factor g on the disease's part of a patient's death hazard per prior
#: systemic line, g^lines (1: no effect; rptici.trials.run.death_hazard_ratio).
PRIOR_LINE_HAZARD = "prior_line_hazard"
#: ``inflamed_share.<disease>``: the share s of the patients whose tumours are inflamed; the others (their sampled
#: infiltration below the population file's (1 − s) quantile) are immune deserts with no infiltration (1: all as
#: sampled; rptici.trials.run.immune_deserts).
INFLAMED_SHARE = "inflamed_share"


@dataclass(frozen=True)
class Calibration:
    """Fitted values (internal units) by name; see :data:`SCALES`, ``death_hazard_scale``, ``death_hazard_exponent``,
    ``disease_hazard.<disease>``, ``lesion_uptake_spread``, ``low_uptake_anticorrelation``,
    ``doubling_time_days.<disease>``, ``growth_spread.<disease>``, ``prior_line_infiltration.<disease>``,
    ``prior_line_hazard.<disease>``, ``inflamed_share.<disease>`` and
    ``immunity.<parameter>``; a scale may also have a disease-specific factor ``<scale>.<disease>``. ``source``:
    where they came from."""

    values: Mapping[str, float] = field(default_factory=dict)
    source: str = "none"

    def scale(self, name: str, disease: str | None = None) -> float:
        """The scale ``name`` times its factor for ``disease`` (``<name>.<disease>``) where there is one."""
        factor = 1.0 if disease is None else float(self.values.get(f"{name}.{disease}", 1.0))
        return float(self.values.get(name, 1.0)) * factor

    def doubling_time_days(self, disease: str) -> float | None:
        value = self.values.get(f"doubling_time_days.{disease}")
        return None if value is None else float(value)

    def lesion_uptake_spread(self) -> float | None:
        """The within-patient CV of lesion target expression, or None (the population file's)."""
        value = self.values.get(LESION_UPTAKE_SPREAD)
        return None if value is None else float(value)

    def spread(self, name: str, disease: str | None = None) -> float:
        """The exponent ``name`` of :func:`rptici.trials.run.spread_log` (:data:`SPREADS`) for ``disease``:
        ``<name>.<disease>`` where the calibration has one, else ``name``, else 1 (the population file's spread)."""
        general = float(self.values.get(name, 1.0))
        return general if disease is None else float(self.values.get(f"{name}.{disease}", general))

    def growth_spread(self, disease: str) -> float:
        """The log-SD of the patients' tumour growth rates for ``disease`` (``growth_spread.<disease>``; 0 if none)."""
        return float(self.values.get(f"{GROWTH_SPREAD}.{disease}", 0.0))

    def prior_line_infiltration(self, disease: str) -> float:
        """The factor on immune infiltration per prior systemic line for ``disease`` (1 if none)."""
        return float(self.values.get(f"{PRIOR_LINE_INFILTRATION}.{disease}", 1.0))

    def prior_line_hazard(self, disease: str) -> float:
        """The factor on the disease's death hazard per prior systemic line for ``disease`` (1 if none)."""
        return float(self.values.get(f"{PRIOR_LINE_HAZARD}.{disease}", 1.0))

    def inflamed_share(self, disease: str) -> float:
        """The share of ``disease``'s patients with an inflamed tumour (``inflamed_share.<disease>``; 1 if none)."""
        return float(self.values.get(f"{INFLAMED_SHARE}.{disease}", 1.0))

    def low_uptake_correlation(self) -> float:
        """The Gaussian-copula correlation of target uptake and target-low share: −``low_uptake_anticorrelation``
        (0: independent)."""
        return -float(self.values.get(LOW_UPTAKE_ANTICORRELATION, 0.0))

    def immunity_overrides(self, disease: str | None = None) -> dict[str, float]:
        """The model parameters ``immunity.<parameter>`` the calibration sets, ``immunity.<parameter>.<disease>``
        in place of the general value for ``disease`` (and left out for any other disease): one value cannot
        serve every tumour where the biology differs (the doomed-cell lifetime of slowly cycling NETs)."""
        general, specific = {}, {}
        for name, value in self.values.items():
            if name.startswith("immunity."):
                parameter, suffix = _immunity_name(name)
                if not suffix:
                    general[parameter] = float(value)
                elif suffix == disease:
                    specific[parameter] = float(value)
        return general | specific

    def survival_parameters(self, disease: str | None = None) -> SurvivalParameters:
        """Death-hazard parameters with the burden term scaled by ``death_hazard_scale`` and, for ``disease``,
        by ``death_hazard_scale.<disease>`` where the calibration has it (one burden–hazard relation cannot serve
        every disease: 60 mL of NET liver disease is lived with for years, 60 mL of mCRPC is not), the burden
        exponent ``death_hazard_exponent`` and the disease's burden-independent hazard ``disease_hazard.<disease>``."""
        base = SurvivalParameters.default()
        return dataclasses.replace(
            base, burden_hazard_at_reference=base.burden_hazard_at_reference * self.scale(DEATH_SCALE, disease),
            burden_exponent=float(self.values.get(DEATH_EXPONENT, base.burden_exponent)),
            disease_hazard=float(self.values.get(f"{DISEASE_HAZARD}.{disease}", base.disease_hazard)))


def _immunity_name(name: str) -> tuple[str, str]:
    """(parameter, disease) of a calibration name ``immunity.<parameter>[.<disease>]``; disease "" when general."""
    parameter, _, disease = name.split(".", 1)[1].partition(".")
    return parameter, disease


def _check_calibration_name(name: str) -> None:
    known = (DEATH_SCALE, DEATH_EXPONENT, LESION_UPTAKE_SPREAD, LOW_UPTAKE_ANTICORRELATION, *SPREADS, *SCALES)
    families = ("doubling_time_days", DISEASE_HAZARD, DEATH_SCALE, GROWTH_SPREAD, PRIOR_LINE_INFILTRATION,
                PRIOR_LINE_HAZARD, INFLAMED_SHARE, *SPREADS, *SCALES)
    if name.startswith("immunity."):
        disease = _immunity_name(name)[1]
        if disease and disease not in known_diseases():
            raise InputError("calibration.parameters", name, "immunity.<parameter> or immunity.<parameter>.<disease>, "
                                                             "a disease among " + ", ".join(known_diseases()))
        return
    if name in known or name.startswith(tuple(f"{family}." for family in families)):
        return
    raise InputError("calibration.parameters", name,
                     "one of " + ", ".join(known) + ", " + ", ".join(f"{family}.<disease>" for family in families)
                     + ", immunity.<parameter>[.<disease>]")


def calibration_from_document(document: Mapping[str, Any], source: str) -> Calibration:
    """A :class:`Calibration` from a calibration document (``parameters: {name: {value, ...}}``)."""
    parameters = document.get("parameters") if isinstance(document, Mapping) else None
    if not isinstance(parameters, Mapping):
        raise InputError(f"{source}: parameters", parameters, "a mapping of name to {value, unit, source}")
    values = {}
    for name, entry in parameters.items():
        _check_calibration_name(str(name))
        value = entry.get("value") if isinstance(entry, Mapping) else entry
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise InputError(f"{source}: parameters.{name}", value, "a positive finite number")
        values[str(name)] = float(value)
    return Calibration(values, source)


def calibration_document(name: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """(document, source) of the packaged calibration ``name`` (``data/calibration/<name>.yaml``) or a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return read_mapping(path, "calibration", "a calibration file (parameters: {name: {value, unit, source}})"), \
            str(path)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)):
        raise InputError("calibration", str(name), "a packaged calibration name (e.g. 'default') or a YAML file")
    try:
        return load_yaml(f"calibration/{name}.yaml"), f"calibration/{name}.yaml"
    except FileNotFoundError:
        raise InputError("calibration", str(name), "a packaged calibration (data/calibration/*.yaml) or a YAML file") \
            from None


def load_calibration(name: str | os.PathLike[str] | None = DEFAULT_CALIBRATION) -> Calibration:
    """The packaged calibration ``name`` (``data/calibration/<name>.yaml``), a YAML file path, or none (None)."""
    if name is None:
        return Calibration()
    return calibration_from_document(*calibration_document(name))
