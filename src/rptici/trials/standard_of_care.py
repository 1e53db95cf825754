"""An arm's standard of care as an explicit empirical effect, and background disease-related adverse events.

A trial arm that declares ``standard_of_care: <name>`` (``data/standard_of_care.yaml``) gets

- a tumour growth-rate reduction r: every lesion's net growth rate ln 2/T_d is multiplied by (1 − r), i.e. its
  doubling time is divided by (1 − r) (:func:`treated_doubling_time`); r is fitted to the arm's reported PFS in
  ``trials_monotherapy.yaml`` (a monotherapy control arm: calibration, never a combination trial);
- optionally a duration (``duration``: docetaxel's ten cycles), after which the lesions grow at the untreated rate
  again (the state ``standard_of_care`` of :mod:`rptici.immunity.equations`; :func:`rptici.trials.run.care_end_covariates`);
- a background probability of a grade ≥ 3 adverse event from the disease itself (the rate of the trial's
  untreated/placebo arm; :func:`background_adverse_events`), added to the radiation and immune events.

Without a declared standard of care an arm is untreated growth with no background events, except a registry arm of
a disease with a default entry (``disease:``; mCRPC): the reported all-cause rates of a trial without a control arm
(TheraP) hold the disease's own events too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..data import load_yaml
from ..errors import InputError, UnknownNameError
from ..units import parse_positive

FILE = "standard_of_care.yaml"
EFFECTS = ("growth_rate_reduction", "background_grade3plus")


@dataclass(frozen=True)
class StandardOfCare:
    """One standard of care: its growth-rate reduction and background grade ≥ 3 rate (fractions), with sources."""

    name: str
    meaning: str
    growth_rate_reduction: float
    background_grade3plus: float
    sources: dict[str, str]
    trial: str | None = None
    arms: tuple[str, ...] = ()
    #: the disease whose registry arms without a declared standard of care get this entry (background events)
    disease: str | None = None
    #: days from the arm's start to the care's end (docetaxel's last cycle + one cycle), None: given throughout
    duration_days: float | None = None


def _fraction(entry: object, where: str) -> tuple[float, str]:
    """(value, source) of a ``{value, unit: "1", bounds, source}`` entry; value inside its bounds and [0, 1)."""
    if not isinstance(entry, dict) or "value" not in entry or "source" not in entry:
        raise InputError(where, entry, "{value, unit: '1', bounds, source}")
    value = entry["value"]
    low, high = entry.get("bounds", (0.0, 1.0))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InputError(where, value, f"a fraction within its bounds [{low}, {high}]")
    return float(value), str(entry["source"])


def _duration_days(entry: object, where: str) -> tuple[float, str]:
    """(days, source) of a ``{value: "<number> <time unit>", source}`` duration, positive."""
    if not isinstance(entry, dict) or "value" not in entry or "source" not in entry:
        raise InputError(where, entry, "{value: '210 d', source}")
    return parse_positive(entry["value"], "time", where, require_unit=True), str(entry["source"])


@lru_cache(maxsize=None)
def _catalogue() -> dict[str, StandardOfCare]:
    entries = load_yaml(FILE)["standards_of_care"]
    result = {}
    for name, entry in entries.items():
        values, sources = {}, {}
        for effect in EFFECTS:
            values[effect], sources[effect] = _fraction(entry.get(effect), f"{FILE}:{name}.{effect}")
        if values["growth_rate_reduction"] >= 1.0:
            raise InputError(f"{FILE}:{name}.growth_rate_reduction", values["growth_rate_reduction"], "below 1")
        duration = None
        if entry.get("duration") is not None:
            duration, sources["duration"] = _duration_days(entry["duration"], f"{FILE}:{name}.duration")
        result[name] = StandardOfCare(name, str(entry.get("meaning", "")), sources=sources, trial=entry.get("trial"),
                                      arms=tuple(str(arm) for arm in entry.get("arms", ())),
                                      disease=entry.get("disease"), duration_days=duration, **values)
    return result


def known_standards_of_care() -> tuple[str, ...]:
    return tuple(_catalogue())


def standard_of_care(name: str) -> StandardOfCare:
    """The standard of care ``name`` of ``data/standard_of_care.yaml``."""
    catalogue = _catalogue()
    if name not in catalogue:
        raise UnknownNameError("standard_of_care", name, sorted(catalogue))
    return catalogue[name]


def for_registry_arm(trial_names: tuple[str | None, ...], arm: str, disease: str | None = None) -> str | None:
    """The standard of care declared for arm ``arm`` of the registry trial known by ``trial_names`` (acronym,
    NCT number); else the default entry of ``disease``; else None."""
    names = {name.casefold() for name in trial_names if name}
    declared = next((item.name for item in _catalogue().values()
                     if item.trial and item.trial.casefold() in names and arm in item.arms), None)
    return declared or next((item.name for item in _catalogue().values()
                             if disease is not None and item.disease == disease), None)


def treated_doubling_time(doubling_time_days: float, growth_rate_reduction: float) -> float:
    """The net doubling time under a growth-rate reduction r: T_d/(1 − r) (growth rate ln 2/T_d times 1 − r)."""
    if not 0.0 <= growth_rate_reduction < 1.0:
        raise InputError("growth_rate_reduction", growth_rate_reduction, "a fraction in [0, 1)")
    return doubling_time_days / (1.0 - growth_rate_reduction)


def background_adverse_events(rate: float, uniforms: ArrayLike) -> NDArray[np.bool_]:
    """Per patient: a grade ≥ 3 disease-related adverse event, drawn with probability ``rate`` from the patient's
    own uniform number."""
    draws = np.asarray(uniforms, dtype=float)
    if not 0.0 <= rate <= 1.0:
        raise InputError("background_grade3plus", rate, "a probability in [0, 1]")
    return draws < rate
