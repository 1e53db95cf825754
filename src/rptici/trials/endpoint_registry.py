"""The endpoints of a virtual trial as objects, in one ordered registry.

Each endpoint knows, in one place, everything about itself that the rest of rptici asks:

- ``per_patient(record)``: its column(s) of the per-patient table, from what the trial runner has for the
  patients of one arm (:class:`PatientRecord`: RECIST, PCWG3 PSA, death, censoring, toxicity);
- ``summarise(arm)``: its per-arm statistics, with the estimators the analysis layer passes in
  (:class:`Statistics`: exact binomial rate, Kaplan–Meier, Cox), so that the summary, the replay, the report,
  the dashboard and the CLI iterate over :func:`endpoints` instead of naming them;
- ``registry_keys``, ``reported(key, value)`` and ``simulated(name, row, curve)``: how it reads a value that
  a trial reported in ``data/trials_*.yaml`` and finds the simulated counterpart in a summary;
- ``label`` and ``unit`` for people, ``columns`` and ``flags`` (its boolean columns) for the table.

A new endpoint of an existing kind is one entry here (see :func:`register` and the test that adds disease
control); a new kind is one class here. Statistics come from :mod:`rptici.analysis`, which passes them in,
so this module stays below the analysis layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import InputError
from .endpoints import (NOT_EVALUABLE, PARTIAL_RESPONSE, RESPONSE_LABELS, PsaResult, RecistResult,
                        disease_control_days, time_to_event, to_months)
from .toxicity import ToxicityResult

#: Attributed causes of grade ≥ 3 toxicity in the summary, ``any`` last.
CAUSES = ("radiation", "immune", "both", "disease", "any")
#: CTCAE grades whose fractions the toxicity summary gives per organ.
GRADES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class PatientRecord:
    """What the trial runner knows about the simulated patients of one arm (arrays, one entry per patient).

    Event times are days from the start of treatment, inf when the event does not happen; ``psa`` is None
    for a disease without PSA, ``toxicity`` None when it was not assessed. ``bone_progression``: the PCWG3
    bone-scan progression day (None: not assessed); ``size_progression``: the RECIST progression day by the
    size rule alone, without new lesions (None: not assessed); ``measurable`` marks the patients with
    RECIST-measurable disease at baseline (the response-evaluable ones; all when None).
    """

    response: RecistResult
    death: NDArray[np.float64]
    censor: NDArray[np.float64]
    psa: PsaResult | None = None
    toxicity: ToxicityResult | None = None
    bone_progression: NDArray[np.float64] | None = None
    size_progression: NDArray[np.float64] | None = None
    measurable: NDArray[np.bool_] | None = None

    def event_time(self, event: str) -> NDArray[np.float64] | None:
        """Day of ``event`` ('progression', 'psa_progression' or 'death') per patient; None when not assessed.

        Radiographic progression is RECIST 1.1 (growth or a new lesion) or, where assessed, the PCWG3 bone scan."""
        if event == "progression":
            if self.bone_progression is None:
                return self.response.progression_time
            return np.minimum(self.response.progression_time, self.bone_progression)
        if event == "psa_progression":
            return None if self.psa is None else self.psa.progression_time
        if event == "death":
            return self.death
        raise InputError("event", event, "'progression', 'psa_progression' or 'death'")


class Statistics(Protocol):
    """The estimators an endpoint summarises with (implemented in :mod:`rptici.analysis.summary`)."""

    def rate(self, successes: int, n: int) -> tuple[float, float, float]: ...

    def survival(self, times_days: NDArray[np.float64], events: NDArray[np.bool_], horizon_months: float
                 ) -> dict[str, Any]: ...

    def hazard_ratio(self, times_days: NDArray[np.float64], events: NDArray[np.bool_], arms: NDArray[Any],
                     control: str) -> tuple[float, float, float, float]: ...

    def paired_difference(self, differences: NDArray[np.float64]) -> tuple[float, float, float]: ...


@dataclass(frozen=True)
class ArmData:
    """One arm's patients (failed simulations excluded), and the control arm's for a comparison. ``arms_per_patient``:
    in a paired trial the number of arms every patient is simulated in (rows k·m … k·m + k − 1 are patient m's,
    :func:`rptici.trials.run.arm_labels`); 1 when each patient has one arm."""

    name: str
    patients: pd.DataFrame
    every_arm: pd.DataFrame
    control: str | None
    horizon_months: float
    statistics: Statistics
    arms_per_patient: int = 1

    def with_control(self) -> pd.DataFrame | None:
        """This arm's and the control arm's patients (table order), None without a distinct control arm."""
        if self.control is None or self.name == self.control or not len(self.patients):
            return None
        pair = self.every_arm[self.every_arm["arm"].isin([self.name, self.control])]
        return pair if pair["arm"].nunique() == 2 else None

    def paired_flags(self, column: str, denominator: str | None = None
                     ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]] | None:
        """(this arm's, the control arm's) ``column`` flags of the same patients, for those simulated in both and
        counted by ``denominator``; None unless the trial is paired and has a distinct control arm."""
        both = self.with_control()
        if self.arms_per_patient < 2 or both is None:
            return None
        if denominator is not None and denominator in both.columns:
            both = both[both[denominator].astype(bool)]
        flags = pd.DataFrame({"person": both["patient"].to_numpy() // self.arms_per_patient, "arm": both["arm"],
                              "flag": _flags(both, column)}).pivot(index="person", columns="arm", values="flag")
        flags = flags.dropna()  # patients whose simulation failed in one of the two arms
        return flags[self.name].to_numpy(bool), flags[self.control].to_numpy(bool)


def _number(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _flags(frame: pd.DataFrame, column: str) -> NDArray[np.bool_]:
    return frame[column].fillna(False).astype(bool).to_numpy()


@dataclass(frozen=True)
class Endpoint:
    """What every endpoint has: a name (its summary key and replay row name), words for people, columns."""

    name: str
    label: str
    unit: str
    columns: tuple[str, ...]
    registry_keys: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    abbreviation: str = ""

    @property
    def short(self) -> str:
        """The abbreviation for table headings (the label when there is none)."""
        return self.abbreviation or self.label

    def display_rows(self) -> list[tuple[str, str, str, str | None]]:
        """(summary key, words, kind 'rate'|'months'|'ratio', key of its 95 % interval or None) of each value
        a table of the per-arm summary shows."""
        raise NotImplementedError

    def available(self, patients: pd.DataFrame) -> bool:
        """Whether the per-patient table holds this endpoint (e.g. PSA endpoints only for a disease with PSA)."""
        return all(column in patients.columns for column in self.columns)

    def per_patient(self, record: PatientRecord) -> dict[str, NDArray[Any]]:
        raise NotImplementedError

    def summarise(self, arm: ArmData) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(values for the arm's summary row, Kaplan–Meier curve or None)."""
        raise NotImplementedError

    def reported(self, key: str, value: Any) -> list[tuple[str, float, int | None]]:
        """Rows (replay endpoint name, reported value, number of patients or None) that a registry ``key`` with
        ``value`` gives for this endpoint; empty when the key is not this endpoint's."""
        if key in self.registry_keys and isinstance(value, (int, float)) and not isinstance(value, bool):
            return [(key, float(value), None)]
        return []

    def answers(self, name: str) -> bool:
        """Whether replay endpoint ``name`` (a row of :meth:`reported`) is this endpoint's."""
        return name in self.registry_keys

    def unit_of(self, name: str) -> str:
        """Unit of replay endpoint ``name``: 'fraction', 'months' or 'ratio'."""
        return self.unit

    def simulated(self, name: str, row: Mapping[str, Any], curve: Mapping[str, Any] | None,
                  statistics: Statistics) -> tuple[float | None, float | None, float | None]:
        """(estimate, low, high) of replay endpoint ``name`` from an arm's summary row (and curve with its fit)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Rate(Endpoint):
    """A proportion of patients with a per-patient flag (``column``), with the exact binomial 95 % CI.

    ``denominator``: column of the patients who count (e.g. ``measurable`` for ORR; all when absent);
    ``breakdown``: a column of RECIST labels whose counts the summary also gives (best response for ORR);
    ``outcome_denominator``: the denominator is an outcome (progression), not a baseline trait, so the same
    patient may count in one arm and not the other, and a paired difference would mean nothing.
    """

    compute: Callable[[PatientRecord], dict[str, NDArray[Any]]] | None = None
    denominator: str | None = None
    breakdown: str | None = None
    outcome_denominator: bool = False

    @property
    def column(self) -> str:
        return self.flags[0]

    def display_rows(self) -> list[tuple[str, str, str, str | None]]:
        rows = [(self.name, self.label, "rate", f"{self.name}_ci")]
        if not self.outcome_denominator:
            rows.append((f"{self.name}_paired_difference", f"{self.short}: difference from the control arm in the "
                                                           "same patients (paired trial)", "rate", None))
        return rows

    def available(self, patients: pd.DataFrame) -> bool:
        return self.column in patients.columns

    def per_patient(self, record: PatientRecord) -> dict[str, NDArray[Any]]:
        return {} if self.compute is None else self.compute(record)

    def summarise(self, arm: ArmData) -> tuple[dict[str, Any], dict[str, Any] | None]:
        group = arm.patients
        if self.denominator is not None and self.denominator in group.columns:
            group = group[group[self.denominator].astype(bool)]
        flags = _flags(group, self.column)
        values: dict[str, Any] = {self.name: None, f"{self.name}_ci": [None, None]}
        if flags.size:
            estimate, low, high = arm.statistics.rate(int(flags.sum()), int(flags.size))
            values = {self.name: estimate, f"{self.name}_ci": [low, high]}
        values[f"{self.name}_responders"] = int(flags.sum())
        paired = None if self.outcome_denominator else arm.paired_flags(self.column, self.denominator)
        if paired is not None and paired[0].size >= 2:  # the same patients with and without this arm's treatment
            values[f"{self.name}_paired_difference"] = list(arm.statistics.paired_difference(
                paired[0].astype(float) - paired[1].astype(float)))
        if self.denominator is not None:
            values[f"{self.name}_evaluable"] = int(flags.size)
        if self.breakdown is not None and self.breakdown in group.columns:
            counts = group[self.breakdown].astype(str).value_counts()
            values[f"{self.name}_breakdown"] = {label: int(counts.get(label, 0)) for label in RESPONSE_LABELS}
        return values, None

    def reported(self, key: str, value: Any) -> list[tuple[str, float, int | None]]:
        if key in self.registry_keys and isinstance(value, Mapping) and {"responders", "evaluable"} <= set(value):
            return [(self.name, value["responders"] / value["evaluable"], int(value["evaluable"]))]
        return super().reported(key, value)

    def simulated(self, name: str, row: Mapping[str, Any], curve: Mapping[str, Any] | None,
                  statistics: Statistics) -> tuple[float | None, float | None, float | None]:
        if row.get(self.name) is None:
            return None, None, None
        return row[self.name], row[f"{self.name}_ci"][0], row[f"{self.name}_ci"][1]


LANDMARK = re.compile(r"^(?P<endpoint>[a-z_]+)_(?P<months>\d+)mo$")


@dataclass(frozen=True)
class TimeToEvent(Endpoint):
    """Time to the first of ``events`` (censored at the end of follow-up or dropout): Kaplan–Meier median with
    95 % CI, curve with numbers at risk, Cox hazard ratio against the control arm (when ``hazard_ratio``), and
    landmark survival ``<name>_<N>mo`` (e.g. ``pfs_12mo``) for the replay."""

    events: tuple[str, ...] = ()
    hazard_ratio: bool = True

    @property
    def time_column(self) -> str:
        return self.columns[0]

    def display_rows(self) -> list[tuple[str, str, str, str | None]]:
        rows = [(f"median_{self.name}_months", f"median {self.short} (months)", "months", f"median_{self.name}_ci")]
        if self.hazard_ratio:
            rows.append((f"hr_{self.name}", f"hazard ratio {self.short} vs control", "ratio", None))
        return rows

    @property
    def event_column(self) -> str:
        return self.columns[1]

    def per_patient(self, record: PatientRecord) -> dict[str, NDArray[Any]]:
        times = [record.event_time(event) for event in self.events]
        if any(time is None for time in times):
            return {}
        days, event = time_to_event(times, record.censor)
        return {self.time_column: days, self.event_column: event}

    def summarise(self, arm: ArmData) -> tuple[dict[str, Any], dict[str, Any] | None]:
        name, group = self.name, arm.patients
        values: dict[str, Any] = {f"median_{name}_months": None, f"median_{name}_ci": [None, None],
                                  f"{name}_events": int(_flags(group, self.event_column).sum())}
        curve = None
        if len(group):
            curve = arm.statistics.survival(group[self.time_column].to_numpy(float), _flags(group, self.event_column),
                                            arm.horizon_months)
            values[f"median_{name}_months"], values[f"median_{name}_ci"] = curve["median"], curve["median_ci"]
        if self.hazard_ratio:
            values[f"hr_{name}"] = values[f"hr_{name}_p"] = None
            pair = arm.with_control()
            if pair is not None and _flags(pair, self.event_column).any():
                estimate, low, high, p = arm.statistics.hazard_ratio(
                    pair[self.time_column].to_numpy(float), _flags(pair, self.event_column),
                    pair["arm"].to_numpy(), arm.control)
                values[f"hr_{name}"] = [_number(estimate), _number(low), _number(high)]
                values[f"hr_{name}_p"] = _number(p)
        return values, curve

    def reported(self, key: str, value: Any) -> list[tuple[str, float, int | None]]:
        """Also a landmark ``<name>_<N>mo`` and a hazard ratio ``hr_<x>`` whose ``median_<x>`` is this endpoint's
        (``hr_rpfs`` is PFS's), against the replay's control arm."""
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        match = LANDMARK.match(key)
        if match and match.group("endpoint") == self.name and number:
            return [(key, float(value), None)]
        if self.hazard_ratio and number and key.startswith("hr_") and f"median_{key[3:]}" in self.registry_keys:
            return [(f"hr_{self.name}", float(value), None)]
        return super().reported(key, value)

    def answers(self, name: str) -> bool:
        match = LANDMARK.match(name)
        return super().answers(name) or bool(match and match.group("endpoint") == self.name) or \
            (self.hazard_ratio and name == f"hr_{self.name}")

    def unit_of(self, name: str) -> str:
        """A landmark is a fraction surviving, a hazard ratio a ratio, a median is in months."""
        return "fraction" if LANDMARK.match(name) else "ratio" if name == f"hr_{self.name}" else self.unit

    def simulated(self, name: str, row: Mapping[str, Any], curve: Mapping[str, Any] | None,
                  statistics: Statistics) -> tuple[float | None, float | None, float | None]:
        match = LANDMARK.match(name)
        if match:
            months = float(match.group("months"))
            if curve is None or months > curve["time_months"][-1] + 1e-9:
                return None, None, None
            survival, low, high = curve["fit"].survival_at([months])
            return float(survival[0]), float(low[0]), float(high[0])
        if name == f"hr_{self.name}":
            estimate, low, high = row.get(name) or (None, None, None)
            return estimate, low, high
        if f"median_{self.name}_months" not in row:
            return None, None, None
        low, high = row[f"median_{self.name}_ci"]
        return row[f"median_{self.name}_months"], low, high


@dataclass(frozen=True)
class Toxicity(Endpoint):
    """Grade ≥ 3 adverse events by attributed cause (radiation, immune, both, any) and the worst grade per
    organ (``max_grade_<organ>``): rates per cause with exact CI, fraction of patients per worst grade."""

    def per_patient(self, record: PatientRecord) -> dict[str, NDArray[Any]]:
        toxicity = record.toxicity
        if toxicity is None:
            return {}
        columns: dict[str, NDArray[Any]] = {f"grade3plus_{cause}": getattr(toxicity, f"grade3plus_{cause}")
                                            for cause in CAUSES if getattr(toxicity, f"grade3plus_{cause}") is not None}
        columns.update({f"max_grade_{organ}": grades for organ, grades in toxicity.max_grade.items()})
        return columns

    def available(self, patients: pd.DataFrame) -> bool:
        return any(f"grade3plus_{cause}" in patients.columns for cause in CAUSES)

    def display_rows(self) -> list[tuple[str, str, str, str | None]]:
        return [("grade3plus_rate", self.label, "rate", None)]

    def summarise(self, arm: ArmData) -> tuple[dict[str, Any], dict[str, Any] | None]:
        group = arm.patients
        causes = [cause for cause in CAUSES if f"grade3plus_{cause}" in group.columns]
        rates: dict[str, Any] = {}
        counts: dict[str, int] = {}
        intervals: dict[str, list[float | None]] = {}
        for cause in causes:
            flags = _flags(group, f"grade3plus_{cause}")
            rates[cause] = float(flags.mean()) if flags.size else None
            counts[cause] = int(flags.sum())
            intervals[cause] = list(arm.statistics.rate(counts[cause], flags.size)[1:]) if flags.size else [None, None]
        organs = [column.removeprefix("max_grade_") for column in group.columns if column.startswith("max_grade_")]
        fractions = {organ: [float(np.mean(group[f"max_grade_{organ}"].fillna(0).to_numpy(int) == grade))
                             if len(group) else None for grade in GRADES] for organ in organs}
        worst = {organ: int((group[f"max_grade_{organ}"].fillna(0).to_numpy(int) >= 3).sum()) for organ in organs}
        return {"grade3plus_rate": rates, "grade3plus_count": counts, "grade3plus_ci": intervals,
                "max_grade_fraction": fractions, "grade3plus_by_organ": worst}, None

    def reported(self, key: str, value: Any) -> list[tuple[str, float, int | None]]:
        if isinstance(value, Mapping):
            if {"patients", "of"} <= set(value) and key.startswith("grade3"):
                return [("grade3plus_any", value["patients"] / value["of"], int(value["of"]))]
            if key == "grade3plus_ae_attributed":
                return [(f"grade3plus_{_cause_of(agent)}_related", float(rate), None) for agent, rate in value.items()]
            return []
        if key in self.registry_keys and isinstance(value, (int, float)) and not isinstance(value, bool):
            return [("grade3plus_any", float(value), None)]
        return []

    def answers(self, name: str) -> bool:
        return name.startswith("grade3plus_")

    def simulated(self, name: str, row: Mapping[str, Any], curve: Mapping[str, Any] | None,
                  statistics: Statistics) -> tuple[float | None, float | None, float | None]:
        """A rate by cause; ``grade3plus_<cause>_related`` counts the events attributed to both as well."""
        cause = name.removeprefix("grade3plus_").removesuffix("_related")
        rates = row["grade3plus_rate"]
        value = (rates.get(cause) or 0.0) + (rates.get("both") or 0.0) if name.endswith("_related") \
            else rates.get(cause)
        if value is None:
            return None, None, None
        _, low, high = statistics.rate(int(round(value * row["n"])), row["n"])
        return value, low, high


def _cause_of(agent: str) -> str:
    """The cause a reported attribution names: the radiopharmaceutical (radiation) or the antibody (immune)."""
    return "radiation" if agent.casefold() in ("radium", "lutetium", "rpt", "radiation") else "immune"


# ----------------------------------------------------------------------------------------------- the registry


def _objective_response(record: PatientRecord) -> dict[str, NDArray[Any]]:
    """Best response and objective response (CR or PR) per patient; a patient without measurable disease at
    baseline is not evaluable for response (RECIST 1.1: "NE", never a responder), as the trials count ORR in the
    response-evaluable patients only (VISION: 319 of 551, Sartor et al. 2021 NEJM 385:1091)."""
    response = record.response
    best = response.best_response
    if record.measurable is not None:
        best = np.where(np.asarray(record.measurable, dtype=bool), best, NOT_EVALUABLE)
    return {"best_response": np.asarray(RESPONSE_LABELS)[best],
            "objective_response": best <= PARTIAL_RESPONSE,
            "best_percent_change": response.best_percent_change}


#: Landmark of the PSA waterfall: the best PSA change by week 12 (VISION PSA analysis, Eur Urol 2024).
PSA_WATERFALL_LANDMARK_DAYS = 84.0


def _psa50(record: PatientRecord) -> dict[str, NDArray[Any]]:
    if record.psa is None:
        return {}
    return {"psa50": record.psa.psa50, "psa_best_percent_change": record.psa.best_percent_change,
            "psa_best_percent_change_12wk": record.psa.best_percent_change_by(PSA_WATERFALL_LANDMARK_DAYS)}


def _disease_control(record: PatientRecord) -> dict[str, NDArray[Any]]:
    """Disease control: an objective response, or neither radiographic progression nor death nor dropout before
    :func:`~.endpoints.disease_control_days` (stable disease, or non-CR/non-PD in non-measurable disease, held that
    long); every treated patient is in the denominator, as in KEYNOTE-199."""
    ended = np.minimum(np.minimum(record.event_time("progression"), record.death), record.censor)
    return {"disease_control": _objective_response(record)["objective_response"] | (ended >= disease_control_days())}


def _new_lesion_progression(record: PatientRecord) -> dict[str, NDArray[Any]]:
    """Radiographic progression, and progression by new lesions: the first progression came before the size
    rule alone would have called it (a new lesion on CT or the bone-scan rule)."""
    progression = record.event_time("progression")
    progressed = np.isfinite(progression) & (progression <= record.censor)
    by_new = np.zeros_like(progressed) if record.size_progression is None \
        else progressed & (record.size_progression > progression)
    columns = {"radiographic_progression": progressed, "progression_by_new_lesion": by_new,
               "radiographic_progression_days": np.where(progressed, progression, np.nan)}
    if record.size_progression is not None:
        by_size = np.isfinite(record.size_progression) & (record.size_progression <= record.censor)
        columns["size_progression_days"] = np.where(by_size, record.size_progression, np.nan)
    return columns


_ENDPOINTS: list[Endpoint] = [
    Rate("orr", "objective response rate (RECIST 1.1)", "fraction",
         ("best_response", "objective_response", "best_percent_change"), ("orr", "partial_responses"),
         ("objective_response",),
         abbreviation="ORR", compute=_objective_response, denominator="measurable", breakdown="best_response"),
    Rate("psa50", "PSA50 response (PCWG3)", "fraction", ("psa50", "psa_best_percent_change", "psa_best_percent_change_12wk"),
         ("psa50",),
         ("psa50",), "PSA50", compute=_psa50),
    Rate("dcr", "disease control rate (response, or no progression for "
                f"{float(to_months(disease_control_days())):g} months)",
         "fraction", ("disease_control",), ("dcr",), ("disease_control",), "DCR", compute=_disease_control),
    TimeToEvent("pfs", "progression-free survival (radiographic)", "months", ("pfs_days", "pfs_event"),
                ("median_rpfs", "median_pfs"), ("pfs_event",), "PFS", events=("progression", "death")),
    TimeToEvent("os", "overall survival", "months", ("os_days", "os_event"), ("median_os",), ("os_event",), "OS",
                events=("death",)),
    TimeToEvent("psa_pfs", "PSA progression-free survival (PCWG3)", "months", ("psa_pfs_days", "psa_pfs_event"),
                ("median_psa_pfs",), ("psa_pfs_event",), "PSA-PFS", events=("psa_progression", "death"),
                hazard_ratio=False),
    TimeToEvent("composite_pfs", "progression-free survival (PSA, radiographic or death; TheraP's PFS)", "months",
                ("composite_pfs_days", "composite_pfs_event"), ("median_composite_pfs",), ("composite_pfs_event",),
                "PSA/radiographic PFS", events=("progression", "psa_progression", "death"), hazard_ratio=False),
    Rate("new_lesion_share", "share of radiographic progressions by new lesions", "fraction",
         ("radiographic_progression", "progression_by_new_lesion", "radiographic_progression_days",
          "size_progression_days"), (),
         ("progression_by_new_lesion", "radiographic_progression"),
         "progression by new lesions", compute=_new_lesion_progression, denominator="radiographic_progression",
         outcome_denominator=True),
    Toxicity("grade3plus", "grade ≥ 3 adverse events by attributed cause", "fraction",
             tuple(f"grade3plus_{cause}" for cause in CAUSES), ("grade3plus_ae", "grade3plus_trae",
                                                                   "grade3plus_ae_attributed"),
             tuple(f"grade3plus_{cause}" for cause in CAUSES), "grade ≥ 3 AE"),
]


def endpoints() -> tuple[Endpoint, ...]:
    """The registered endpoints, in the order the summary, tables and reports show them."""
    return tuple(_ENDPOINTS)


def endpoint(name: str) -> Endpoint:
    """The registered endpoint called ``name``."""
    for item in _ENDPOINTS:
        if item.name == name:
            return item
    raise InputError("endpoint", name, "one of " + ", ".join(item.name for item in _ENDPOINTS))


def answering(name: str) -> Endpoint | None:
    """The first registered endpoint that answers replay endpoint ``name`` (e.g. ``pfs_12mo``), or None."""
    return next((item for item in _ENDPOINTS if item.answers(name)), None)


def register(new: Endpoint, before: str | None = None) -> Endpoint:
    """Add ``new`` to the registry (at the end, or before endpoint ``before``); its name must be new."""
    if any(item.name == new.name for item in _ENDPOINTS):
        raise InputError("endpoint", new.name, "a name not yet registered")
    position = len(_ENDPOINTS) if before is None else _ENDPOINTS.index(endpoint(before))
    _ENDPOINTS.insert(position, new)
    return new


def unregister(name: str) -> None:
    """Remove endpoint ``name`` from the registry."""
    _ENDPOINTS.remove(endpoint(name))


def summary_rows() -> list[tuple[str, str, str, str | None]]:
    """The rows of a per-arm summary table, endpoint by endpoint (see :meth:`Endpoint.display_rows`)."""
    return [row for item in _ENDPOINTS for row in item.display_rows()]


def flag_columns() -> tuple[str, ...]:
    """Every boolean column of the per-patient table (kept boolean when chunks are concatenated)."""
    return tuple(column for item in _ENDPOINTS for column in item.flags)


__all__ = ["ArmData", "CAUSES", "Endpoint", "PatientRecord", "Rate", "Statistics", "TimeToEvent", "Toxicity",
           "answering", "endpoint", "endpoints", "flag_columns", "register", "summary_rows", "unregister"]
