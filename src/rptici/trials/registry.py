"""Registry of clinical trials of radiopharmaceutical therapy (RPT) with immune checkpoint inhibitors (ICI).

Two packaged files seed it (copies of ``shared/reference``):

- ``trials_combination.yaml``: the RPT + ICI trials (role ``"validation"``: never used to fit anything);
- ``trials_monotherapy.yaml``: RPT-alone and ICI-alone trials (role ``"calibration"``);

and one file of rptici's own, ``trials_monotherapy_added.yaml``: further calibration trials in the same format, each
with its source (a checkpoint inhibitor added to a standard of care against placebo: what the antibody itself adds).

Records imported from ClinicalTrials.gov API v2 files get role ``"imported"``
(:meth:`Registry.add_clinicaltrials_gov`).

Units of reported results, as in the source files: rates (ORR, PSA50, grade >= 3 adverse events, PFS or
OS at a landmark such as ``pfs_12mo``) are fractions between 0 and 1; medians (``median_rpfs``,
``median_pfs``, ``median_psa_pfs``, ``median_os``) are in months; counts stay mappings such as
``{responders: 1, evaluable: 7}``; hazard ratios are ``[estimate, low, high]`` with a 95 % CI unless the
file names another interval.

Agents are resolved through :mod:`rptici.data.catalogue`; a name the catalogue does not know is kept as
written with ``agent_known=False``. Each regimen that :func:`rptici.kinetics.regimen.load_regimen`
accepts is *replayable*; :func:`regimen_mapping` returns it.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

from rptici.data import load_yaml
from rptici.data import catalogue
from rptici.data.catalogue import normalized_name, radiopharmaceutical
from rptici.errors import InputError, UnknownNameError
from rptici.kinetics.biokinetics import LESION_SITES, known_agents
from rptici.kinetics.regimen import load_regimen
from rptici.population.distributions import known_diseases
from rptici.trials.scenario import parse_schedule

Role = Literal["validation", "calibration", "imported"]
ResultValue = float | int | str | dict[str, float | int | str]

#: Infusions of a checkpoint inhibitor given "until progression" (no count in the source) are replayed for
#: this long: the usual treatment cap of ICI trials (for example 35 infusions q3w, about two years, in
#: KEYNOTE trials and in PRINCE). An assumption, listed with every regimen that uses it.
ASSUMED_ICI_DURATION = "2 years"

COMBINATION_FILE = "trials_combination.yaml"
MONOTHERAPY_FILE = "trials_monotherapy.yaml"
#: Calibration trials rptici adds to the reference copy (same format, role ``calibration``), each with its source.
ADDED_MONOTHERAPY_FILE = "trials_monotherapy_added.yaml"
#: What rptici adds to the verbatim monotherapy copy (ORR denominators, a two-antibody regimen), with sources.
AMENDMENTS_FILE = "trials_amendments.yaml"
#: What rptici adds to the verbatim combination copy so that each trial replays as it was run: a range made a
#: documented choice, a missing activity or dose from the protocol or the label, the imaging schedule, whom it
#: enrolled; every entry with its source.
COMBINATION_AMENDMENTS_FILE = "trials_combination_amendments.yaml"


def _trial_names(raw: dict) -> tuple[str, ...]:
    return tuple(str(raw[key]) for key in ("trial", "nct", "acronym") if raw.get(key))


def amended(trials: list[dict], amendments: list[dict], where: str) -> list[dict]:
    """Copies of the raw ``trials`` with ``amendments`` applied. Each amendment names a trial (``trial``: its name,
    NCT number or acronym), may ``set`` trial-level keys (:data:`AMENDABLE_KEYS`: ``rpt``, ``ici``, ``sequence``,
    ``assessments``, ``excluded_sites`` and the trial's cohort, :class:`Cohort`),
    and per named arm replaces outcome keys (null removes one) and sets other keys (``rpt``, ``ici``). It needs a
    ``source``; its ``choice`` says what was decided where the source gave a range or nothing. Each amended copy
    lists, under ``amendments``, what was changed, what the source had said, the choice and the source. An
    amendment naming an unknown trial, arm or key is an error."""
    trials = [dict(raw) for raw in trials]
    for number, amendment in enumerate(amendments or []):
        place = f"{where}: [{number}]"
        position = next((index for index, raw in enumerate(trials) if amendment.get("trial") in _trial_names(raw)),
                        None)
        if position is None:
            raise InputError(f"{place}.trial", amendment.get("trial"),
                             "a trial of the amended file: " + ", ".join(_trial_names(raw)[0] for raw in trials))
        if not amendment.get("source"):
            raise InputError(f"{place}.source", amendment.get("source"), "the source of the amendment (text)")
        record = trials[position]
        changes = dict(amendment.get("set") or {})
        unknown = sorted(set(changes) - set(AMENDABLE_KEYS))
        if unknown:
            raise InputError(f"{place}.set", unknown[0], "one of " + ", ".join(AMENDABLE_KEYS))
        was = {key: copy.deepcopy(record.get(key)) for key in changes}
        record.update(copy.deepcopy(changes))
        arms = [dict(arm) for arm in record.get("arms") or []]
        for name, arm_changes in (amendment.get("arms") or {}).items():
            arm = next((arm for arm in arms if arm.get("name") == name), None)
            if arm is None:
                raise InputError(f"{place}.arms", name, "an arm of " + _trial_names(record)[0] + ": "
                                 + ", ".join(str(arm.get("name")) for arm in arms))
            for key, value in arm_changes.items():
                if key == "outcomes":
                    merged = {**(arm.get("outcomes") or {}), **value}
                    arm[key] = {outcome: reported for outcome, reported in merged.items() if reported is not None}
                else:
                    arm[key] = value
        record["arms"] = arms
        changed = [*changes, *(f"arms.{name}" for name in amendment.get("arms") or {})]
        record["amendments"] = [*record.get("amendments", []),
                                {"changed": changed, "was": was, "choice": amendment.get("choice"),
                                 "source": str(amendment["source"])}]
    return trials


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return self.model_dump(mode="json")


class RptSpec(_Record):
    """The radiopharmaceutical of a trial or arm as the source wrote it, with its catalogue resolution."""

    agent: str
    agent_name: str | None = None  # the catalogue's standard name; None when unknown
    agent_known: bool = False
    activity: str | tuple[str, ...] | None = None  # several: dose levels (escalation cohorts)
    interval: str | None = None
    max_cycles: int | None = None
    administrations: int | None = None
    route: str | None = None
    notes: str | None = None
    confirmed: bool = True


class IciSpec(_Record):
    """The checkpoint inhibitor of a trial or arm as the source wrote it, with its catalogue resolution."""

    agent: str
    agent_name: str | None = None
    agent_known: bool = False
    dose: str | None = None
    interval: str | None = None
    max_cycles: int | None = None
    duration: str | None = None
    route: str | None = None
    start: str | None = None  # a phase's first day after the start of the ICI (nivolumab maintenance after 4 doublets)
    concomitant: str | None = None  # the source's "with": another drug given alongside
    notes: str | None = None
    confirmed: bool = True


class HazardRatio(_Record):
    """A reported hazard ratio with its confidence interval."""

    estimate: float
    low: float
    high: float
    interval: str = "95 % CI"


class Cohort(_Record):
    """Who a trial or one of its arms enrolled, where the source defines its patients beyond the disease: what a
    replay's arm takes from it (:meth:`cohort`). On a trial without arms (a single-arm combination trial), every arm
    its replay simulates (the combination and the RPT-alone reference) enrols that cohort."""

    #: Prior systemic lines of every patient where the trial defines its cohort by them (CheckMate 650's
    #: chemotherapy-naive cohort: 1), or the shares of a mixed cohort ({0: 0.391, 1: 0.609}, KEYNOTE-641); None: the
    #: population file's distribution (checked where a replay's arm takes it, rptici.trials.scenario.prior_lines_field).
    prior_lines: int | dict[int, float] | None = None
    #: Whether the cohort is RECIST-measurable disease only (True) or only patients without it (False), where the
    #: trial defines it so (KEYNOTE-199 cohorts 1-2 and 3); None: any.
    measurable_disease: bool | None = None
    #: The share of screened patients the trial's PET screen turned away for target-low disease (TheraP); None: none.
    pet_screen_exclusion: float | None = Field(default=None, ge=0.0, le=0.99)

    def cohort(self) -> dict[str, Any]:
        """The :data:`COHORT_FIELDS` that are set, for a scenario's arm."""
        return {name: getattr(self, name) for name in COHORT_FIELDS if getattr(self, name) is not None}


#: The cohort definitions a registry trial or arm passes to a replay's arm (rptici.trials.scenario.ArmSpec).
COHORT_FIELDS = tuple(Cohort.model_fields)
#: Trial-level keys an amendment may set (``set:``); the record keeps what the source said in ``amendments``.
AMENDABLE_KEYS = ("rpt", "ici", "sequence", "assessments", "excluded_sites", *COHORT_FIELDS)


class ArmRecord(Cohort):
    """One arm: name, patients, its own treatment where the source gives it, per-arm outcomes and its cohort."""

    name: str
    n: int | None = None
    rpt: RptSpec | None = None
    ici: IciSpec | tuple[IciSpec, ...] | None = None
    description: str | None = None
    outcomes: dict[str, ResultValue] = Field(default_factory=dict)


class RegimenStatus(_Record):
    """Whether one regimen of a record (trial level or an arm, one dose level) replays as a Regimen.

    ``mapping`` is what :func:`rptici.kinetics.regimen.load_regimen` accepts; ``reason`` says why not
    where it does not; ``assumptions`` lists what was assumed beyond the source's text.
    """

    arm: str | None = None
    level: str | None = None
    replayable: bool
    reason: str | None = None
    assumptions: tuple[str, ...] = ()
    mapping: dict[str, Any] | None = None


class Amendment(_Record):
    """What rptici changed in a record (``changed``: keys or ``arms.<name>``), what the source said there (``was``),
    the choice made where the source gave a range or nothing, and where the new values come from."""

    changed: tuple[str, ...]
    was: dict[str, Any] = Field(default_factory=dict)
    choice: str | None = None
    source: str


class TrialRecord(Cohort):
    """One clinical trial as reported, with its role (validation, calibration or imported)."""

    nct: str | None = None
    acronym: str | None = None
    title: str | None = None
    disease: str | None = None
    disease_status: str | None = None
    phase: str | None = None
    status: str | None = None
    target: str | None = None
    rpt: RptSpec | None = None
    ici: IciSpec | tuple[IciSpec, ...] | None = None
    sequence: str | None = None
    #: The imaging schedule of the trial's protocol (scenario syntax, e.g. "q9w x5 then q12w"); None: not given.
    assessments: str | None = None
    #: Lesion sites whose presence kept a patient out, where the eligibility says (() where it says none: NCT02814669
    #: required visceral or nodal disease); None: the replay's rule (rptici.analysis.replay.excluded_sites).
    excluded_sites: tuple[str, ...] | None = None
    n: int | None = None
    arms: tuple[ArmRecord, ...] = ()
    result_summary: str | None = None
    results: dict[str, ResultValue] = Field(default_factory=dict)
    hazard_ratios: dict[str, HazardRatio] = Field(default_factory=dict)
    notes: str | None = None
    reference: str | None = None
    role: Role
    other_interventions: tuple[str, ...] = ()
    amendments: tuple[Amendment, ...] = ()
    regimens: tuple[RegimenStatus, ...] = ()

    @property
    def name(self) -> str:
        """The NCT number, or the acronym for a trial without one."""
        return self.nct or self.acronym or self.title or "?"

    @property
    def total_n(self) -> int | None:
        """Patients: the reported total, else the sum over arms that give one."""
        if self.n is not None:
            return self.n
        counts = [arm.n for arm in self.arms if arm.n is not None]
        return sum(counts) if counts else None

    @property
    def population(self) -> str | None:
        """The virtual population (disease file) that stands for the record's patients, or None."""
        try:
            return population_for(self)
        except InputError:
            return None

    @property
    def replayable(self) -> bool:
        """True when the record's disease has a virtual population and at least one of its regimens replays."""
        return self.population is not None and any(status.replayable for status in self.regimens)

    @property
    def replay_reason(self) -> str | None:
        """Why no regimen replays (None when one does)."""
        if self.replayable:
            return None
        if self.population is None:
            return f"no virtual population for the disease {self.disease!r}"
        if not self.regimens:
            return "no RPT or ICI regimen in the source"
        return "; ".join(dict.fromkeys(f"{status.arm}: {status.reason}" if status.arm else str(status.reason)
                                       for status in self.regimens))

    def rpt_specs(self) -> list[RptSpec]:
        return [spec for spec in (self.rpt, *(arm.rpt for arm in self.arms)) if spec is not None]

    def ici_specs(self) -> list[IciSpec]:
        return [spec for item in (self.ici, *(arm.ici for arm in self.arms)) if item is not None
                for spec in (item if isinstance(item, tuple) else (item,))]

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, **super().summary(), "replayable": self.replayable,
                "replay_reason": self.replay_reason}

    def summary_row(self) -> dict[str, Any]:
        """One row for a table: identity, disease, phase, status, agents, patients, role, replayable."""
        return {
            "name": self.name, "nct": self.nct, "acronym": self.acronym, "disease": self.disease,
            "phase": self.phase, "status": self.status,
            "rpt": ", ".join(dict.fromkeys(spec.agent_name or spec.agent for spec in self.rpt_specs())) or None,
            "ici": ", ".join(dict.fromkeys(spec.agent_name or spec.agent for spec in self.ici_specs())) or None,
            "n": self.total_n, "role": self.role, "replayable": self.replayable,
        }


class CaseReport(_Record):
    """A published case (not a trial): kept for the record, never replayed."""

    disease: str
    rpt: RptSpec
    ici: str
    ici_agents: tuple[str, ...] = ()  # catalogue names found in ``ici``
    result: str
    reference: str
    role: Role = "validation"


# --- building records from the packaged files ---------------------------------------------------------------

def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _resolve(name: str, lookup) -> tuple[str | None, bool]:
    try:
        return lookup(name).name, True
    except UnknownNameError:
        return None, False


_RPT_KEYS = {"agent", "activity", "interval", "max_cycles", "administrations", "route", "notes", "note", "confirmed"}
_ICI_KEYS = {"agent", "dose", "interval", "max_cycles", "duration", "start", "route", "with", "notes", "note",
             "confirmed"}


def _rpt_spec(raw: object, where: str) -> RptSpec | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"agent": raw}
    if not isinstance(raw, dict) or "agent" not in raw or set(raw) - _RPT_KEYS:
        raise InputError(where, raw, "a mapping with an agent and any of " + ", ".join(sorted(_RPT_KEYS)))
    name, known = _resolve(str(raw["agent"]), radiopharmaceutical)
    activity = raw.get("activity")
    return RptSpec(
        agent=str(raw["agent"]), agent_name=name, agent_known=known,
        activity=tuple(str(item) for item in activity) if isinstance(activity, list) else _text(activity),
        interval=_text(raw.get("interval")), max_cycles=raw.get("max_cycles"),
        administrations=raw.get("administrations"), route=_text(raw.get("route")),
        notes=_text(raw.get("notes", raw.get("note"))), confirmed=raw.get("confirmed", True))


def _ici_spec(raw: object, where: str) -> IciSpec | tuple[IciSpec, ...] | None:
    """The checkpoint inhibitor as written: one agent, or a list of schedules (a doublet and its phases)."""
    if raw is None:
        return None
    if isinstance(raw, list) and raw:
        return tuple(_ici_spec(item, f"{where}[{number}]") for number, item in enumerate(raw))  # type: ignore[misc]
    if isinstance(raw, str):
        raw = {"agent": raw}
    if not isinstance(raw, dict) or "agent" not in raw or set(raw) - _ICI_KEYS:
        raise InputError(where, raw, "a mapping with an agent and any of " + ", ".join(sorted(_ICI_KEYS)))
    name, known = _resolve(str(raw["agent"]), catalogue.checkpoint_inhibitor)
    return IciSpec(
        agent=str(raw["agent"]), agent_name=name, agent_known=known, dose=_text(raw.get("dose")),
        interval=_text(raw.get("interval")), max_cycles=raw.get("max_cycles"), duration=_text(raw.get("duration")),
        route=_text(raw.get("route")), start=_text(raw.get("start")), concomitant=_text(raw.get("with")),
        notes=_text(raw.get("notes", raw.get("note"))), confirmed=raw.get("confirmed", True))


def _hazard_ratio(raw: object, where: str) -> HazardRatio:
    if isinstance(raw, list) and len(raw) in (3, 4) and all(isinstance(item, (int, float)) for item in raw[:3]):
        return HazardRatio(estimate=raw[0], low=raw[1], high=raw[2],
                           **({"interval": str(raw[3])} if len(raw) == 4 else {}))
    raise InputError(where, raw, "[estimate, low, high] or [estimate, low, high, 'interval']")


_SEQUENCES = {"concurrent": ("concurrent", None),
              "concurrent or staggered": ("concurrent", "sequence 'concurrent or staggered': the concurrent schedule "
                                                        "is replayed")}
_ACTIVITY_STEP = re.compile(r"(decreasing|increasing)\s+(?P<step>[-+]?[\d.]+\s*[^\s%]+|[\d.]+\s*%)\s+per\s+cycle",
                            re.IGNORECASE)
_PARENTHESIS = re.compile(r"\((?P<inner>[^)]*)\)")


def _activity(text: str) -> tuple[str, str | float | None, list[str]]:
    """(activity, change per cycle or None, assumptions) from '8.5 GBq (decreasing 0.5 GBq per cycle)' (a step,
    '-0.5 GBq') or '1.8 GBq/m2 (decreasing 25 % per cycle)' (a factor, 0.75)."""
    assumptions: list[str] = []
    step: str | float | None = None
    match = _ACTIVITY_STEP.search(text)
    if match:
        decreasing = match.group(1).lower() == "decreasing"
        amount = match.group("step").lstrip("+-")
        if amount.endswith("%"):
            percent = float(amount.rstrip("% "))
            step = 1 - percent / 100 if decreasing else 1 + percent / 100
        else:
            step = ("-" if decreasing else "") + amount
        text = (text[:match.start()] + text[match.end():])
    parenthesis = _PARENTHESIS.search(text)
    if parenthesis and parenthesis.group("inner").strip():
        assumptions.append(f"activity note ignored: ({parenthesis.group('inner').strip()})")
    activity = _PARENTHESIS.sub("", text).strip()
    return activity, step, assumptions


def _ici_schedule(ici: IciSpec, ici_duration: str, assumptions: list[str]) -> dict[str, Any]:
    """The :class:`rptici.kinetics.regimen.IciSchedule` mapping of one checkpoint-inhibitor spec."""
    infusions: dict[str, Any] = {"agent": ici.agent_name or ici.agent}
    if ici.dose is not None:
        infusions["dose"] = ici.dose
    if ici.interval is not None:
        infusions["interval"] = ici.interval
    if ici.start is not None:
        infusions["start"] = ici.start
    if ici.max_cycles is not None:
        infusions["infusions"] = ici.max_cycles
        assumptions.append(f"ici: every patient receives the maximum of {ici.max_cycles} infusions")
    elif ici.duration is not None:
        infusions["duration"] = ici.duration
    else:
        infusions["duration"] = ici_duration
        assumptions.append(f"ici: no number of infusions given; {ici_duration} of infusions assumed")
    if not ici.confirmed:
        assumptions.append("ici: dosing marked unconfirmed in the source")
    if ici.concomitant:
        assumptions.append(f"ici: concomitant '{ici.concomitant}' not modelled")
    return infusions


def no_biokinetics_reason(agent: str) -> str:
    """Why a regimen of ``agent`` cannot be simulated yet (the words a replay test and the issue look for)."""
    return (f"no biokinetics for {agent} yet: the engine can run only the agents of data/biokinetics ("
            + ", ".join(known_agents()) + ")")


def _assess(rpt: RptSpec | None, ici: IciSpec | tuple[IciSpec, ...] | None, sequence: str | None, arm: str | None,
            ici_duration: str) -> list[RegimenStatus]:
    """Every regimen (one per activity level) that ``rpt``, ``ici`` and ``sequence`` describe."""
    if rpt is None and ici is None:
        return []
    levels: list[str | None] = [None]
    if rpt is not None and isinstance(rpt.activity, tuple):
        levels = list(rpt.activity)
    statuses = []
    for level in levels:
        assumptions: list[str] = []
        mapping: dict[str, Any] = {}
        if rpt is not None:
            schedule: dict[str, Any] = {"agent": rpt.agent_name or rpt.agent}
            activity = level if level is not None else rpt.activity
            if activity is not None:
                schedule["activity"], step, notes = _activity(activity)
                assumptions += notes
                if isinstance(step, float):
                    schedule["activity_factor"] = step
                elif step is not None:
                    schedule["activity_step"] = step
            if rpt.interval is not None:
                schedule["interval"] = rpt.interval
            cycles = rpt.max_cycles or rpt.administrations
            if cycles is None:
                cycles = 1
                assumptions.append("rpt: no number of cycles given; one administration assumed")
            elif rpt.max_cycles is not None:
                assumptions.append(f"rpt: every patient receives the maximum of {cycles} cycles")
            schedule["cycles"] = cycles
            if not rpt.confirmed:
                assumptions.append("rpt: marked unconfirmed in the source")
            mapping["rpt"] = schedule
        if isinstance(ici, tuple):
            mapping["ici"] = [_ici_schedule(spec, ici_duration, assumptions) for spec in ici]
        elif ici is not None:
            mapping["ici"] = _ici_schedule(ici, ici_duration, assumptions)
        order, note = _SEQUENCES.get((sequence or "concurrent").strip().lower(), (None, None))
        if note:
            assumptions.append(note)
        if len(levels) > 1:
            assumptions.append(f"activity level {level} of {', '.join(str(item) for item in levels)}")
        reasons: list[str] = []
        if order is None:
            reasons.append(f"sequence {sequence!r} is not one of concurrent, ici_first, rpt_first")
        else:
            mapping["sequence"] = {"order": order}
            specs = [(rpt, "rpt")] + [(spec, "ici") for spec in (ici if isinstance(ici, tuple) else (ici,))]
            reasons += [f"{label}.agent {spec.agent!r} is not in the catalogue" for spec, label in specs
                        if spec is not None and not spec.agent_known]
            if not reasons:
                try:
                    load_regimen(mapping)
                except InputError as error:
                    reasons.append(str(error))
        if rpt is not None and rpt.agent_known and rpt.agent_name not in known_agents():
            reasons.append(no_biokinetics_reason(rpt.agent_name))
        reason = "; ".join(reasons) or None
        statuses.append(RegimenStatus(arm=arm, level=level, replayable=reason is None, reason=reason,
                                      assumptions=tuple(assumptions), mapping=mapping if reason is None else None))
    return statuses


#: Disease text of a record (regular expression) → the population file that stands for its patients.
DISEASE_PATTERNS = (
    (r"prostate|mcrpc", "mcrpc"), (r"non-small cell lung|\bnsclc\b", "nsclc_bone"), (r"small cell lung", "sclc"),
    (r"merkel", "merkel"), (r"lung net|lung neuroendocrine|carcinoid", "lung_net"),
    (r"neuroendocrine|\bnets?\b", "gep_net"), (r"renal|ccrcc", "ccrcc"), (r"thyroid", "dtc"),
    (r"neuroblastoma", "neuroblastoma"), (r"lymphoma", "lymphoma"),
)


def population_for(record: TrialRecord) -> str:
    """The population (disease file) that stands for the record's patients; InputError when none does."""
    text = " ".join(part for part in (record.disease, record.disease_status) if part).casefold()
    for pattern, disease in DISEASE_PATTERNS:
        if re.search(pattern, text) and disease in known_diseases():
            return disease
    raise InputError("disease", record.disease, "a disease with a virtual population (prostate, NSCLC, SCLC, Merkel, "
                                                "NET, renal, thyroid, neuroblastoma, lymphoma)")


_RESERVED_ARM = {"name", "n", "rpt", "ici", "outcomes", "description", *COHORT_FIELDS}


def _arm(raw: object, where: str) -> ArmRecord:
    if not isinstance(raw, dict) or "name" not in raw:
        raise InputError(where, raw, "a mapping with a name")
    outcomes = dict(raw.get("outcomes") or {})
    outcomes.update({key: value for key, value in raw.items() if key not in _RESERVED_ARM})
    return ArmRecord(name=str(raw["name"]), n=raw.get("n"), rpt=_rpt_spec(raw.get("rpt"), f"{where}.rpt"),
                     ici=_ici_spec(raw.get("ici"), f"{where}.ici"), description=_text(raw.get("description")),
                     outcomes=outcomes, **_cohort_given(raw))


def _amendment_notes(record: TrialRecord) -> tuple[str, ...]:
    """One assumption per amendment of ``record``: what was changed and the choice made (its source is in the
    record's ``amendments``)."""
    return tuple(f"amended {', '.join(amendment.changed)}" + (f": {amendment.choice}" if amendment.choice else "")
                 for amendment in record.amendments)


def _with_regimens(record: TrialRecord, ici_duration: str = ASSUMED_ICI_DURATION) -> TrialRecord:
    statuses = _assess(record.rpt, record.ici, record.sequence, None, ici_duration)
    for arm in record.arms:
        statuses += _assess(arm.rpt, arm.ici, record.sequence if (arm.rpt and arm.ici) else None, arm.name,
                            ici_duration)
    notes = _amendment_notes(record)
    if notes:
        statuses = [status.model_copy(update={"assumptions": status.assumptions + notes}) for status in statuses]
    return record.model_copy(update={"regimens": tuple(statuses)})


def _assessments(value: object, where: str) -> str | None:
    """A record's imaging schedule, checked as a scenario reads it (:func:`rptici.trials.scenario.parse_schedule`)."""
    if value is None:
        return None
    parse_schedule(str(value), 365.25, where)
    return str(value)


def _cohort_given(raw: dict) -> dict[str, Any]:
    """The :data:`COHORT_FIELDS` a raw trial or arm gives (checked by :class:`Cohort`)."""
    return {name: raw[name] for name in COHORT_FIELDS if name in raw}


def _excluded_sites(value: object, where: str) -> tuple[str, ...] | None:
    """A record's excluded lesion sites, each one of :data:`~rptici.kinetics.biokinetics.LESION_SITES`."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise InputError(where, value, "a list of lesion sites (" + ", ".join(LESION_SITES) + "), [] for none")
    for site in value:
        if site not in LESION_SITES:
            raise UnknownNameError(where, site, LESION_SITES)
    return tuple(value)


def _amendments(raw: dict) -> tuple[Amendment, ...]:
    return tuple(Amendment(changed=tuple(item["changed"]), was=item.get("was") or {}, choice=item.get("choice"),
                           source=item["source"]) for item in raw.get("amendments") or [])


_COMBINATION_KEYS = {"nct", "acronym", "title", "disease", "phase", "disease_status", "target", "rpt", "ici",
                     "sequence", "assessments", "status", "n", "arms", "results", "reference", "amendments",
                     "excluded_sites", *COHORT_FIELDS}


def _combination_record(raw: dict, where: str) -> TrialRecord:
    if not isinstance(raw, dict) or set(raw) - _COMBINATION_KEYS:
        raise InputError(where, raw, "a trial mapping with keys among " + ", ".join(sorted(_COMBINATION_KEYS)))
    results = dict(raw.get("results") or {})
    summary = results.pop("summary", None)
    record = TrialRecord(
        nct=raw.get("nct"), acronym=_text(raw.get("acronym")), title=_text(raw.get("title")),
        disease=raw.get("disease"), disease_status=raw.get("disease_status"), phase=_text(raw.get("phase")),
        status=raw.get("status"), target=raw.get("target"), rpt=_rpt_spec(raw.get("rpt"), f"{where}.rpt"),
        ici=_ici_spec(raw.get("ici"), f"{where}.ici"), sequence=raw.get("sequence"),
        assessments=_assessments(raw.get("assessments"), f"{where}.assessments"), n=raw.get("n"),
        excluded_sites=_excluded_sites(raw.get("excluded_sites"), f"{where}.excluded_sites"),
        arms=tuple(_arm(arm, f"{where}.arms[{index}]") for index, arm in enumerate(raw.get("arms") or [])),
        result_summary=summary, results=results, reference=raw.get("reference"), role="validation",
        amendments=_amendments(raw), **_cohort_given(raw))
    return _with_regimens(record)


_MONOTHERAPY_KEYS = {"trial", "nct", "disease", "assessments", "arms", "hazard_ratios", "notes", "source",
                     "amendments", "excluded_sites", *COHORT_FIELDS}


def _monotherapy_record(raw: dict, where: str) -> TrialRecord:
    if not isinstance(raw, dict) or set(raw) - _MONOTHERAPY_KEYS:
        raise InputError(where, raw, "a trial mapping with keys among " + ", ".join(sorted(_MONOTHERAPY_KEYS)))
    hazard_ratios = {key: _hazard_ratio(value, f"{where}.hazard_ratios.{key}")
                     for key, value in (raw.get("hazard_ratios") or {}).items()}
    record = TrialRecord(
        nct=raw.get("nct"), acronym=_text(raw.get("trial")), disease=raw.get("disease"),
        assessments=_assessments(raw.get("assessments"), f"{where}.assessments"),
        excluded_sites=_excluded_sites(raw.get("excluded_sites"), f"{where}.excluded_sites"),
        arms=tuple(_arm(arm, f"{where}.arms[{index}]") for index, arm in enumerate(raw.get("arms") or [])),
        hazard_ratios=hazard_ratios, notes=raw.get("notes"), reference=raw.get("source"), role="calibration",
        amendments=_amendments(raw), **_cohort_given(raw))
    return _with_regimens(record)


_SPLIT_AGENTS = re.compile(r"[+(),;/]|\band\b")


def _case_report(raw: dict, where: str) -> CaseReport:
    ici_text = str(raw.get("ici", ""))
    found = []
    for token in _SPLIT_AGENTS.split(ici_text):
        name, known = _resolve(token.strip(), catalogue.checkpoint_inhibitor) if token.strip() else (None, False)
        if known:
            found.append(name)
    return CaseReport(disease=raw["disease"], rpt=_rpt_spec(raw["rpt"], f"{where}.rpt"), ici=ici_text,
                      ici_agents=tuple(found), result=raw["result"], reference=raw["reference"])


# --- matching --------------------------------------------------------------------------------------------

#: Abbreviations in the source files, spelled out so that ``disease="prostate"`` finds "mCRPC".
_DISEASE_ABBREVIATIONS = {
    "mcrpc": "metastatic castration-resistant prostate cancer",
    "ccrcc": "clear-cell renal cell carcinoma",
    "nsclc": "non-small cell lung cancer",
    "sclc": "small cell lung cancer",
    "net": "neuroendocrine tumour", "nets": "neuroendocrine tumours",
}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "1": 1, "2": 2, "3": 3, "4": 4}


def _disease_text(record: TrialRecord) -> str:
    text = " ".join(part for part in (record.disease, record.disease_status) if part)
    words = re.findall(r"[A-Za-z]+", text)
    return " ".join([text, *(_DISEASE_ABBREVIATIONS[word.lower()] for word in words
                             if word.lower() in _DISEASE_ABBREVIATIONS)]).casefold()


def phase_numbers(phase: object) -> frozenset[int]:
    """Phases a text names: 'Ib/II' -> {1, 2}; 'II (randomised)' -> {2}; 'PHASE1' or 'phase 1' -> {1}."""
    if phase is None:
        return frozenset()
    text = re.sub(r"phase\s*", " ", str(phase), flags=re.IGNORECASE)
    text = re.sub(r"\([^)]*\)", " ", text)
    numbers = set()
    for token in re.split(r"[\s/,&+-]+|and", text):
        token = token.strip().lower()
        roman = re.fullmatch(r"(iv|iii|ii|i|[1-4])[ab]?", token)
        if roman:
            numbers.add(_ROMAN[roman.group(1)])
    return frozenset(numbers)


def _agent_matches(query: str, spec: RptSpec | IciSpec, lookup) -> bool:
    """Same catalogue agent as ``query``, or ``query`` a part of its name, alias, nuclide or target."""
    wanted = normalized_name(query)
    if not wanted:
        return False
    resolved, known = _resolve(query, lookup)
    if known and spec.agent_known:
        return resolved == spec.agent_name
    spellings = [spec.agent]
    if spec.agent_known:
        entry = lookup(spec.agent)
        spellings += [entry.name, *entry.aliases, getattr(entry, "nuclide", ""), getattr(entry, "target", "")]
    return any(wanted in normalized_name(spelling) for spelling in spellings if spelling)


def _name_keys(record: TrialRecord) -> list[str]:
    keys = []
    for text in (record.nct, record.acronym):
        if text:
            keys.append(normalized_name(text))
            stripped = _PARENTHESIS.sub("", text).strip()
            if stripped != text:
                keys.append(normalized_name(stripped))
    return keys


# --- the registry ---------------------------------------------------------------------------------------

class Registry:
    """An immutable collection of :class:`TrialRecord` (and case reports), with look-up and filters."""

    def __init__(self, trials: Iterable[TrialRecord] = (), case_reports: Iterable[CaseReport] = ()):
        self._trials = tuple(trials)
        self._case_reports = tuple(case_reports)
        self._index: dict[str, TrialRecord] = {}
        for record in self._trials:
            for key in _name_keys(record):
                other = self._index.get(key)
                if other is not None and other is not record:
                    raise InputError("trial", record.name, f"a name not already used by {other.name}")
                self._index[key] = record

    @classmethod
    def load(cls, combination: str = COMBINATION_FILE, monotherapy: str = MONOTHERAPY_FILE,
             amendments: str | None = AMENDMENTS_FILE,
             combination_amendments: str | None = COMBINATION_AMENDMENTS_FILE,
             added_monotherapy: str | None = ADDED_MONOTHERAPY_FILE) -> Registry:
        """The registry of the packaged files (names of files in ``rptici/data``); ``added_monotherapy`` (None:
        none) holds calibration trials beyond the reference copy; ``amendments`` and ``combination_amendments``
        (files, or None for the files as they are) are applied to the monotherapy and the combination records
        (:func:`amended`)."""
        combined = load_yaml(combination)
        raw_combination = combined.get("trials") or []
        if combination_amendments is not None:
            raw_combination = amended(raw_combination, load_yaml(combination_amendments) or [],
                                      combination_amendments)
        trials = [_combination_record(raw, f"{combination}: trials[{index}]")
                  for index, raw in enumerate(raw_combination)]
        reference = load_yaml(monotherapy) or []
        added = (load_yaml(added_monotherapy) or []) if added_monotherapy is not None else []
        places = [f"{monotherapy}: [{index}]" for index in range(len(reference))] + \
                 [f"{added_monotherapy}: [{index}]" for index in range(len(added))]
        raw_monotherapy = [*reference, *added]
        if amendments is not None:
            raw_monotherapy = amended(raw_monotherapy, load_yaml(amendments) or [], amendments)
        trials += [_monotherapy_record(raw, place) for raw, place in zip(raw_monotherapy, places)]
        reports = [_case_report(raw, f"{combination}: case_reports[{index}]")
                   for index, raw in enumerate(combined.get("case_reports") or [])]
        return cls(trials, reports)

    @property
    def trials(self) -> tuple[TrialRecord, ...]:
        return self._trials

    @property
    def case_reports(self) -> tuple[CaseReport, ...]:
        return self._case_reports

    def __len__(self) -> int:
        return len(self._trials)

    def __iter__(self) -> Iterator[TrialRecord]:
        return iter(self._trials)

    def get(self, name: str) -> TrialRecord:
        """The trial with this NCT number or acronym (case, spaces and hyphens ignored; 'KEYNOTE-158' finds
        'KEYNOTE-158 (NET cohort)'); UnknownNameError listing the close matches otherwise."""
        found = self._index.get(normalized_name(str(name)))
        if found is None:
            known = [text for record in self._trials for text in (record.nct, record.acronym) if text]
            raise UnknownNameError("trial", name, known)
        return found

    def filter(self, disease: str | None = None, agent: str | None = None, checkpoint_inhibitor: str | None = None,
               phase: str | int | None = None, status: str | None = None, role: str | None = None) -> Registry:
        """The trials matching every given filter (None: no filter). All matching ignores case.

        - ``disease``: a part of the disease or disease status ('prostate' also finds 'mCRPC');
        - ``agent``: the radiopharmaceutical, of the trial or of any arm: a catalogue name or alias
          ('Lu-PSMA-617', 'Pluvicto') matches that agent; other text matches a part of the agent's name,
          aliases or radionuclide ('Lu-177', 'DOTATATE');
        - ``checkpoint_inhibitor``: the same for the checkpoint inhibitor; its target also matches ('PD-1');
        - ``phase``: shares a phase number ('II' or 2 finds 'I/II', 'Ib/II' and 'II (randomised)');
        - ``status``: a part of the status ('completed', 'ongoing', 'recruiting' also finds
          'active, not recruiting');
        - ``role``: 'validation', 'calibration' or 'imported', exactly.
        """
        if role is not None and role not in ("validation", "calibration", "imported"):
            raise InputError("role", role, "one of validation, calibration, imported")
        wanted_phases = phase_numbers(phase)
        if phase is not None and not wanted_phases:
            raise InputError("phase", phase, "a trial phase such as 'I', 'II', 'Ib/II' or 2")
        selected = []
        for record in self._trials:
            if disease is not None and str(disease).casefold() not in _disease_text(record):
                continue
            if agent is not None and not any(_agent_matches(agent, spec, radiopharmaceutical)
                                             for spec in record.rpt_specs()):
                continue
            if checkpoint_inhibitor is not None and not any(
                    _agent_matches(checkpoint_inhibitor, spec, catalogue.checkpoint_inhibitor)
                    for spec in record.ici_specs()):
                continue
            if phase is not None and not wanted_phases & phase_numbers(record.phase):
                continue
            if status is not None and str(status).casefold() not in (record.status or "").casefold():
                continue
            if role is not None and record.role != role:
                continue
            selected.append(record)
        return Registry(selected, self._case_reports)

    def summary_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready row per trial (see :meth:`TrialRecord.summary_row`)."""
        return [record.summary_row() for record in self._trials]

    def to_json(self, indent: int | None = 2) -> str:
        """Every trial and case report as JSON."""
        return json.dumps({"trials": [record.summary() for record in self._trials],
                           "case_reports": [report.summary() for report in self._case_reports]},
                          indent=indent, ensure_ascii=False)

    def add_clinicaltrials_gov(self, path: str | Path, replace: bool = False) -> Registry:
        """A new registry with the studies of a ClinicalTrials.gov API v2 JSON file added (role 'imported').

        A study whose NCT number is already here raises InputError unless ``replace`` is True, in which case
        the imported record takes the old one's place.
        """
        from .clinicaltrials_gov import read_studies

        imported = [_with_regimens(record) for record in read_studies(path)]
        by_nct = {record.nct: record for record in imported}
        trials = []
        for record in self._trials:
            if record.nct in by_nct:
                if not replace:
                    raise InputError(f"{path}: nctId", record.nct,
                                     "an NCT number not already in the registry (or replace=True)")
                continue
            trials.append(record)
        return Registry([*trials, *imported], self._case_reports)


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The registry of the packaged trial files, loaded once."""
    return Registry.load()


def regimen_mapping(record: TrialRecord | str, arm: str | None = None, level: str | int | None = None) -> dict[str, Any]:
    """The mapping :func:`rptici.kinetics.regimen.load_regimen` accepts for ``record`` (a record or its name).

    ``arm`` picks an arm's own regimen (monotherapy trials); ``level`` one of several activity levels (an
    activity string or its index; default: the highest, i.e. last listed). Raises InputError when that
    regimen does not replay, with the reason.
    """
    if isinstance(record, str):
        record = registry().get(record)
    candidates = [status for status in record.regimens
                  if (arm is None and status.arm is None) or
                  (arm is not None and status.arm is not None and arm.casefold() in status.arm.casefold())]
    if arm is None and not candidates:
        candidates = [status for status in record.regimens if status.replayable][:1]
        candidates = [status for status in record.regimens if candidates and status.arm == candidates[0].arm]
    if not candidates:
        arms = [status.arm for status in record.regimens if status.arm]
        raise InputError("arm", arm, f"an arm of {record.name} with a regimen"
                         + (f" (one of {', '.join(arms)})" if arms else " (it has none)"))
    if level is None:
        chosen = candidates[-1]
    elif isinstance(level, int) and not isinstance(level, bool):
        if not -len(candidates) <= level < len(candidates):
            raise InputError("level", level, f"an index below {len(candidates)}")
        chosen = candidates[level]
    else:
        matches = [status for status in candidates if status.level and normalized_name(str(level)) in
                   (normalized_name(status.level), normalized_name(_activity(status.level)[0]))]
        if not matches:
            raise InputError("level", level, "one of " + ", ".join(str(status.level) for status in candidates))
        chosen = matches[0]
    if not chosen.replayable:
        raise InputError("regimen", record.name, f"a replayable regimen; this one is not: {chosen.reason}")
    return copy.deepcopy(chosen.mapping)  # type: ignore[arg-type]  # callers may edit it


def list_trials(**filters: Any) -> list[dict[str, Any]]:
    """JSON-ready summary rows of the packaged trials matching ``filters`` (see :meth:`Registry.filter`)."""
    return registry().filter(**filters).summary_rows()


def show_trial(name: str) -> dict[str, Any]:
    """JSON-ready full record of one trial (NCT number or acronym), with its regimens."""
    return registry().get(name).summary()
