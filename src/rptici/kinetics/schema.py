"""The scenario schema's shared pieces: the validating base class, quantities with units, and the patient.

Every scenario kind (regimen, dose, simulation, trial) is a :class:`Schema`: frozen, no unknown key, and any
validation failure is one :class:`~rptici.errors.InputError` line naming the field path, the value and what
is allowed (not pydantic's report). Quantities are parsed by pint into the internal unit
(:mod:`rptici.units`); a patient's dimensioned covariates must carry their unit (``gfr: 1.5 mL/s`` is
90 mL/min, ``gfr: 90`` is an error), so a value can never be read in the wrong unit.

:class:`PatientSpec` is one patient's covariates; its engine names are :data:`ENGINE_NAMES`. This module sits
in kinetics, the lowest layer that uses it (the regimen and the kinetic covariates).
"""

from __future__ import annotations

import math
import os
import re
import reprlib
import typing
from typing import Annotated, Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from ..data import read_mapping
from ..errors import InputError
from ..units import parse_quantity
from .biokinetics import LESION_SITES, Covariates


class Schema(BaseModel):
    """Frozen, no unknown fields; a validation failure surfaces as an InputError naming the field path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise input_error(error, type(self)) from None

    # pydantic calls a model's own __init__ with the input's keys as keywords when it validates a nested mapping,
    # so a non-string key (``rpt: {1: 2}`` in YAML) raised TypeError; marked as the base __init__, nested mappings
    # are validated directly (a non-string key is an unknown field) and this __init__ only wraps direct calls.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any):  # type: ignore[override]
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as error:
            raise input_error(error, cls) from None

    @classmethod
    def load(cls, source: Schema | Mapping[str, Any] | str | os.PathLike[str], field: str = "scenario"):
        """An instance from itself, a mapping or a YAML file holding one; errors name ``field`` for the file."""
        if isinstance(source, cls):
            return source
        if not isinstance(source, (Mapping, str, os.PathLike)):
            raise InputError(field, type(source).__name__, f"a mapping of {', '.join(cls.model_fields)}")
        document = read_mapping(source, field, f"a mapping of {', '.join(cls.model_fields)}")
        return cls.model_validate({str(key): value for key, value in document.items()})


def input_error(error: ValidationError, model: type[BaseModel]) -> InputError:
    """The first pydantic error as an InputError whose field is the path (``rpt.activity``)."""
    errors = error.errors()
    first = next((item for item in errors if item["type"] in ("extra_forbidden", "invalid_key")),
                 errors[0])  # a misspelt key first
    location = tuple(str(part) for part in first["loc"])
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, InputError):
        own = cause.field == "value" or (location and location[-1] == cause.field)
        return prefixed(cause, _path(location if own else (*location, cause.field)))
    field = _path(location) or _model_words(model)
    if first["type"] == "missing":
        return InputError(field, None, "a value (this field is required)")
    if first["type"] == "extra_forbidden":
        owner = _model_at(model, location[:-1])
        return InputError(field, first.get("input"), "one of the fields " + ", ".join(owner.model_fields))
    if first["type"] == "invalid_key":  # a key that is not text (YAML ``1: 2``): the field is the mapping's
        owner = _model_at(model, location[:-1])
        return InputError(_path(location[:-1]) or model.__name__, first.get("input"),
                          "field names (text): one of " + ", ".join(owner.model_fields))
    if first["type"] in ("model_type", "model_attributes_type", "dict_type"):
        owner = _model_at(model, location)
        fields = f" with the fields {', '.join(owner.model_fields)}" if owner is not model or not location else ""
        return InputError(field, first.get("input"), "a mapping" + fields)
    if first["type"] in ("tuple_type", "list_type"):
        return InputError(field, first.get("input"), "a list")
    if first["type"] == "literal_error":
        return InputError(field, first.get("input"), first["msg"].replace("Input should be", "one of"))
    allowed = first["msg"].replace("Input should be ", "")
    if first["type"] == "value_error":  # our own validators' ValueError: their words, without pydantic's prefix
        allowed = allowed.removeprefix("Value error, ")
    value = first.get("input")
    if isinstance(value, (Mapping, list, tuple)):  # a rule about a whole block: name it, do not print all of it
        return _briefly(InputError(field, value, allowed))
    return InputError(field, value, allowed)


def _model_words(model: type[BaseModel]) -> str:
    """``trial scenario`` for TrialScenario: the field a rule about the whole of ``model`` names."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()


#: Cuts a block's value to one readable line in a message (its first keys or items, strings shortened).
_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxdict, _BRIEF.maxlist, _BRIEF.maxtuple, _BRIEF.maxstring, _BRIEF.maxother = 1, 4, 4, 4, 30, 30


def _shown(value: object) -> str:
    """``value`` as a message shows it: a mapping or list in brief, anything else by its repr."""
    return _BRIEF.repr(value) if isinstance(value, (Mapping, list, tuple)) else repr(value)


def _briefly(error: InputError) -> InputError:
    """``error`` whose message shows its value (a mapping or list) in brief; ``error.value`` keeps all of it."""
    error.args = (f"{error.field}: got {_shown(error.value)}; expected {error.allowed}",)
    return error


#: Tags of the tagged unions of the schemas (pydantic puts them in an error's location).
UNION_TAGS = ("schedule", "schedules")


def _path(location: tuple[str, ...]) -> str:
    """``patient.lesions[0]`` from ("patient", "lesions", "0"); the tags of a tagged union (``ici``: one schedule
    or a list) are left out."""
    text = ""
    for part in location:
        if part != "[key]" and part not in UNION_TAGS:  # pydantic's marker of a mapping key that failed
            if part.isdigit():
                text += f"[{part}]"
            elif not part or any(character.isspace() or not character.isprintable()
                                                 for character in part):
                text += f"[{part!r}]"  # a key such as '\r' or '' shown so that the message stays one line
            else:
                text += ("." if text else "") + part
    return text


def prefixed(error: InputError, field: str) -> InputError:
    """A copy of ``error`` (same class, e.g. UnknownNameError) reporting ``field``."""
    copy = error.__class__.__new__(error.__class__)
    copy.__dict__.update(error.__dict__)
    copy.field = field
    copy.args = (f"{field}: got {_shown(error.value)}; expected {error.allowed}",)
    return copy


def _model_at(model: type[BaseModel], location: tuple[str, ...]) -> type[BaseModel]:
    for part in location:
        field = model.model_fields.get(part)
        if field is None:
            continue
        nested = _models_in(field.annotation)
        if not nested:
            break
        model = nested[0]
    return model


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds, outermost first (through Optional, unions, tuples and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in typing.get_args(annotation) for model in _models_in(argument)]


def quantity(dimension: str, *, minimum: float = 0.0, positive: bool = False, maximum: float | None = None,
             per: float = 1.0, unit_required: bool = True) -> Any:
    """A pydantic field type: a finite quantity of ``dimension`` (unit required unless dimensionless or not
    ``unit_required``, e.g. a ``day`` in days) in the
    internal unit divided by ``per`` (1000 for a body weight in kg), >= ``minimum`` (> 0 if ``positive``).
    Errors carry the field ``value``; :func:`input_error` replaces it by the field's path."""
    def parse(value: object) -> float:
        number = parse_quantity(value, dimension, "value", require_unit=unit_required) / per
        low = "> 0" if positive else f">= {minimum:g}"
        kind = "number" if dimension == "dimensionless" else dimension.replace("_", " ")
        allowed = f"a finite {kind} {low}" + (f" and <= {maximum:g}" if maximum is not None else "")
        if not math.isfinite(number) or number < minimum or (positive and number <= 0) or \
                (maximum is not None and number > maximum):
            raise InputError("value", value, allowed)
        return number

    return Annotated[float, BeforeValidator(parse)]


def whole(minimum: int = 0, maximum: int | None = None) -> Any:
    """A pydantic field type: a whole number (not a bool, not 2.7) from ``minimum`` to ``maximum``."""
    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum or \
                (maximum is not None and value > maximum):
            raise InputError("value", value, f"a whole number from {minimum} to {maximum}" if maximum is not None
                             else f"a whole number >= {minimum}")
        return int(value)

    return Annotated[int, BeforeValidator(parse)]


def _lesion_volume(value: object) -> float:
    """A lesion's volume (mL) from a volume ('10 mL'), a mass ('20 g', density 1 g/mL) or a diameter ('25 mm',
    sphere: π d³ / 6)."""
    for dimension in ("volume", "mass", "length"):
        try:
            number = parse_quantity(value, dimension, "value", require_unit=True)
        except InputError:
            continue
        if math.isfinite(number) and number > 0:
            return math.pi * number ** 3 / 6.0 if dimension == "length" else number * LESION_DENSITY_ML_PER_G
        break
    raise InputError("value", value, "a positive lesion volume ('10 mL'), mass ('20 g') or diameter ('25 mm')")


#: Lesion volume per mass (mL/g): soft tissue at 1 g/mL, as the engine's lesion mass = volume × 1 g/mL.
LESION_DENSITY_ML_PER_G = 1.0
Fraction = quantity("dimensionless", maximum=1.0)
Lesion = Annotated[float, BeforeValidator(_lesion_volume)]

#: PatientSpec field → the name of that covariate in the engine's patients mapping (internal units).
ENGINE_NAMES = {"weight": "weight_kg", "bsa": "bsa_m2", "gfr": "gfr_mL_per_min", "target_uptake": "target_uptake_scale",
                "infiltration": "infiltration", "pdl1": "pdl1", "alpha": "alpha", "lymphocytes": "lymphocytes",
                "psa": "psa", "doubling_time": "doubling_time_days", "low_uptake_fraction": "low_uptake_fraction"}


class PatientSpec(Schema):
    """One patient's covariates, each a quantity with its unit, stored in the internal unit; None: the
    default (the ICRP 89 reference adult of ``sex`` for the kinetics, the parameter set's for the immunity).

    weight kg, bsa m², gfr mL/min, target_uptake (scale, 1 = reference), lesions (volumes mL; given as
    volume, mass or diameter), lesion_uptake (each lesion's target expression relative to the patient's;
    default 1), lesion_sites (bone, node, liver, lung, soft_tissue; default unknown), infiltration (≥ 0, "hot" ≈ 1), pdl1 (fraction 0–1, '10 %' allowed), alpha
    1/Gy, lymphocytes 10⁹/L, psa ng/mL, doubling_time d, low_uptake_fraction (0–1).
    """

    sex: Literal["male", "female"] | None = None
    risk_factors: tuple[str, ...] = ()  # e.g. [renal]: tissue limits that apply only with them (radiobiology)
    weight: quantity("mass", positive=True, per=1000.0) | None = None  # type: ignore[valid-type]
    bsa: quantity("area", positive=True) | None = None  # type: ignore[valid-type]
    gfr: quantity("flow", positive=True) | None = None  # type: ignore[valid-type]
    target_uptake: quantity("dimensionless") | None = None  # type: ignore[valid-type]
    lesions: tuple[Lesion, ...] = ()
    lesion_uptake: tuple[quantity("dimensionless"), ...] = ()  # type: ignore[valid-type]
    lesion_sites: tuple[Literal[LESION_SITES], ...] = ()  # type: ignore[valid-type]
    infiltration: quantity("dimensionless") | None = None  # type: ignore[valid-type]
    pdl1: Fraction | None = None  # type: ignore[valid-type]
    alpha: quantity("inverse_dose") | None = None  # type: ignore[valid-type]
    lymphocytes: quantity("cell_concentration") | None = None  # type: ignore[valid-type]
    psa: quantity("marker_concentration") | None = None  # type: ignore[valid-type]
    doubling_time: quantity("time", positive=True) | None = None  # type: ignore[valid-type]
    low_uptake_fraction: Fraction | None = None  # type: ignore[valid-type]

    def engine_patients(self, count: int = 1) -> dict[str, np.ndarray]:
        """``count`` copies of this patient in the engine's names and units (given covariates only)."""
        patients = {ENGINE_NAMES[name]: np.full(count, value) for name, value in self if name in ENGINE_NAMES
                    and value is not None}
        for name, value in (("lesion_volumes_mL", self.lesions), ("lesion_uptake_factors", self.lesion_uptake),
                            ("lesion_sites", self.lesion_sites)):
            if value:
                if len(value) != len(self.lesions):
                    raise InputError(name, value, f"one value per lesion ({len(self.lesions)})")
                patients[name] = np.repeat(np.array([value]), count, axis=0)
        return patients

    def kinetic_covariates(self) -> Covariates:
        """The kinetics' :class:`Covariates` of this patient; missing ones are the reference adult's of its sex."""
        return kinetic_covariates(self.engine_patients(), self.sex or "male")


#: Kinetic covariates of the engine's patients mapping (else the reference adult's).
KINETIC_NAMES = ("weight_kg", "bsa_m2", "gfr_mL_per_min", "target_uptake_scale")


def kinetic_covariates(patients: Mapping[str, Any] | Any, sex: str = "male", density_g_per_mL: float = 1.0,
                       lesion_volumes_mL: Any = None) -> Covariates:
    """The kinetics' :class:`Covariates` of patients in the engine's names (a mapping, or an object with those
    attributes): missing covariates are the ICRP 89 reference adult's of ``sex``; lesion mass = volume
    (``lesion_volumes_mL``, else the patients') × ``density_g_per_mL``, an absent lesion (NaN) mass 0; each
    lesion's ``lesion_uptake_factors`` (absent: 1, NaN read as 1) and ``lesion_sites`` when given."""
    def get(name: str) -> Any:
        return patients.get(name) if isinstance(patients, Mapping) else getattr(patients, name, None)

    volumes = get("lesion_volumes_mL") if lesion_volumes_mL is None else lesion_volumes_mL
    given = {name: np.asarray(get(name), dtype=float) for name in KINETIC_NAMES if get(name) is not None}
    lesions = np.zeros((1, 0)) if volumes is None else np.atleast_2d(np.asarray(volumes, dtype=float))
    count = max([lesions.shape[0]] + [np.size(value) for value in given.values()])
    reference = Covariates.reference(sex, count)
    values = {name: np.broadcast_to(given.get(name, getattr(reference, name)), (count,)).copy()
              for name in KINETIC_NAMES}
    masses = np.nan_to_num(lesions * density_g_per_mL, nan=0.0) if volumes is not None else np.zeros((count, 0))
    factors, sites = get("lesion_uptake_factors"), get("lesion_sites")
    if factors is not None:
        factors = np.nan_to_num(np.atleast_2d(np.asarray(factors, dtype=float)), nan=1.0)
    return Covariates(lesion_masses_g=masses, lesion_uptake_factors=factors, lesion_sites=sites, **values)
