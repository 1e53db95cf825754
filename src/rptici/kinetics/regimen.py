"""Treatment regimens: radiopharmaceutical cycles, checkpoint-antibody infusions and their sequence.

Scenario files give quantities as strings with units ("7.4 GBq", "55 kBq/kg", "1.48 GBq/m2",
"200 mg", "2 mg/kg", "q3w", "6 weeks"). The models keep what the user wrote and turn it into event
lists in internal units (days, MBq, mg) for given patient covariates. Every invalid input raises
:class:`~rptici.errors.InputError` (or :class:`~rptici.errors.UnknownNameError` for an unknown agent)
whose field is the path in the scenario, for example ``rpt.activity`` or ``ici.interval``.

Example (TheraP and PRINCE de-escalation: 8.5 GBq, 0.5 GBq less each cycle; Hofman et al. 2021
Lancet 397:797; Sandhu et al. 2023 J Clin Oncol 41(16 suppl):5017)::

    rpt: {agent: "[177Lu]Lu-PSMA-617", activity: 8.5 GBq, activity_step: -0.5 GBq, interval: 6 weeks, cycles: 6}
    ici: {agent: pembrolizumab, dose: 200 mg, interval: q3w, infusions: 35}
    sequence: {order: concurrent}    # or {order: ici_first, lead: 2 weeks} / {order: rpt_first, lag: 4 weeks}
"""

from __future__ import annotations

import math
import os
from typing import Annotated, Any, Mapping

import numpy as np
from pydantic import BeforeValidator, Discriminator, PrivateAttr, Tag, field_validator, model_validator

from rptici.data.catalogue import CheckpointInhibitor, Radiopharmaceutical, checkpoint_inhibitor, radiopharmaceutical
from rptici.errors import InputError
from rptici.units import format_quantity, parse_interval, parse_positive, parse_quantity

from .antibody import simulate_antibody
from .biokinetics import agent_parameters
from .occupancy import occupancy
from .schema import Schema



def _not_a_bool(value: object) -> object:
    """A quantity is a number with its unit; ``true``/``false`` would otherwise pass as 1 and 0 (issue 19, item 14)."""
    if isinstance(value, bool):
        raise InputError("value", value, "a number with its unit, such as '7.4 GBq' or '6 weeks' (not true/false)")
    return value


#: A quantity as written in a scenario: a string with its unit (or a number in the internal unit), never a bool.
Quantity = Annotated[str | float, BeforeValidator(_not_a_bool)]

ACTIVITY_DIMENSIONS = ("activity", "activity_per_mass", "activity_per_area")
DOSE_DIMENSIONS = ("drug_amount", "drug_per_mass")
ORDERS = ("concurrent", "ici_first", "rpt_first")
_ACTIVITY_ALLOWED = ("activity ('7.4 GBq'), activity per body weight ('55 kBq/kg') "
                     "or activity per body surface area ('1.48 GBq/m2')")
_DOSE_ALLOWED = "drug amount ('200 mg') or drug amount per body weight ('2 mg/kg')"


def _dimension(value: object, dimensions: tuple[str, ...], field: str, allowed: str) -> tuple[str, float]:
    """The first of ``dimensions`` that ``value`` (with its unit) parses as, and its internal value."""
    for dimension in dimensions:
        try:
            return dimension, parse_quantity(value, dimension, field, require_unit=True)
        except InputError:
            continue
    raise InputError(field, value, f"{allowed}: a finite number with its unit")


#: Most RPT cycles or ICI infusions in one schedule: far above any protocol (pembrolizumab q3w for 2 years is 35),
#: low enough that the event arrays of a cohort stay small.
MAX_ADMINISTRATIONS = 1000

#: Latest day of any administration from the start of treatment (a schedule's start, its last cycle or infusion, a
#: lead or a lag): a century, beyond any protocol or follow-up. It keeps the day arithmetic finite: a finite
#: ``interval: 1e306 d`` times 6 cycles overflowed to infinity (issue 19, found by the fuzz).
MAX_SCHEDULE_DAYS = 100 * 365.25


def _within_schedule(day: float, field: str, value: object, what: str) -> None:
    """Refuse a schedule whose ``what`` falls later than :data:`MAX_SCHEDULE_DAYS` (or overflows)."""
    if not day <= MAX_SCHEDULE_DAYS:
        raise InputError(field, value, f"{what} within {MAX_SCHEDULE_DAYS:g} days (100 years) of the start of treatment")


def _administrations(value: object, field: str, what: str) -> int:
    """A whole number of ``what`` from 1 to :data:`MAX_ADMINISTRATIONS` (``6`` or ``6.0``; not ``true``, ``.inf``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer)) or \
            not (isinstance(value, (int, np.integer)) or value.is_integer()) or not 1 <= value <= MAX_ADMINISTRATIONS:
        raise InputError(field, value, f"a whole number of {what} from 1 to {MAX_ADMINISTRATIONS}")
    return int(value)


def _patients(**covariates: object) -> tuple[int, dict[str, np.ndarray | None]]:
    """Broadcast the given covariates (scalars or 1-D arrays, positive) to a common number of patients."""
    arrays: dict[str, np.ndarray | None] = {}
    size = 1
    for name, value in covariates.items():
        if value is None:
            arrays[name] = None
            continue
        array = np.atleast_1d(np.asarray(value, dtype=float))
        if array.ndim != 1 or not np.all(np.isfinite(array)) or np.any(array <= 0):
            raise InputError(name, value, "a positive number or a 1-D array of positive numbers (one per patient)")
        arrays[name] = array
        try:
            size = np.broadcast_shapes((size,), array.shape)[0]
        except ValueError:
            raise InputError(name, value, f"one value per patient ({size} patients)") from None
    return size, {name: None if array is None else np.broadcast_to(array, (size,)) for name, array in arrays.items()}


GUIDED_QUANTITIES = ("bed", "dose", "eqd2")
GUIDED_BASES = ("cycle1", "pet")
GUIDED_ADJUSTMENTS = ("activity", "cycles")


class GuidedDosing(Schema):
    """Dosimetry-guided activity: each patient's activities chosen so that ``quantity`` (BED, RBE-weighted absorbed
    dose or EQD2) of ``region`` over the whole course reaches ``target`` (default: that organ's limit in
    ``data/tissues.yaml`` that applies to every patient, e.g. kidney BED 40 Gy, Bodei et al. 2008).

    ``basis``: ``cycle1`` — cycle 1 is given at the schedule's activity and the patient's dose per GBq measured
    after it (post-therapy SPECT dosimetry) sets the later cycles; ``pet`` — the dose per GBq predicted before
    therapy (pre-therapy PET uptake) sets every cycle. ``adjust``: ``activity`` — cycles keep their number and
    share the remaining budget equally (the activity solved from the Lea–Catcheside BED of each cycle);
    ``cycles`` — each cycle keeps the schedule's activity and cycles are given while the course stays within the
    target, up to ``cycles`` (Sundlöv et al. 2017 Eur J Nucl Med Mol Imaging 44:1480; ILUMINET, Sundlöv et al.
    2022 Eur J Nucl Med Mol Imaging 49:3830); at least cycle 1 is given. ``max_activity`` caps one cycle.
    ``error``: σ of ln(measured / true dose per GBq) of the dosimetry the activity is chosen from (log-normal,
    median the truth; default 0: exact), drawn per patient from ``error_seed``.
    The activities are resolved per patient where the dosimetry is known
    (:func:`rptici.radiobiology.guided.guided_administrations`); here the schedule keeps the nominal ones.
    """

    region: str = "kidneys"
    quantity: str = "bed"
    target: Quantity | None = None
    basis: str = "cycle1"
    adjust: str = "activity"
    max_activity: Quantity | None = None
    error: float = 0.0
    error_seed: int = 0

    _target_Gy: float | None = PrivateAttr(default=None)
    _max_MBq: float | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _parse(self) -> GuidedDosing:
        for name, allowed in (("quantity", GUIDED_QUANTITIES), ("basis", GUIDED_BASES),
                              ("adjust", GUIDED_ADJUSTMENTS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"guided.{name}", getattr(self, name), "one of " + ", ".join(allowed))
        if self.target is not None:
            self._target_Gy = parse_positive(self.target, "dose", "guided.target", require_unit=True)
        if self.max_activity is not None:
            self._max_MBq = parse_positive(self.max_activity, "activity", "guided.max_activity", require_unit=True)
        if isinstance(self.error, bool) or not math.isfinite(self.error) or not 0 <= self.error <= 1:
            raise InputError("guided.error", self.error, "a σ of ln (measured / true dose per GBq) from 0 (exact) to 1")
        if isinstance(self.error_seed, bool) or self.error_seed < 0:
            raise InputError("guided.error_seed", self.error_seed, "a whole number ≥ 0")
        return self

    @property
    def target_Gy(self) -> float | None:
        """The target in Gy, or None for the tissue file's limit."""
        return self._target_Gy

    @property
    def max_MBq(self) -> float | None:
        return self._max_MBq


class RptSchedule(Schema):
    """Radiopharmaceutical cycles: activity per cycle (per patient, per kg or per m2), interval, cycles.

    ``activity_step`` changes the activity by that amount each cycle (TheraP and PRINCE: -0.5 GBq from
    8.5 GBq); ``activity_factor`` instead multiplies each cycle's activity by that factor (STARLITE 2: 0.75,
    each dose 75 % of the one before; Feldman et al. 2022 J Clin Oncol 40(16 suppl):TPS4603); ``start`` is the
    day of the first cycle within this schedule. ``state``: a physiological state of the agent's biokinetics (its
    data file's ``states``; radioiodine: ``withdrawal`` for thyroid-hormone withdrawal, default the rhTSH
    reference).
    """

    agent: str
    activity: Quantity
    activity_step: Quantity | None = None
    activity_factor: float | None = None
    interval: Quantity | None = None
    cycles: int = 1
    start: Quantity = 0.0
    guided: GuidedDosing | None = None
    state: str | None = None

    _activity_dimension: str = PrivateAttr()
    _activity_value: float = PrivateAttr()
    _step_value: float = PrivateAttr(default=0.0)
    _interval_days: float = PrivateAttr(default=0.0)
    _start_days: float = PrivateAttr(default=0.0)

    @field_validator("agent")
    @classmethod
    def _known_agent(cls, value: str) -> str:
        radiopharmaceutical(value)
        return value

    @field_validator("cycles", mode="before")
    @classmethod
    def _whole_cycles(cls, value: object) -> object:
        return _administrations(value, "cycles", "cycles")

    @model_validator(mode="after")
    def _parse(self) -> RptSchedule:
        dimension, value = _dimension(self.activity, ACTIVITY_DIMENSIONS, "activity", "an " + _ACTIVITY_ALLOWED)
        if not value > 0:
            raise InputError("activity", self.activity, "a positive " + _ACTIVITY_ALLOWED)
        self._activity_dimension, self._activity_value = dimension, value
        if self.activity_step is not None:
            try:
                self._step_value = parse_quantity(self.activity_step, dimension, "activity_step", require_unit=True)
            except InputError:
                raise InputError("activity_step", self.activity_step,
                                 f"a change per cycle in the same dimension as activity ({dimension}, "
                                 f"{format_quantity(1.0, dimension).split(' ', 1)[1]}), "
                                 "such as '-0.5 GBq'") from None
            last = value + (self.cycles - 1) * self._step_value
            if not math.isfinite(last):
                raise InputError("activity_step", self.activity_step,
                                 f"a step that keeps every one of the {self.cycles} activities finite")
            if not last > 0:
                raise InputError("activity_step", self.activity_step,
                                 f"a step that keeps every one of the {self.cycles} activities positive "
                                 f"(cycle {self.cycles} would get {format_quantity(last, dimension)})")
        if self.activity_factor is not None:
            if self.activity_step is not None:
                raise InputError("activity_factor", self.activity_factor, "no factor when activity_step is given "
                                 "(one or the other)")
            if isinstance(self.activity_factor, bool) or not 0 < self.activity_factor <= 10:
                raise InputError("activity_factor", self.activity_factor, "a number above 0 and at most 10 "
                                 "(0.75: each cycle 75 % of the one before)")
        if self.interval is not None:
            self._interval_days = parse_interval(self.interval, "interval", require_unit=True)
        elif self.cycles > 1:
            raise InputError("interval", None, "an interval between cycles such as '6 weeks' or 'q6w' "
                                               "(needed for more than one cycle)")
        self._start_days = parse_positive(self.start, "time", "start", allow_zero=True, require_unit=True)
        _within_schedule(self._start_days, "start", self.start, "a first cycle")
        _within_schedule(self._start_days + self._interval_days * (self.cycles - 1), "interval", self.interval,
                         f"an interval that puts all {self.cycles} cycles")
        if self.guided is not None and self.activity_step is not None:
            raise InputError("activity_step", self.activity_step, "no step with guided dosing (the dosimetry sets "
                                                                  "each cycle's activity)")
        if self.state is not None:
            states = tuple(agent_parameters(self.agent).get("states") or ())
            if self.state not in states:
                raise InputError("state", self.state, f"a state of {self.radiopharmaceutical.name}: "
                                 + (", ".join(states) if states else "none (leave state out)"))
        return self

    @property
    def radiopharmaceutical(self) -> Radiopharmaceutical:
        return radiopharmaceutical(self.agent)

    @property
    def activity_dimension(self) -> str:
        """``activity`` (MBq), ``activity_per_mass`` (MBq/kg) or ``activity_per_area`` (MBq/m2)."""
        return self._activity_dimension

    @property
    def interval_days(self) -> float:
        return self._interval_days

    def cycle_activities(self) -> np.ndarray:
        """Activity of each cycle in the internal unit of :attr:`activity_dimension`, shape (cycles,)."""
        if self.activity_factor is not None:
            return self._activity_value * self.activity_factor ** np.arange(self.cycles)
        return self._activity_value + self._step_value * np.arange(self.cycles)

    def cycle_times(self) -> np.ndarray:
        """Day of each cycle from the start of this schedule, shape (cycles,)."""
        return self._start_days + self._interval_days * np.arange(self.cycles)

    def administrations(self, weight_kg: object = None, bsa_m2: object = None) -> tuple[np.ndarray, np.ndarray]:
        """(times in days (cycles,), activities in MBq (cycles, patients)) for the given covariates."""
        patients, covariates = _patients(weight_kg=weight_kg, bsa_m2=bsa_m2)
        activities = self.cycle_activities()[:, None]
        if self._activity_dimension == "activity_per_mass":
            if covariates["weight_kg"] is None:
                raise InputError("weight_kg", None, f"body weights in kg for an activity per kg ({self.activity})")
            activities = activities * covariates["weight_kg"][None, :]
        elif self._activity_dimension == "activity_per_area":
            if covariates["bsa_m2"] is None:
                raise InputError("bsa_m2", None, f"body surface areas in m2 for an activity per m2 ({self.activity})")
            activities = activities * covariates["bsa_m2"][None, :]
        return self.cycle_times(), np.broadcast_to(activities, (self.cycles, patients)).copy()


class IciSchedule(Schema):
    """Checkpoint-antibody infusions: dose (flat mg or mg/kg), interval, number of infusions or duration.

    ``infusion_time`` is the duration of each zero-order infusion (labels: 30 min for pembrolizumab,
    nivolumab and ipilimumab; 60 min for atezolizumab and durvalumab); ``start`` the first day.
    """

    agent: str
    dose: Quantity
    interval: Quantity
    infusions: int | None = None
    duration: Quantity | None = None
    infusion_time: Quantity = "30 min"
    start: Quantity = 0.0

    _dose_dimension: str = PrivateAttr()
    _dose_value: float = PrivateAttr()
    _interval_days: float = PrivateAttr()
    _infusion_days: float = PrivateAttr()
    _count: int = PrivateAttr()
    _start_days: float = PrivateAttr(default=0.0)

    @field_validator("agent")
    @classmethod
    def _known_agent(cls, value: str) -> str:
        checkpoint_inhibitor(value)
        return value

    @field_validator("infusions", mode="before")
    @classmethod
    def _whole_infusions(cls, value: object) -> object:
        return None if value is None else _administrations(value, "infusions", "infusions")

    @model_validator(mode="after")
    def _parse(self) -> IciSchedule:
        dimension, value = _dimension(self.dose, DOSE_DIMENSIONS, "dose", "a " + _DOSE_ALLOWED)
        if not value > 0:
            raise InputError("dose", self.dose, "a positive " + _DOSE_ALLOWED)
        self._dose_dimension, self._dose_value = dimension, value
        self._interval_days = parse_interval(self.interval, "interval", require_unit=True)
        self._infusion_days = parse_positive(self.infusion_time, "time", "infusion_time", allow_zero=True,
                                             require_unit=True)
        if self._infusion_days >= self._interval_days:
            raise InputError("interval", self.interval,
                             f"an interval longer than the infusion time ({self.infusion_time}), "
                             "so that infusions do not overlap")
        if (self.infusions is None) == (self.duration is None):
            raise InputError("infusions", self.infusions,
                             "either a number of infusions or a treatment duration (such as '2 years'), not both")
        if self.duration is not None:
            days = parse_positive(self.duration, "time", "duration", require_unit=True)
            self._count = max(1, math.ceil(days / self._interval_days - 1e-9))
            if self._count > MAX_ADMINISTRATIONS:
                raise InputError("duration", self.duration, f"a treatment duration of at most {MAX_ADMINISTRATIONS} "
                                                            f"infusions ({format_quantity(MAX_ADMINISTRATIONS * self._interval_days, 'time')} at this interval)")
        else:
            self._count = int(self.infusions)  # type: ignore[arg-type]
        self._start_days = parse_positive(self.start, "time", "start", allow_zero=True, require_unit=True)
        _within_schedule(self._start_days, "start", self.start, "a first infusion")
        _within_schedule(self._start_days + self._interval_days * (self._count - 1),
                         "duration" if self.duration is not None else "interval",
                         self.duration if self.duration is not None else self.interval,
                         f"a schedule that puts all {self._count} infusions")
        return self

    @property
    def checkpoint_inhibitor(self) -> CheckpointInhibitor:
        return checkpoint_inhibitor(self.agent)

    @property
    def dose_dimension(self) -> str:
        """``drug_amount`` (flat, mg) or ``drug_per_mass`` (mg/kg)."""
        return self._dose_dimension

    @property
    def infusion_days(self) -> float:
        return self._infusion_days

    @property
    def interval_days(self) -> float:
        return self._interval_days

    @property
    def count(self) -> int:
        """Number of infusions (given, or the infusions started within the treatment duration)."""
        return self._count

    def infusion_times(self) -> np.ndarray:
        """Start day of each infusion from the start of this schedule, shape (infusions,)."""
        return self._start_days + self._interval_days * np.arange(self._count)

    def infusions_for(self, weight_kg: object = None) -> tuple[np.ndarray, np.ndarray]:
        """(start times in days (infusions,), doses in mg (infusions, patients))."""
        patients, covariates = _patients(weight_kg=weight_kg)
        dose = np.full(patients, self._dose_value)
        if self._dose_dimension == "drug_per_mass":
            if covariates["weight_kg"] is None:
                raise InputError("weight_kg", None, f"body weights in kg for a dose per kg ({self.dose})")
            dose = dose * covariates["weight_kg"]
        return self.infusion_times(), np.broadcast_to(dose, (self._count, patients)).copy()


class Sequence(Schema):
    """Order of the two treatments: concurrent (both start on day 0), ICI first with a lead time before
    the first RPT cycle, or RPT first with a lag before the first infusion."""

    order: str = "concurrent"
    lead: Quantity | None = None
    lag: Quantity | None = None

    _lead_days: float = PrivateAttr(default=0.0)
    _lag_days: float = PrivateAttr(default=0.0)

    @field_validator("order")
    @classmethod
    def _known_order(cls, value: str) -> str:
        if value not in ORDERS:
            raise InputError("order", value, "one of " + ", ".join(ORDERS))
        return value

    @model_validator(mode="after")
    def _parse(self) -> Sequence:
        if self.lead is not None:
            if self.order != "ici_first":
                raise InputError("lead", self.lead, "no lead time unless order is 'ici_first'")
            self._lead_days = parse_positive(self.lead, "time", "lead", allow_zero=True, require_unit=True)
            _within_schedule(self._lead_days, "lead", self.lead, "a lead time")
        elif self.order == "ici_first":
            raise InputError("lead", None, "a lead time of the ICI before the first RPT cycle, such as '2 weeks'")
        if self.lag is not None:
            if self.order != "rpt_first":
                raise InputError("lag", self.lag, "no lag unless order is 'rpt_first'")
            self._lag_days = parse_positive(self.lag, "time", "lag", allow_zero=True, require_unit=True)
            _within_schedule(self._lag_days, "lag", self.lag, "a lag")
        elif self.order == "rpt_first":
            raise InputError("lag", None, "a lag between the first RPT cycle and the first infusion, such as '4 weeks'")
        return self

    @property
    def rpt_offset_days(self) -> float:
        """Day of the RPT schedule's start in the regimen's time (0: treatment start)."""
        return self._lead_days

    @property
    def ici_offset_days(self) -> float:
        return self._lag_days


#: The antibody compartment of the tumour–immune model that a checkpoint target's antibody fills: one anti-PD-(L)1
#: and one anti-CTLA-4 compartment (``immunity/table.py``), so one agent per compartment in a regimen.
COMPARTMENT_OF_TARGET = {"PD-1": "anti-PD-(L)1", "PD-L1": "anti-PD-(L)1", "CTLA-4": "anti-CTLA-4"}


def _one_or_many(value: object) -> str:
    """Which form of ``ici`` a scenario gave: one schedule (a mapping) or a list of them."""
    return "schedules" if isinstance(value, (list, tuple)) else "schedule"


class Regimen(Schema):
    """An RPT schedule, one or several ICI schedules (either may be absent for a monotherapy) and their sequence.

    ``ici`` is one schedule or a list of them (phases or a doublet), each started at its own ``start`` after the
    ICI offset of the sequence; CheckMate 650 (Sharma et al. 2020 Cancer Cell 38:489)::

        ici:
          - {agent: nivolumab, dose: 1 mg/kg, interval: q3w, infusions: 4}
          - {agent: ipilimumab, dose: 3 mg/kg, interval: q3w, infusions: 4}
          - {agent: nivolumab, dose: 480 mg, interval: q4w, start: 12 weeks, duration: 2 years}

    Each agent fills its target's antibody compartment (one anti-PD-(L)1, one anti-CTLA-4), so a regimen holds at
    most one agent per compartment.
    """

    rpt: RptSchedule | None = None
    ici: Annotated[Annotated[IciSchedule, Tag("schedule")] | Annotated[tuple[IciSchedule, ...], Tag("schedules")],
                   Discriminator(_one_or_many)] | None = None
    sequence: Sequence = Sequence()

    @model_validator(mode="after")
    def _consistent(self) -> Regimen:
        if self.rpt is None and not self.ici_schedules:
            raise InputError("rpt", None, "an RPT schedule, an ICI schedule, or both")
        if self.sequence.order != "concurrent" and (self.rpt is None or not self.ici_schedules):
            raise InputError("sequence.order", self.sequence.order, "'concurrent' unless both rpt and ici are given")
        seen: dict[str, str] = {}
        for number, schedule in enumerate(self.ici_schedules):
            compartment = COMPARTMENT_OF_TARGET[str(schedule.checkpoint_inhibitor.target)]
            if seen.setdefault(compartment, schedule.agent) != schedule.agent:
                raise InputError(f"ici[{number}].agent", schedule.agent,
                                 f"the same {compartment} agent as the regimen's other schedules ({seen[compartment]}): "
                                 "the model has one antibody compartment per checkpoint class")
        return self

    @property
    def ici_schedules(self) -> tuple[IciSchedule, ...]:
        """The ICI schedules in the order given (empty without ICI)."""
        if self.ici is None:
            return ()
        return self.ici if isinstance(self.ici, tuple) else (self.ici,)

    def ici_agents(self) -> dict[str, str]:
        """Checkpoint target of each agent of the regimen, in order of first appearance."""
        return {schedule.agent: str(schedule.checkpoint_inhibitor.target) for schedule in self.ici_schedules}

    def rpt_administrations(self, weight_kg: object = None, bsa_m2: object = None) -> tuple[np.ndarray, np.ndarray]:
        """(times in days (cycles,), activities in MBq (cycles, patients)); empty without RPT."""
        if self.rpt is None:
            patients, _ = _patients(weight_kg=weight_kg, bsa_m2=bsa_m2)
            return np.zeros(0), np.zeros((0, patients))
        times, activities = self.rpt.administrations(weight_kg, bsa_m2)
        return times + self.sequence.rpt_offset_days, activities

    def _ici_parts(self, weight_kg: object, agent: str | None) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
        """(times, doses (infusions, patients), agent and infusion duration per infusion), sorted by time."""
        patients, _ = _patients(weight_kg=weight_kg)
        chosen = [schedule for schedule in self.ici_schedules if agent is None or schedule.agent == agent]
        if not chosen:
            return np.zeros(0), np.zeros((0, patients)), [], np.zeros(0)
        parts = [schedule.infusions_for(weight_kg) for schedule in chosen]
        times = np.concatenate([part[0] for part in parts]) + self.sequence.ici_offset_days
        doses = np.concatenate([np.broadcast_to(part[1], (part[1].shape[0], patients)) for part in parts])
        agents = [schedule.agent for schedule, part in zip(chosen, parts) for _ in part[0]]
        durations = np.concatenate([np.full(part[0].size, schedule.infusion_days) for schedule, part in zip(chosen, parts)])
        order = np.argsort(times, kind="stable")
        return times[order], doses[order], [agents[i] for i in order], durations[order]

    def ici_infusions(self, weight_kg: object = None, agent: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(start times in days (infusions,), doses in mg (infusions, patients)) of every ICI schedule (or of
        ``agent``'s), sorted by time; empty without ICI."""
        times, doses, _, _ = self._ici_parts(weight_kg, agent)
        return times, doses

    def ici_infusion_agents(self) -> list[str]:
        """The agent of each infusion of :meth:`ici_infusions` (same order; needs no covariates)."""
        times = np.concatenate([schedule.infusion_times() for schedule in self.ici_schedules] or [np.zeros(0)])
        agents = [schedule.agent for schedule in self.ici_schedules for _ in range(schedule.count)]
        return [agents[i] for i in np.argsort(times, kind="stable")]

    def _single_agent(self, agent: str | None) -> str:
        agents = list(self.ici_agents())
        if agent is None and len(agents) > 1:
            raise InputError("agent", None, "one of the regimen's checkpoint inhibitors: " + ", ".join(agents))
        if agent is not None and agent not in agents:
            raise InputError("agent", agent, "one of the regimen's checkpoint inhibitors: " + ", ".join(agents))
        return agents[0] if agent is None else agent

    def ici_concentration(self, times: object, weight_kg: object = None,
                          random_effects: Mapping[str, object] | None = None, agent: str | None = None) -> np.ndarray:
        """Serum concentration (ug/mL) of the regimen's antibody (``agent`` when it has several), shape
        (times, patients); zeros without ICI."""
        if not self.ici_schedules:
            patients, _ = _patients(weight_kg=weight_kg)
            return np.zeros((np.atleast_1d(np.asarray(times)).size, patients))
        agent = self._single_agent(agent)
        infusion_times, doses, _, durations = self._ici_parts(weight_kg, agent)
        return simulate_antibody(agent, infusion_times, doses, weight_kg, times, infusion_days=durations,
                                 random_effects=random_effects)

    def ici_occupancy(self, times: object, weight_kg: object = None,
                      random_effects: Mapping[str, object] | None = None, agent: str | None = None) -> np.ndarray:
        """Target occupancy (fraction) of the antibody's target, shape (times, patients); zeros without ICI."""
        concentration = self.ici_concentration(times, weight_kg, random_effects, agent)
        return concentration if not self.ici_schedules else occupancy(concentration, self._single_agent(agent))


def load_regimen(source: Mapping[str, Any] | str | os.PathLike[str]) -> Regimen:
    """A :class:`Regimen` from a mapping (keys rpt, ici, sequence) or from a YAML file holding one."""
    return Regimen.load(source, "regimen")
