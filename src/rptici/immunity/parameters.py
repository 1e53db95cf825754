"""Typed loader of the tumour–immune parameter sets (``data/immunity_human.yaml``, ``immunity_mouse.yaml``).

Every entry of a parameter file is ``{value, unit, source}`` (``assumption: true`` where no
measurement was found), or ``{tissue, quantity}`` to take a radiobiological value from
``data/tissues.yaml`` through :func:`rptici.radiobiology.tissue` (one place for each number). Units are
converted with pint to the internal unit of each parameter (:data:`PARAMETER_UNITS`, from the model
table :mod:`.table`); a mechanism switch is a parameter ``switch_<mechanism>`` of 0 or 1 (:data:`SWITCHES`).

The checkpoint antibodies come from the agent catalogue for human patients (population PK of
:mod:`rptici.kinetics.antibody`, half-occupancy of :mod:`rptici.kinetics.occupancy`) and from the
``antibodies`` section of the file for the mouse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from ..data import load_yaml
from ..errors import InputError, UnknownNameError
from ..kinetics import AntibodyModel, antibody_model, half_occupancy
from ..radiobiology import tissue
from ..units import registry
from .table import PARAMETER_UNITS, SWITCHES

#: Per-volume lymphocyte count unit, checked as written (pint has no clinical "10^9/L").
LYMPHOCYTE_UNIT = "10^9/L"

_NON_PINT_UNITS = {LYMPHOCYTE_UNIT}


@dataclass(frozen=True)
class AntibodyValues:
    """Two-compartment PK of one checkpoint antibody (L, L/day) and its half-occupancy K (ug/mL).

    Weight scaling as :class:`rptici.kinetics.AntibodyModel`; ``pk`` keeps that model for reuse.
    """

    name: str
    target: str
    pk: AntibodyModel
    half_occupancy: float
    half_occupancy_source: str

    def per_patient(self, weight_kg: np.ndarray) -> dict[str, np.ndarray]:
        """CL0, V1, Q, V2, Emax, T50, hill per patient for body weights (kg), as kinetics derives them."""
        derived = self.pk.parameters(weight_kg if self.pk.reference_weight_kg else None)
        size = np.asarray(weight_kg).shape[0]
        return {key: np.broadcast_to(getattr(derived, key), (size,)).astype(float) for key in
                ("clearance", "central_volume", "intercompartmental_clearance", "peripheral_volume",
                 "clearance_emax", "clearance_t50_days", "clearance_hill")}


@dataclass(frozen=True)
class ImmunityParameters:
    """One parameter set in internal units, with the source of each value.

    ``values`` maps every name of :data:`PARAMETER_UNITS` and every ``switch_<mechanism>`` to a float;
    ``antibody`` is the anti-PD-1/PD-L1 antibody, ``ctla4_antibody`` the anti-CTLA-4 one (None: absent).
    """

    species: str
    values: Mapping[str, float]
    sources: Mapping[str, str]
    assumptions: tuple[str, ...]
    antibody: AntibodyValues | None
    ctla4_antibody: AntibodyValues | None
    overridden: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> float:
        if name not in self.values:
            raise UnknownNameError("parameter", name, sorted(self.values))
        return self.values[name]

    def switch(self, mechanism: str) -> float:
        """The value (0 or 1) of ``switch_<mechanism>``."""
        return self[f"switch_{mechanism}"]

    def with_overrides(self, overrides: Mapping[str, object] | None) -> ImmunityParameters:
        """A copy with some values replaced (internal units); unknown names or bad values raise InputError."""
        if not overrides:
            return self
        values = dict(self.values)
        for name, value in overrides.items():
            if name not in values:
                raise InputError("overrides", name, f"a parameter name of the immunity model (one of {len(values)} "
                                                    f"names, e.g. {', '.join(sorted(values)[:4])}, ...)")
            number = _number(value, f"overrides.{name}")
            if name.startswith("switch_") and number not in (0.0, 1.0):
                raise InputError(f"overrides.{name}", value, "0 (off) or 1 (on)")
            values[name] = number
        return replace(self, values=values, overridden=tuple(sorted(set(self.overridden) | set(overrides))))

    def switched_off(self, *mechanisms: str) -> ImmunityParameters:
        """A copy with the named mechanisms switched off (names of :data:`SWITCHES`)."""
        for mechanism in mechanisms:
            if mechanism not in SWITCHES:
                raise UnknownNameError("mechanism", mechanism, SWITCHES)
        return self.with_overrides({f"switch_{mechanism}": 0.0 for mechanism in mechanisms})


def _number(value: object, field_name: str) -> float:
    if isinstance(value, bool):
        raise InputError(field_name, value, "a finite number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(field_name, value, "a finite number") from None
    if not math.isfinite(number):
        raise InputError(field_name, value, "a finite number")
    return number


def _convert(value: float, unit: str, target: str, field_name: str) -> float:
    unit = str(unit).strip()
    if target in _NON_PINT_UNITS or unit in _NON_PINT_UNITS:
        if unit != target:
            raise InputError(field_name, unit, f"unit {target}")
        return value
    ureg = registry()
    try:
        quantity = ureg.Quantity(value, unit if unit not in ("", "1", "dimensionless") else "")
        return float(quantity.to(target if target else "").magnitude)
    except Exception:
        raise InputError(field_name, unit, f"a unit convertible to {target or 'a pure number'}") from None


_TISSUE_QUANTITIES = {"alpha": "alpha", "alpha_beta": "alpha_beta", "repair_half_time": "repair_half_time"}


def _entry(name: str, entry: Any, file_name: str) -> tuple[float, str, bool]:
    """(value in internal units, source, is-assumption) of one file entry."""
    field_name = f"{file_name}:parameters.{name}"
    if not isinstance(entry, dict):
        raise InputError(field_name, entry, "a mapping {value, unit, source} or {tissue, quantity}")
    if "tissue" in entry:
        quantity = entry.get("quantity")
        if quantity not in _TISSUE_QUANTITIES:
            raise InputError(f"{field_name}.quantity", quantity, f"one of {', '.join(_TISSUE_QUANTITIES)}")
        item = tissue(str(entry["tissue"]))
        value = getattr(item, _TISSUE_QUANTITIES[quantity])
        if value is None:
            raise InputError(field_name, entry, f"a tissue of tissues.yaml that defines {quantity}")
        source = f"tissues.yaml:{item.name}.{quantity}: {item.sources.get(quantity, '')}"
        return float(value), source, quantity in item.assumptions
    if "value" not in entry or "source" not in entry or "unit" not in entry:
        raise InputError(field_name, entry, "a mapping with value, unit and source")
    value = _convert(_number(entry["value"], field_name), entry["unit"], PARAMETER_UNITS[name], field_name)
    return value, str(entry["source"]), bool(entry.get("assumption", False)) or "assumption" in str(entry["source"]).lower()[:12]


def _human_antibody(agent: str, default_k: float) -> AntibodyValues:
    model = antibody_model(agent)
    from ..data.catalogue import checkpoint_inhibitor
    entry = checkpoint_inhibitor(agent)
    try:
        known = half_occupancy(entry)
        k, source = known.concentration_ug_per_mL, f"{known.basis}: {known.source}"
    except InputError:
        k, source = default_k, "assumption: no IC50 or KD in the catalogue (default_half_occupancy)"
    return AntibodyValues(entry.name, entry.target, model, k, source)


def _mouse_antibody(name: str, document: Mapping[str, Any], file_name: str) -> AntibodyValues:
    antibodies = document.get("antibodies") or {}
    if name not in antibodies:
        raise UnknownNameError("antibody", name, sorted(antibodies))
    item = antibodies[name]
    field_name = f"{file_name}:antibodies.{name}"

    def get(key: str, unit: str) -> float:
        entry = item.get(key)
        if not isinstance(entry, dict) or "value" not in entry:
            raise InputError(f"{field_name}.{key}", entry, "a mapping with value, unit and source")
        return _convert(_number(entry["value"], f"{field_name}.{key}"), entry.get("unit", ""), unit,
                        f"{field_name}.{key}")

    model = AntibodyModel(
        name=name, clearance_L_per_day=get("clearance", "L/day"), central_volume_L=get("central_volume", "L"),
        intercompartmental_clearance_L_per_day=get("intercompartmental_clearance", "L/day"),
        peripheral_volume_L=get("peripheral_volume", "L"), clearance_emax=0.0, clearance_t50_days=1.0,
        clearance_hill=1.0, reference_weight_kg=None, clearance_weight_exponent=0.0, volume_weight_exponent=0.0)
    return AntibodyValues(name, str(item.get("target", "")), model, get("half_occupancy", "ug/mL"),
                          str(item["half_occupancy"].get("source", "")))


SPECIES = ("human", "mouse")


@lru_cache(maxsize=None)
def _base(species: str) -> tuple[dict[str, float], dict[str, str], tuple[str, ...]]:
    file_name = f"immunity_{species}.yaml"
    document = load_yaml(file_name)
    entries = document.get("parameters") or {}
    unknown = sorted(set(entries) - set(PARAMETER_UNITS))
    if unknown:
        raise InputError(f"{file_name}:parameters", unknown[0], "a parameter name of the immunity model")
    missing = sorted(set(PARAMETER_UNITS) - set(entries))
    if missing:
        raise InputError(f"{file_name}:parameters", missing[0], "every parameter of the immunity model defined")
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    assumptions: list[str] = []
    for name, entry in entries.items():
        values[name], sources[name], assumed = _entry(name, entry, file_name)
        if assumed:
            assumptions.append(name)
    switches = document.get("switches") or {}
    for mechanism in SWITCHES:
        value = _number(switches.get(mechanism, 1), f"{file_name}:switches.{mechanism}")
        if value not in (0.0, 1.0):
            raise InputError(f"{file_name}:switches.{mechanism}", value, "0 or 1")
        values[f"switch_{mechanism}"] = value
        sources[f"switch_{mechanism}"] = "model switch"
    return values, sources, tuple(assumptions)


def load_parameters(species: str = "human", overrides: Mapping[str, object] | None = None,
                    antibody: str | None = None, ctla4_antibody: str | None = None) -> ImmunityParameters:
    """The parameter set of ``species`` ("human" or "mouse"), with ``overrides`` (internal units).

    ``antibody``: the anti-PD-1/PD-L1 antibody (human: a catalogue name, default pembrolizumab; mouse:
    a key of the file's ``antibodies`` section, default ``anti_pd1``). ``ctla4_antibody`` likewise
    (human default ipilimumab, mouse ``anti_ctla4``). Unknown names raise UnknownNameError; unknown
    override names raise InputError.
    """
    if species not in SPECIES:
        raise UnknownNameError("species", species, SPECIES)
    values, sources, assumptions = _base(species)
    default_k = values["default_half_occupancy"]
    if species == "human":
        pd1 = _human_antibody(antibody or "pembrolizumab", default_k)
        ctla4 = _human_antibody(ctla4_antibody or "ipilimumab", default_k)
        if pd1.target not in ("PD-1", "PD-L1"):
            raise InputError("antibody", antibody, "an anti-PD-1 or anti-PD-L1 antibody")
        if ctla4.target != "CTLA-4":
            raise InputError("ctla4_antibody", ctla4_antibody, "an anti-CTLA-4 antibody")
    else:
        document = load_yaml("immunity_mouse.yaml")
        pd1 = _mouse_antibody(antibody or "anti_pd1", document, "immunity_mouse.yaml")
        ctla4 = _mouse_antibody(ctla4_antibody or "anti_ctla4", document, "immunity_mouse.yaml")
    parameters = ImmunityParameters(species, dict(values), dict(sources), assumptions, pd1, ctla4)
    return parameters.with_overrides(overrides)
