"""Radiobiological parameters of tissues, from ``data/tissues.yaml`` (every number with unit and source).

``tissue("kidneys")`` returns a :class:`Tissue` with α/β (Gy), repair half-time (converted to days),
α (Gy⁻¹) and its spread where known, dose limits and LKB parameters. Names are case-insensitive and
accept the aliases listed in the file (``kidneys`` → ``kidney``, ``parotid`` → ``salivary_gland``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..data import load_yaml
from ..errors import InputError, UnknownNameError
from ..units import parse_positive

_DOSE_QUANTITIES = ("dose", "bed", "eqd2")


@dataclass(frozen=True)
class DoseLimit:
    """A tolerance: ``value`` Gy of ``quantity`` (physical dose, BED or EQD2), with its source."""

    name: str
    value: float
    quantity: str
    source: str
    note: str = ""
    applies_to: str | None = None  # a patient risk factor (e.g. "renal"); None: every patient


@dataclass(frozen=True)
class LkbParameters:
    """Lyman–Kutcher–Burman parameters; TD50 in Gy of ``quantity`` (``eqd2`` or ``bed``)."""

    td50: float
    m: float
    n: float
    quantity: str
    endpoint: str
    source: str


@dataclass(frozen=True)
class Tissue:
    """Radiobiological parameters of one tissue (α/β in Gy, repair half-time in days, α in Gy⁻¹)."""

    name: str
    alpha_beta: float
    repair_half_time: float
    alpha: float | None = None
    alpha_sd: float | None = None
    clonogen_density: float | None = None  # clonogens per mL
    limits: dict[str, DoseLimit] = field(default_factory=dict)
    ntcp: LkbParameters | None = None
    aliases: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()


def _normalise(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


_PLAIN_UNITS = {"per_dose": "1/Gy", "per_volume": "1/mL"}


def _quantity(entry: dict[str, Any], key: str, dimension: str, tissue_name: str, sources: dict[str, str],
              assumptions: list[str], required: bool = True) -> float | None:
    """A ``{value, unit, source}`` entry in internal units; α and clonogen density must be in 1/Gy and 1/mL."""
    item = entry.get(key)
    field_name = f"tissues.yaml:{tissue_name}.{key}"
    if item is None:
        if required:
            raise InputError(field_name, None, "a value with unit and source")
        return None
    if not isinstance(item, dict) or "value" not in item or "source" not in item:
        raise InputError(field_name, item, "a mapping with value, unit and source")
    unit = str(item.get("unit", "")).strip()
    if dimension in _PLAIN_UNITS:
        if unit != _PLAIN_UNITS[dimension]:
            raise InputError(field_name, unit, f"unit {_PLAIN_UNITS[dimension]}")
        value = parse_positive(float(item["value"]), "dimensionless", field_name)
    else:
        value = parse_positive(f"{item['value']} {unit}".strip(), dimension, field_name)
    sources[key] = str(item["source"])
    if item.get("assumption"):
        assumptions.append(key)
    return value


def _build(name: str, entry: dict[str, Any]) -> Tissue:
    sources: dict[str, str] = {}
    assumptions: list[str] = []
    alpha_beta = _quantity(entry, "alpha_beta", "dose", name, sources, assumptions)
    repair = _quantity(entry, "repair_half_time", "time", name, sources, assumptions)
    alpha = _quantity(entry, "alpha", "per_dose", name, sources, assumptions, required=False)
    alpha_sd = _quantity(entry, "alpha_sd", "per_dose", name, sources, assumptions, required=False)
    density = _quantity(entry, "clonogen_density", "per_volume", name, sources, assumptions, required=False)
    limits = {}
    for limit_name, limit in (entry.get("limits") or {}).items():
        if limit.get("quantity") not in _DOSE_QUANTITIES:
            raise InputError(f"tissues.yaml:{name}.limits.{limit_name}.quantity", limit.get("quantity"),
                             f"one of {', '.join(_DOSE_QUANTITIES)}")
        value = parse_positive(f"{limit['value']} {limit.get('unit', 'Gy')}", "dose",
                               f"tissues.yaml:{name}.limits.{limit_name}")
        limits[limit_name] = DoseLimit(limit_name, value, limit["quantity"], str(limit["source"]),
                                       str(limit.get("note", "")), limit.get("applies_to"))
        if limit.get("assumption"):
            assumptions.append(f"limits.{limit_name}")
    ntcp = None
    if entry.get("ntcp"):
        item = entry["ntcp"]
        if item.get("quantity") not in ("bed", "eqd2"):
            raise InputError(f"tissues.yaml:{name}.ntcp.quantity", item.get("quantity"), "bed or eqd2")
        ntcp = LkbParameters(
            td50=parse_positive(f"{item['td50']} {item.get('td50_unit', 'Gy')}", "dose", f"tissues.yaml:{name}.ntcp.td50"),
            m=parse_positive(item["m"], "dimensionless", f"tissues.yaml:{name}.ntcp.m"),
            n=parse_positive(item["n"], "dimensionless", f"tissues.yaml:{name}.ntcp.n"),
            quantity=item["quantity"], endpoint=str(item.get("endpoint", "")), source=str(item["source"]))
        if item.get("assumption"):
            assumptions.append("ntcp")
    return Tissue(name=name, alpha_beta=alpha_beta, repair_half_time=repair, alpha=alpha, alpha_sd=alpha_sd,
                  clonogen_density=density, limits=limits, ntcp=ntcp,
                  aliases=tuple(entry.get("aliases", ())), sources=sources, assumptions=tuple(assumptions))


@lru_cache(maxsize=1)
def _catalogue() -> tuple[dict[str, Tissue], dict[str, str]]:
    document = load_yaml("tissues.yaml")
    tissues = {name: _build(name, entry) for name, entry in document["tissues"].items()}
    names: dict[str, str] = {}
    for name, item in tissues.items():
        for spelling in (name, *item.aliases):
            names[_normalise(spelling)] = name
    return tissues, names


def risk_factors() -> tuple[str, ...]:
    """The patient risk factors that some tissue limit applies to (``applies_to`` in tissues.yaml)."""
    return tuple(sorted({limit.applies_to for item in _catalogue()[0].values() for limit in item.limits.values()
                         if limit.applies_to}))


def tissue_names() -> tuple[str, ...]:
    """Canonical names of the tissues in ``tissues.yaml``."""
    return tuple(_catalogue()[0])


def tissue(name: str) -> Tissue:
    """The :class:`Tissue` called ``name`` (case-insensitive; aliases allowed); unknown → UnknownNameError."""
    tissues, names = _catalogue()
    key = _normalise(name)
    if key not in names:
        raise UnknownNameError("tissue", name, sorted(tissues))
    return tissues[names[key]]
