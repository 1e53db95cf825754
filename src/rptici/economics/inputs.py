"""Economic inputs: costs, utilities and disutilities with unit, source and uncertainty, and the model
settings (currency and price year, horizon, cycle, discount rates, thresholds), read from a YAML file.

Every parameter is ``{value, unit, source}`` plus optional ``se`` (standard error, for the probabilistic
analysis), ``low``/``high`` (one-way range; default value ± 1.96·se) and ``assumption`` (why, where the
number is one). Cost units are the file's currency alone (per event) or per a quantity
(``USD/GBq``, ``USD/mg``, ``USD/month``); values are converted to the internal units (per MBq, per mg,
per year). The packaged example is ``src/rptici/data/economics/lu_psma_pembrolizumab_us.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..data import load_yaml, read_mapping
from ..errors import InputError, UnknownNameError
from ..units import parse_positive
from .survival import DAYS_PER_YEAR

COST, UTILITY, DISUTILITY = "cost", "utility", "disutility"
#: Known parameters: name → (kind, what the unit is per: "" per event, or a dimension of rptici.units).
PARAMETERS: dict[str, tuple[str, str]] = {
    "rpt_drug_per_administration": (COST, ""),
    "rpt_drug_per_activity": (COST, "activity"),
    "rpt_administration": (COST, ""),
    "rpt_imaging_dosimetry": (COST, ""),
    "baseline_imaging": (COST, ""),
    "ici_drug_per_mg": (COST, "drug_amount"),
    "ici_administration": (COST, ""),
    "progression_free_care": (COST, "time"),
    "progressed_care": (COST, "time"),
    "subsequent_therapy": (COST, ""),
    "end_of_life": (COST, ""),
    "adverse_event_radiation_grade3": (COST, ""),
    "adverse_event_radiation_grade4": (COST, ""),
    "adverse_event_immune_grade3": (COST, ""),
    "adverse_event_immune_grade4": (COST, ""),
    "utility_progression_free": (UTILITY, ""),
    "utility_progressed": (UTILITY, ""),
    "disutility_adverse_event_radiation": (DISUTILITY, ""),
    "disutility_adverse_event_immune": (DISUTILITY, ""),
}
CAUSES = ("radiation", "immune")
#: Most model cycles over the horizon (a monthly cycle over 100 years is 1,200).
MAX_CYCLES = 100_000
MODELS = ("partitioned_survival", "markov")


@dataclass(frozen=True)
class Parameter:
    """One input in internal units (cost per event, per MBq, per mg or per year; utilities unitless)."""

    name: str
    kind: str
    value: float
    se: float
    low: float
    high: float
    unit: str
    source: str
    assumption: str | None = None
    duration_years: float = 0.0
    scale: float = 1.0

    @property
    def value_in_unit(self) -> float:
        """The value in the file's ``unit`` (internal value / scale)."""
        return self.value / self.scale


@dataclass(frozen=True)
class EconomicInputs:
    """Parameters and settings of a cost-effectiveness analysis."""

    name: str
    currency: str
    price_year: int
    parameters: dict[str, Parameter]
    horizon_years: float
    cycle_years: float
    discount_costs: float
    discount_outcomes: float
    half_cycle: bool
    model: str
    thresholds: tuple[float, ...]
    adverse_event_causes: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.parameters)

    def values(self) -> np.ndarray:
        return np.array([parameter.value for parameter in self.parameters.values()])

    def with_values(self, **values: float) -> EconomicInputs:
        """A copy with some parameter values replaced (internal units)."""
        import dataclasses

        parameters = dict(self.parameters)
        for name, value in values.items():
            if name not in parameters:
                raise UnknownNameError("parameter", name, list(parameters))
            parameters[name] = dataclasses.replace(parameters[name], value=float(value))
        return dataclasses.replace(self, parameters=parameters)


def _per_unit(unit: str, currency: str, dimension: str, field_name: str) -> float:
    """Internal amount of the denominator of ``unit`` ("USD/GBq" → 1000 MBq); 1 for a per-event cost."""
    numerator, _, denominator = (part.strip() for part in str(unit).partition("/"))
    expected = f"{currency}" + (f"/<{dimension} unit>" if dimension else "")
    if numerator != currency or bool(denominator) != bool(dimension):
        raise InputError(f"{field_name}.unit", unit, f"'{expected}' (the file's currency is {currency})")
    if not dimension:
        return 1.0
    amount = parse_positive(f"1 {denominator}", dimension, f"{field_name}.unit")
    return amount / DAYS_PER_YEAR if dimension == "time" else amount


def _number(value: object, field_name: str, allowed: str = "a finite number") -> float:
    """``value`` as a finite float (not a bool, text or 10**400), else an InputError naming ``field_name``."""
    try:
        number = float(value) if isinstance(value, (int, float, np.integer, np.floating)) and \
            not isinstance(value, bool) else np.nan
    except OverflowError:
        number = np.nan
    if not np.isfinite(number):
        raise InputError(field_name, value, allowed)
    return number


def _parameter(name: str, spec: object, currency: str, relative_se: Mapping[str, float]) -> Parameter:
    field_name = f"parameters.{name}"
    if name not in PARAMETERS:
        raise UnknownNameError("parameters", name, list(PARAMETERS))
    if not isinstance(spec, Mapping) or "value" not in spec or not spec.get("source"):
        raise InputError(field_name, spec, "a mapping with value, unit and source")
    kind, dimension = PARAMETERS[name]
    raw = _number(spec["value"], f"{field_name}.value", "a finite number")
    if kind == COST:
        if not np.isfinite(raw) or raw < 0:
            raise InputError(f"{field_name}.value", raw, "a non-negative cost")
        scale = 1.0 / _per_unit(spec.get("unit", ""), currency, dimension, field_name)
    else:
        if not 0 <= raw <= 1:
            raise InputError(f"{field_name}.value", raw, "a utility (or decrement) between 0 and 1")
        scale = 1.0
    default_se = _number(relative_se.get(kind, 0.0), f"default_relative_se.{kind}") * raw
    se = _number(spec.get("se", default_se), f"{field_name}.se", "a non-negative standard error in the parameter's unit")
    if se < 0:
        raise InputError(f"{field_name}.se", se, "a non-negative standard error in the parameter's unit")
    low = _number(spec.get("low", max(raw - 1.96 * se, 0.0)), f"{field_name}.low")
    high = _number(spec.get("high", raw + 1.96 * se if kind == COST else min(raw + 1.96 * se, 1.0)),
                   f"{field_name}.high")
    if not low <= raw <= high:
        raise InputError(f"{field_name}.low/high", (low, high), f"a range around the value {raw}")
    duration = 0.0
    if kind == DISUTILITY:
        duration = parse_positive(spec.get("duration"), "time", f"{field_name}.duration") / DAYS_PER_YEAR
    return Parameter(name, kind, raw * scale, se * scale, low * scale, high * scale, str(spec.get("unit", "1")),
                     str(spec["source"]), spec.get("assumption"), duration, scale)


def _rate(document: Mapping[str, Any], key: str) -> float:
    discount = document.get("discount", {})
    spec = discount.get(key) if isinstance(discount, Mapping) else None
    value = spec.get("value") if isinstance(spec, Mapping) else spec
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise InputError(f"discount.{key}", value, "an annual discount rate in [0, 1), e.g. {value: 0.03, source: ...}")
    return float(value)


def load_inputs(source: Mapping[str, Any] | str | os.PathLike[str]) -> EconomicInputs:
    """Economic inputs from a mapping, a YAML file, or the name of a packaged file
    (``lu_psma_pembrolizumab_us``)."""
    if isinstance(source, str) and not os.path.exists(source) and "/" not in source and "." not in source:
        try:
            source = load_yaml(f"economics/{source}.yaml")
        except FileNotFoundError:
            raise InputError("costs", source, "a YAML file or a packaged cost file such as "
                                              "'lu_psma_pembrolizumab_us'") from None
    document = read_mapping(source, "costs", "economic inputs (currency, horizon, discount, parameters)")
    currency = document.get("currency")
    if not isinstance(currency, str) or not currency.isalpha():
        raise InputError("currency", currency, "a currency code such as USD or EUR")
    relative_se = document.get("default_relative_se") or {}
    if not isinstance(relative_se, Mapping):
        raise InputError("default_relative_se", relative_se, "a mapping of kind (cost, utility, disutility) to a "
                                                             "relative standard error")
    given = document.get("parameters") or {}
    if not isinstance(given, Mapping):
        raise InputError("parameters", given, "a mapping of parameter name to {value, unit, source}")
    parameters = {str(name): _parameter(str(name), spec, currency, relative_se) for name, spec in given.items()}
    missing = [name for name in ("utility_progression_free", "utility_progressed") if name not in parameters]
    if missing:
        raise InputError("parameters", missing[0], "utilities of both health states (utility_progression_free, "
                                                   "utility_progressed)")
    model = document.get("model", "partitioned_survival")
    if not isinstance(model, str) or model not in MODELS:
        raise InputError("model", model, "one of " + ", ".join(MODELS))
    causes = document.get("adverse_event_causes") or {}
    if not isinstance(causes, Mapping):
        raise InputError("adverse_event_causes", causes, "a mapping of organ to cause (radiation or immune)")
    causes = {str(organ): cause for organ, cause in causes.items()}
    for organ, cause in causes.items():
        if cause not in CAUSES:
            raise InputError(f"adverse_event_causes.{organ}", cause, "one of " + ", ".join(CAUSES))
    thresholds = document.get("thresholds", {})
    thresholds = thresholds.get("value") if isinstance(thresholds, Mapping) else thresholds
    allowed = "a list of non-negative willingness-to-pay values per QALY"
    if not isinstance(thresholds, (list, tuple)) or not thresholds:
        raise InputError("thresholds", thresholds, allowed)
    thresholds = tuple(_number(value, "thresholds", allowed) for value in thresholds)
    if min(thresholds) < 0:
        raise InputError("thresholds", list(thresholds), allowed)
    horizon = parse_positive(document.get("horizon"), "time", "horizon") / DAYS_PER_YEAR
    cycle = parse_positive(document.get("cycle", "1 month"), "time", "cycle") / DAYS_PER_YEAR
    if horizon / cycle > MAX_CYCLES:
        raise InputError("cycle", document.get("cycle", "1 month"), f"a cycle that divides the horizon "
                                                                    f"({document.get('horizon')}) into at most {MAX_CYCLES:,}")
    price_year = document.get("price_year")
    if isinstance(price_year, bool) or not isinstance(price_year, int):
        raise InputError("price_year", price_year, "the year of the prices, e.g. 2024")
    sources = document.get("sources") or {}
    if not isinstance(sources, Mapping):
        raise InputError("sources", sources, "a mapping of topic to source")
    return EconomicInputs(str(document.get("name", "economic analysis")), currency, price_year, parameters,
                          horizon, cycle, _rate(document, "costs"), _rate(document, "outcomes"),
                          bool(document.get("half_cycle_correction", True)), model, thresholds, causes,
                          {str(key): str(value) for key, value in sources.items()})
