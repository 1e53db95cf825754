"""The catalogue of agents: radiopharmaceuticals (``agents.yaml``) and checkpoint antibodies
(``checkpoint_inhibitors.yaml``), read into frozen pydantic models.

This module belongs to the data layer: it keeps the radionuclide as its name (``"Lu-177"``) and does
not import :mod:`rptici.physics`; the tests check that every name resolves there.

Names are matched case-insensitively, ignoring spaces, hyphens, underscores and brackets, against
the standard name and every alias (brand names, codes, short spellings), so ``Pluvicto``,
``lu-psma-617`` and ``[177Lu]Lu-PSMA-617`` are the same agent.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import InputError, UnknownNameError
from ..units import parse_interval, parse_positive
from . import load_yaml

TargetingClass = Literal["antibody", "peptide", "small molecule", "ion"]
Status = Literal["approved", "withdrawn", "investigational", "preclinical"]
CheckpointTarget = Literal["PD-1", "PD-L1", "CTLA-4"]

#: Dimensions an administered activity may have: per patient, per kg body weight, per m² body surface.
ACTIVITY_DIMENSIONS = ("activity", "activity_per_mass", "activity_per_area")
#: Dimensions an antibody dose may have: flat, or per kg body weight.
DRUG_DOSE_DIMENSIONS = ("drug_amount", "drug_per_mass")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def summary(self) -> dict[str, object]:
        """Plain JSON-ready dictionary (for ``--json`` output)."""
        return self.model_dump(mode="json")


def _dimension_of(value: str, dimensions: tuple[str, ...], field: str) -> str:
    """The first of ``dimensions`` that ``value`` parses as (a positive quantity); else InputError."""
    for dimension in dimensions:
        try:
            parse_positive(value, dimension, field)
            return dimension
        except InputError:
            continue
    raise InputError(field, value, "a positive quantity of " + " or ".join(dimensions))


class TypicalRegimen(_Frozen):
    """How a radiopharmaceutical is usually given: activity (per patient, per kg or per m²), interval, cycles."""

    activity: str | None = None
    absorbed_dose_prescription: str | None = None
    interval: str | None = None
    cycles: int | None = Field(default=None, ge=1)
    notes: str | None = None

    @field_validator("activity")
    @classmethod
    def _activity_has_unit(cls, value: str | None) -> str | None:
        if value is not None:
            _dimension_of(value, ACTIVITY_DIMENSIONS, "typical_regimen.activity")
        return value

    @field_validator("absorbed_dose_prescription")
    @classmethod
    def _dose_has_unit(cls, value: str | None) -> str | None:
        if value is not None:
            parse_positive(value, "dose", "typical_regimen.absorbed_dose_prescription")
        return value

    @field_validator("interval")
    @classmethod
    def _interval_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval(value, "typical_regimen.interval")
        return value

    @property
    def activity_dimension(self) -> str | None:
        """``activity`` (MBq per patient), ``activity_per_mass`` (MBq/kg) or ``activity_per_area`` (MBq/m²)."""
        return None if self.activity is None else _dimension_of(self.activity, ACTIVITY_DIMENSIONS, "activity")

    @property
    def interval_days(self) -> float | None:
        return None if self.interval is None else parse_interval(self.interval)

    def administered_activity_MBq(self, weight_kg: float | None = None, body_surface_area_m2: float | None = None) -> float:
        """Activity for one patient (MBq): flat, or scaled by body weight or body surface area as the regimen says."""
        if self.activity is None:
            raise InputError("typical_regimen.activity", None, "a regimen with a stated activity (this one is patient-specific)")
        dimension = self.activity_dimension
        number = parse_positive(self.activity, dimension, "activity")
        if dimension == "activity":
            return number
        if dimension == "activity_per_mass":
            if weight_kg is None or not weight_kg > 0:
                raise InputError("weight_kg", weight_kg, "a positive body weight in kg for an activity per kg")
            return number * weight_kg
        if body_surface_area_m2 is None or not body_surface_area_m2 > 0:
            raise InputError("body_surface_area_m2", body_surface_area_m2, "a positive body surface area in m2 for an activity per m2")
        return number * body_surface_area_m2


class Radiopharmaceutical(_Frozen):
    """A targeting molecule carrying a therapeutic radionuclide (nuclide kept as its name, e.g. ``Lu-177``)."""

    name: str
    aliases: tuple[str, ...] = ()
    nuclide: str
    targeting_class: TargetingClass
    target: str
    carrier_antibody: str | None = None
    carrier_antibody_isotype: str | None = None
    status: Status
    approval: str | None = None
    indications: tuple[str, ...] = ()
    typical_regimen: TypicalRegimen
    source: str

    @model_validator(mode="after")
    def _antibody_has_carrier(self) -> "Radiopharmaceutical":
        if (self.targeting_class == "antibody") != (self.carrier_antibody is not None):
            raise InputError(f"{self.name}.carrier_antibody", self.carrier_antibody,
                             "a carrier antibody exactly when targeting_class is 'antibody'")
        return self

    @property
    def kind(self) -> str:
        return "radiopharmaceutical"

    @property
    def is_antibody(self) -> bool:
        return self.targeting_class == "antibody"

    def summary(self) -> dict[str, object]:
        return {"kind": self.kind, **super().summary()}


class TimeVaryingClearance(_Frozen):
    """CL(t) = CL0 · exp(emax · tʰ / (t50ʰ + tʰ)), t in days since the first dose (Bajaj et al. 2017)."""

    emax: float
    t50_days: float = Field(gt=0)
    hill: float = Field(gt=0)


class AntibodyPK(_Frozen):
    """Two-compartment population PK, typical values (L, L/day).

    Where the model scales with body weight W: CL, Q ∝ (W / reference_weight_kg)^clearance_weight_exponent
    and V1, V2 ∝ (W / reference_weight_kg)^volume_weight_exponent (None: not given).
    """

    clearance_L_per_day: float = Field(gt=0)
    central_volume_L: float = Field(gt=0)
    intercompartmental_clearance_L_per_day: float = Field(gt=0)
    peripheral_volume_L: float = Field(gt=0)
    time_varying_clearance: TimeVaryingClearance | None = None
    reference_weight_kg: float | None = Field(default=None, gt=0)
    clearance_weight_exponent: float | None = None
    volume_weight_exponent: float | None = None
    label_half_life_days: float | None = Field(default=None, gt=0)
    source: str
    confirmed: bool = True


class Binding(_Frozen):
    """What is known of target binding: affinity (KD, nM) and functional IC50 (µg/mL); None where unknown."""

    affinity_nM: float | None = Field(default=None, gt=0)
    ic50_ug_per_mL: float | None = Field(default=None, gt=0)
    source: str
    confirmed: bool = True  # False: the value could not be checked against its primary source


class ApprovedDose(_Frozen):
    """One approved dosing schedule: dose (mg or mg/kg), interval (``q3w``), cycles (None: until progression)."""

    dose: str
    interval: str
    cycles: int | None = Field(default=None, ge=1)
    setting: str
    source: str

    @field_validator("dose")
    @classmethod
    def _dose_has_unit(cls, value: str) -> str:
        _dimension_of(value, DRUG_DOSE_DIMENSIONS, "approved_dosing.dose")
        return value

    @field_validator("interval")
    @classmethod
    def _interval_parses(cls, value: str) -> str:
        parse_interval(value, "approved_dosing.interval")
        return value

    @property
    def dose_dimension(self) -> str:
        """``drug_amount`` (flat, mg) or ``drug_per_mass`` (mg/kg)."""
        return _dimension_of(self.dose, DRUG_DOSE_DIMENSIONS, "dose")

    @property
    def interval_days(self) -> float:
        return parse_interval(self.interval)


class CheckpointInhibitor(_Frozen):
    """An immune checkpoint antibody: target, size, approved dosing, population PK and binding."""

    name: str
    aliases: tuple[str, ...] = ()
    target: CheckpointTarget
    isotype: str
    molecular_weight_kDa: float = Field(gt=0)
    molecular_weight_source: str
    approval: str
    approved_dosing: tuple[ApprovedDose, ...]
    pk: AntibodyPK
    binding: Binding

    @property
    def kind(self) -> str:
        return "checkpoint inhibitor"

    def summary(self) -> dict[str, object]:
        return {"kind": self.kind, **super().summary()}


Agent = Radiopharmaceutical | CheckpointInhibitor

_IGNORED = re.compile(r"[\s\-_\[\]]+")


def normalized_name(name: str) -> str:
    """The key names are matched on: lower case, without spaces, hyphens, underscores or brackets."""
    return _IGNORED.sub("", str(name)).casefold()


@lru_cache(maxsize=1)
def radiopharmaceuticals() -> dict[str, Radiopharmaceutical]:
    """Every radiopharmaceutical in ``agents.yaml``, keyed by its standard name."""
    return {name: Radiopharmaceutical(name=name, **fields) for name, fields in load_yaml("agents.yaml").items()}


@lru_cache(maxsize=1)
def checkpoint_inhibitors() -> dict[str, CheckpointInhibitor]:
    """Every checkpoint antibody in ``checkpoint_inhibitors.yaml``, keyed by its generic name."""
    return {name: CheckpointInhibitor(name=name, **fields) for name, fields in load_yaml("checkpoint_inhibitors.yaml").items()}


def _index(*catalogues: dict[str, Agent]) -> dict[str, Agent]:
    """Normalised spelling -> agent; two agents answering to one spelling is an error in the data files."""
    index: dict[str, Agent] = {}
    for catalogue in catalogues:
        for agent_ in catalogue.values():
            for spelling in (agent_.name, *agent_.aliases):
                key = normalized_name(spelling)
                if key in index and index[key] is not agent_:
                    raise ValueError(f"the spelling {spelling!r} names both {index[key].name!r} and {agent_.name!r}")
                index[key] = agent_
    return index


@lru_cache(maxsize=1)
def _radiopharmaceutical_index() -> dict[str, Agent]:
    return _index(radiopharmaceuticals())


@lru_cache(maxsize=1)
def _checkpoint_index() -> dict[str, Agent]:
    return _index(checkpoint_inhibitors())


@lru_cache(maxsize=1)
def _agent_index() -> dict[str, Agent]:
    return _index(radiopharmaceuticals(), checkpoint_inhibitors())


def _known(agents: dict[str, Agent]) -> list[str]:
    return [spelling for agent_ in agents.values() for spelling in (agent_.name, *agent_.aliases)]


def _lookup(name: str, index: dict[str, Agent], known: list[str]) -> Agent:
    found = index.get(normalized_name(name)) if isinstance(name, str) else None
    if found is None:
        raise UnknownNameError("agent", name, known)
    return found


def radiopharmaceutical(name: str) -> Radiopharmaceutical:
    """The radiopharmaceutical called ``name`` (standard name, brand or alias; case-insensitive)."""
    return _lookup(name, _radiopharmaceutical_index(), _known(radiopharmaceuticals()))  # type: ignore[return-value]


def checkpoint_inhibitor(name: str) -> CheckpointInhibitor:
    """The checkpoint antibody called ``name`` (generic name, brand or code; case-insensitive)."""
    return _lookup(name, _checkpoint_index(), _known(checkpoint_inhibitors()))  # type: ignore[return-value]


def agent(name: str) -> Agent:
    """A radiopharmaceutical or a checkpoint antibody, whichever ``name`` denotes."""
    return _lookup(name, _agent_index(), _known(radiopharmaceuticals()) + _known(checkpoint_inhibitors()))
