"""Measured time–activity data of a patient: a CSV table, or a YAML file that points to one.

CSV (lines starting with ``#`` are comments)::

    region,time [h],activity [MBq]
    kidneys,4,160.2
    kidneys,24,131.9

The units in the header are required (any time unit; any activity unit, or ``%IA`` when the
administered activity is known). Rows of a region must have strictly increasing times.

YAML::

    patient: example-1
    nuclide: Lu-177
    agent: "[177Lu]Lu-DOTATATE"
    administered_activity: 7.4 GBq
    measurements: lu177_dotatate_patient.csv     # relative to this file
    regions:
      kidneys:  {mass: 310 g, tissue: kidney}
      lesion-1: {mass: 25 g, tissue: tumour}

A region may instead carry its own data: ``{times: [4 h, 24 h, 96 h], activities: [160 MBq, 130 MBq, 60 MBq]}``,
a ``volume`` instead of its mass (``volume: 12 mL``: mass at unit density, :data:`SOFT_TISSUE_DENSITY`), and its
own time–activity model (``model: bi``; default the command's ``--model``, ``auto``), and what earlier cycles
gave it (``previous: {dose: 12 Gy, bed: 14 Gy}``: the limits then compare the dose to date and say how many more
such cycles stay within them). Regions measured in the CSV
but not listed under ``regions`` are kept, without mass or tissue. Internally times are in days, activities in MBq,
masses in g.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..data import read_user_text
from ..errors import InputError
from ..units import parse_positive, parse_quantity
from .tac import MODELS, TacFit, fit_tac, validate_curve

_HEADER = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\[(.*)\]|\((.*)\))?\s*$")
_TISSUE = re.compile(r"^[a-z][a-z0-9_]*$")
_PERCENT = {"%", "%ia", "% ia", "percent", "%id", "% id"}
_PATIENT_KEYS = ("patient", "nuclide", "agent", "administered_activity", "measurements", "regions", "notes", "source",
                 "risk_factors")
_REGION_KEYS = ("mass", "tissue", "times", "activities", "volume", "model", "previous", "notes")
#: g/mL used to turn a region's volume into its mass: unit density, the convention of the MIRD sphere S values
#: (soft tissue is 1.03-1.06 g/mL, ICRU Report 44; give the mass where it matters).
SOFT_TISSUE_DENSITY = 1.0


@dataclass(frozen=True, eq=False)
class RegionMeasurements:
    """One region's curve: times (d), activities (MBq), and optionally mass (g), tissue type and the time–activity
    model to fit (None: the caller's)."""

    name: str
    times: np.ndarray
    activities: np.ndarray
    mass: float | None = None
    tissue: str | None = None
    model: str | None = None
    #: RBE-weighted dose and BED (Gy) of the earlier cycles, ``{"dose": ..., "bed": ...}`` (None: first cycle).
    previous: dict[str, float] | None = None

    @property
    def points(self) -> int:
        return int(self.times.size)


@dataclass(frozen=True, eq=False)
class PatientMeasurements:
    """A patient dataset: nuclide, administered activity (MBq) and the measured regions."""

    regions: dict[str, RegionMeasurements]
    nuclide: str | None = None
    administered_activity: float | None = None
    patient: str | None = None
    agent: str | None = None
    source: Path | None = None
    notes: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    risk_factors: tuple[str, ...] = ()  # e.g. ("renal",): the tissue limits that apply only with them

    @property
    def decay_constant(self) -> float | None:
        """Physical decay constant of the nuclide (1/d), or None when no nuclide is given."""
        if self.nuclide is None:
            return None
        from ..physics import Nuclide

        return Nuclide(self.nuclide).decay_constant_per_day

    def fit(self, model: str = "auto", **options: Any) -> dict[str, TacFit]:
        """:func:`~rptici.dosimetry.tac.fit_tac` for every region: its own ``model`` where it has one, else
        ``model`` (same other options for all)."""
        options.setdefault("decay_constant", self.decay_constant)
        return {name: fit_tac(region.times, region.activities, region.model or model, region=name, **options)
                for name, region in self.regions.items()}


def _region_mass(entry: dict[str, Any], name: str) -> float | None:
    """The region's mass (g): its ``mass``, or its ``volume`` at :data:`SOFT_TISSUE_DENSITY`; not both."""
    if entry.get("mass") is not None and entry.get("volume") is not None:
        raise InputError(f"regions.{name}.volume", entry["volume"], "either a mass or a volume for a region, not both")
    if entry.get("volume") is not None:
        return parse_positive(entry["volume"], "volume", f"regions.{name}.volume") * SOFT_TISSUE_DENSITY
    return parse_positive(entry["mass"], "mass", f"regions.{name}.mass") if entry.get("mass") is not None else None


def _previous(entry: Any, name: str) -> dict[str, float] | None:
    """Earlier cycles' ``{dose, bed}`` of a region (each an absorbed dose with its unit; BED defaults to the dose)."""
    if entry is None:
        return None
    field_name = f"regions.{name}.previous"
    if not isinstance(entry, dict) or "dose" not in entry or set(entry) - {"dose", "bed"}:
        raise InputError(field_name, entry, "{dose: 12 Gy, bed: 14 Gy}: the RBE-weighted dose and BED of the earlier "
                                            "cycles (bed optional)")
    dose = parse_positive(entry["dose"], "dose", f"{field_name}.dose", allow_zero=True, require_unit=True)
    bed = parse_positive(entry.get("bed", entry["dose"]), "dose", f"{field_name}.bed", allow_zero=True,
                         require_unit=True)
    if bed < dose:
        raise InputError(f"{field_name}.bed", entry.get("bed"), f"a BED at least the dose ({dose:g} Gy)")
    return {"dose": dose, "bed": bed}


def read_measurements(path: str | Path, *, nuclide: str | None = None,
                      administered_activity: object = None) -> PatientMeasurements:
    """Read a patient dataset from YAML (``.yaml``/``.yml``) or a bare CSV table.

    For a bare CSV, ``nuclide`` and ``administered_activity`` (e.g. ``"7.4 GBq"``) may be given here;
    for YAML they override the file's values when given.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError("path", str(path), "an existing CSV or YAML file")
    if file.suffix.lower() in (".yaml", ".yml"):
        return _read_yaml(file, nuclide, administered_activity)
    if file.suffix.lower() in (".csv", ".txt"):
        canonical = _canonical_nuclide(nuclide, "nuclide")
        administered = _administered(administered_activity)
        regions = read_csv_curves(file, administered)
        return PatientMeasurements(regions={name: RegionMeasurements(name, times, activities)
                                            for name, (times, activities) in regions.items()},
                                   nuclide=canonical, administered_activity=administered, source=file)
    raise InputError("path", str(path), "a file ending in .csv, .yaml or .yml")


def read_csv_curves(path: str | Path, administered_activity: float | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Curves of a CSV table with columns ``region, time [unit], activity [unit]``: times (d), activities (MBq)."""
    file = Path(path)
    text = read_user_text(file, "measurements", "a CSV table 'region,time [h],activity [MBq]'")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    try:
        rows = list(csv.reader(lines))
    except csv.Error as error:  # e.g. a NUL byte
        raise InputError(f"{file.name}", "unreadable CSV", f"a CSV table 'region,time [h],activity [MBq]' ({error})") \
            from None
    if not rows:
        raise InputError(f"{file.name}", "", "a header 'region,time [h],activity [MBq]' and data rows")
    columns: dict[str, tuple[int, str | None]] = {}
    for index, cell in enumerate(rows[0]):
        match = _HEADER.match(cell)
        if not match:
            raise InputError(f"{file.name}: header", cell, "column names such as 'region', 'time [h]', 'activity [MBq]'")
        name = match.group(1).lower()
        columns[name] = (index, (match.group(2) or match.group(3) or "").strip() or None)
    for required in ("region", "time", "activity"):
        if required not in columns:
            raise InputError(f"{file.name}: header", ",".join(rows[0]), f"a column '{required}' "
                                                                       "(header like 'region,time [h],activity [MBq]')")
    time_index, time_unit = columns["time"]
    activity_index, activity_unit = columns["activity"]
    region_index = columns["region"][0]
    if time_unit is None:
        raise InputError(f"{file.name}: time", rows[0][time_index], "a unit in the header, such as 'time [h]'")
    if activity_unit is None:
        raise InputError(f"{file.name}: activity", rows[0][activity_index], "a unit in the header, such as 'activity [MBq]'")
    time_factor = parse_quantity(f"1 {time_unit}", "time", f"{file.name}: time unit")
    if activity_unit.lower() in _PERCENT:
        if administered_activity is None:
            raise InputError(f"{file.name}: activity", activity_unit,
                             "an activity unit such as MBq; %IA needs the administered activity")
        activity_factor = administered_activity / 100.0
    else:
        activity_factor = parse_quantity(f"1 {activity_unit}", "activity", f"{file.name}: activity unit")

    collected: dict[str, tuple[list[float], list[float]]] = {}
    width = max(time_index, activity_index, region_index) + 1
    for line_number, row in enumerate(rows[1:], start=2):
        if len(row) < width:
            raise InputError(f"{file.name}: row {line_number}", ",".join(row), f"{len(rows[0])} comma-separated values")
        region = row[region_index].strip()
        if not region:
            raise InputError(f"{file.name}: row {line_number}: region", row[region_index], "a region name")
        values = []
        for column, index, factor in (("time", time_index, time_factor), ("activity", activity_index, activity_factor)):
            try:
                number = float(row[index])
            except ValueError:
                raise InputError(f"{region}.{column}", row[index], f"a number (row {line_number} of {file.name})") from None
            if not math.isfinite(number):
                raise InputError(f"{region}.{column}", row[index], f"a finite number (row {line_number} of {file.name})")
            values.append(number * factor)
        times, activities = collected.setdefault(region, ([], []))
        times.append(values[0])
        activities.append(values[1])
    if not collected:
        raise InputError(f"{file.name}", "no data rows", "at least one row below the header")
    return {region: validate_curve(times, activities, region) for region, (times, activities) in collected.items()}


def _canonical_nuclide(name: object, field_name: str) -> str | None:
    """``Lu177``, ``177Lu`` → ``Lu-177``; an unknown name raises UnknownNameError naming the field."""
    if name is None:
        return None
    from ..physics.nuclides import canonical_name

    return canonical_name(str(name))


def _administered(value: object, field_name: str = "administered_activity") -> float | None:
    return None if value is None else parse_positive(value, "activity", field_name)


def _quantity_list(values: object, dimension: str, field_name: str, example: str) -> list[float]:
    if not isinstance(values, list) or not values:
        raise InputError(field_name, values, f"a list of quantities such as [{example}]")
    numbers = []
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise InputError(f"{field_name}[{index}]", value, f"a quantity with its unit, such as '{example}'")
        numbers.append(parse_quantity(value, dimension, f"{field_name}[{index}]"))
    return numbers


def _read_yaml(file: Path, nuclide: str | None, administered_activity: object) -> PatientMeasurements:
    try:
        document = yaml.safe_load(read_user_text(file, "path", "a patient dataset (YAML)"))
    except yaml.YAMLError as error:
        raise InputError(file.name, "unparseable YAML", f"valid YAML ({error.__class__.__name__})") from None
    if not isinstance(document, dict):
        raise InputError(file.name, type(document).__name__, "a mapping with keys " + ", ".join(_PATIENT_KEYS))
    unknown = sorted(set(document) - set(_PATIENT_KEYS), key=str)
    if unknown:
        raise InputError(str(unknown[0]), document[unknown[0]], "one of the keys " + ", ".join(_PATIENT_KEYS))
    canonical = _canonical_nuclide(nuclide if nuclide is not None else document.get("nuclide"), "nuclide")
    administered = _administered(administered_activity if administered_activity is not None
                                 else document.get("administered_activity"))

    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if document.get("measurements") is not None:
        table = document["measurements"]
        if not isinstance(table, str):
            raise InputError("measurements", table, "the path of a CSV file, relative to the YAML file")
        table_path = (file.parent / table) if not Path(table).is_absolute() else Path(table)
        if not table_path.is_file():
            raise InputError("measurements", table, f"an existing CSV file (looked for {table_path})")
        curves = read_csv_curves(table_path, administered)

    region_entries = document.get("regions") or {}
    if not isinstance(region_entries, dict):
        raise InputError("regions", region_entries, "a mapping of region name to {mass: ..., tissue: ...}")
    regions: dict[str, RegionMeasurements] = {}
    for name, entry in region_entries.items():
        name = str(name)
        entry = entry or {}
        if not isinstance(entry, dict):
            raise InputError(f"regions.{name}", entry, "a mapping such as {mass: 310 g, tissue: kidney}")
        unknown = sorted(set(entry) - set(_REGION_KEYS), key=str)
        if unknown:
            raise InputError(f"regions.{name}.{unknown[0]}", entry[unknown[0]], "one of the keys " + ", ".join(_REGION_KEYS))
        mass = _region_mass(entry, name)
        model = entry.get("model")
        if model is not None and (not isinstance(model, str) or (model not in MODELS and model != "auto")):
            raise InputError(f"regions.{name}.model", model, "one of auto, " + ", ".join(MODELS))
        tissue = _tissue(entry.get("tissue"), f"regions.{name}.tissue")
        if entry.get("times") is not None or entry.get("activities") is not None:
            if name in curves:
                raise InputError(f"regions.{name}.times", entry.get("times"),
                                 "data in the CSV file or in the YAML file, not both")
            times = _quantity_list(entry.get("times"), "time", f"regions.{name}.times", "4 h, 24 h")
            activities = _quantity_list(entry.get("activities"), "activity", f"regions.{name}.activities", "120 MBq, 95 MBq")
            curves[name] = validate_curve(times, activities, name)
        if name not in curves:
            raise InputError(f"regions.{name}", entry, "measurements for this region in the CSV file or as times/activities")
        times, activities = curves[name]
        regions[name] = RegionMeasurements(name, times, activities, mass, tissue, model,
                                           _previous(entry.get("previous"), name))
    for name, (times, activities) in curves.items():
        regions.setdefault(name, RegionMeasurements(name, times, activities))
    if not regions:
        raise InputError("measurements", document.get("measurements"), "a CSV file or regions with times and activities")
    return PatientMeasurements(regions=regions, nuclide=canonical, administered_activity=administered,
                               patient=None if document.get("patient") is None else str(document["patient"]),
                               agent=document.get("agent"), source=file, notes=document.get("notes"),
                               risk_factors=_names(document.get("risk_factors"), "risk_factors"))


def _names(value: object, field_name: str) -> tuple[str, ...]:
    """A list of names (lower case) from a YAML list, a single name or nothing."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) and item.strip() for item in items):
        raise InputError(field_name, value, "a list of names, e.g. [renal]")
    return tuple(item.strip().lower() for item in items)


def _tissue(value: object, field_name: str) -> str | None:
    if value is None:
        return None
    text = re.sub(r"[\s\-]+", "_", str(value).strip().lower())
    if not _TISSUE.match(text):
        raise InputError(field_name, value, "a tissue name such as kidney, red_marrow, liver, spleen or tumour")
    return text
