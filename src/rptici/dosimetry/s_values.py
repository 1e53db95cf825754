"""User-supplied S-value tables for organ self- and cross-dose (MIRD schema).

File format (CSV, one pair per row, ``#`` starts a comment line)::

    target,source,S [mGy/(MBq*h)]
    kidneys,kidneys,0.9
    liver,kidneys,0.0021

The third header gives the unit in brackets; any S-value unit pint understands is accepted
(``mGy/(MBq*s)``, ``Gy/(Bq*s)``, ``mGy/(MBq*h)``) and converted to mGy/(MBq h). A pair that is not in
the table is an error, not a zero: list small cross-doses explicitly.

    D(target) = Σ_sources Ã(source) · S(target ← source)        (MIRD Pamphlet 21)
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import read_user_text
from ..errors import InputError, UnknownNameError
from ..units import parse_quantity
from .absorbed_dose import MGY_PER_GY

_HEADER = re.compile(r"^\s*S\s*\[(?P<unit>[^\]]+)\]\s*$")
_COLUMNS = ("target", "source", "S [unit]")


@dataclass(frozen=True)
class SValueTable:
    """S(target ← source) in mGy/(MBq h), keyed by (target, source) region names."""

    values: Mapping[tuple[str, str], float]
    origin: str = "table"
    targets: tuple[str, ...] = field(init=False)
    sources: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        for (target, source), value in self.values.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InputError(f"S({target} <- {source})", value, "a non-negative, finite S-value in mGy/(MBq*h)")
        object.__setattr__(self, "values", dict(self.values))
        object.__setattr__(self, "targets", tuple(dict.fromkeys(target for target, _ in self.values)))
        object.__setattr__(self, "sources", tuple(dict.fromkeys(source for _, source in self.values)))

    @classmethod
    def from_csv(cls, path: str | Path) -> "SValueTable":
        """Read a ``target,source,S [unit]`` table; errors name the file, line and column."""
        path = Path(path)
        text = read_user_text(path, "s_value_table", "a CSV table 'target,source,S [mGy/(MBq*h)]'")
        values: dict[tuple[str, str], float] = {}
        factor: float | None = None
        try:
            rows = list(csv.reader(text.splitlines()))
        except csv.Error as error:  # e.g. a NUL byte
            raise InputError("s_value_table", str(path), f"a CSV table 'target,source,S [mGy/(MBq*h)]' ({error})") \
                from None
        for line_number, row in enumerate(rows, start=1):
            if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            cells = [cell.strip() for cell in row]
            where = f"{path}, line {line_number}"
            if len(cells) != 3:
                raise InputError(where, ",".join(row), f"3 columns ({', '.join(_COLUMNS)}), got {len(cells)}")
            if factor is None:
                factor = _unit_factor(cells, where)
                continue
            target, source, number = cells
            for column, name in ((1, target), (2, source)):
                if not name:
                    raise InputError(f"{where}, column {column} ({_COLUMNS[column - 1]})", name, "a region name")
            try:
                value = float(number)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise InputError(f"{where}, column 3 (S)", number, "a non-negative number")
            if (target, source) in values:
                raise InputError(f"{where}, columns 1-2", f"{target},{source}", "each (target, source) pair once")
            values[(target, source)] = value * factor
        if factor is None:
            raise InputError(str(path), "", f"a header line '{','.join(_COLUMNS)}' and at least one row")
        if not values:
            raise InputError(str(path), "", "at least one row after the header")
        return cls(values, origin=str(path))

    def s(self, target: str, source: str) -> float:
        """S(target ← source) in mGy/(MBq h); unknown regions raise :class:`UnknownNameError`."""
        if target not in self.targets:
            raise UnknownNameError("target", target, self.targets)
        if source not in self.sources:
            raise UnknownNameError("source", source, self.sources)
        try:
            return self.values[(target, source)]
        except KeyError:
            pairs = [f"{t} <- {s}" for t, s in self.values]
            raise UnknownNameError(f"S-value pair in {self.origin}", f"{target} <- {source}", pairs) from None


def _unit_factor(cells: list[str], where: str) -> float:
    """Factor from the header's S unit to mGy/(MBq h); checks the first two column names."""
    for column, expected in ((0, "target"), (1, "source")):
        if cells[column].lower() != expected:
            raise InputError(f"{where}, column {column + 1}", cells[column], f"the header '{expected}'")
    match = _HEADER.match(cells[2])
    if not match:
        raise InputError(f"{where}, column 3", cells[2], "a header 'S [unit]', such as 'S [mGy/(MBq*h)]'")
    try:
        return parse_quantity(f"1 {match.group('unit')}", "s_value", f"{where}, column 3 (unit)")
    except InputError as error:
        raise InputError(error.field, match.group("unit"), "an S-value unit such as mGy/(MBq*h) or mGy/(MBq*s)") from None


def absorbed_doses(tia_by_region: Mapping[str, float | np.ndarray], table: SValueTable) -> dict[str, float | np.ndarray]:
    """Absorbed dose (Gy) to every target of ``table``: D(t) = Σ_s Ã(s) S(t ← s) / 1000.

    ``tia_by_region`` maps source regions to time-integrated activity in MBq h (numbers or arrays of the
    same shape, e.g. one value per patient). A source not in the table raises :class:`UnknownNameError`.
    """
    tia: dict[str, np.ndarray] = {}
    for region, value in tia_by_region.items():
        if region not in table.sources:
            raise UnknownNameError("source", region, table.sources)
        array = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(array)) or np.any(array < 0):
            raise InputError(f"time_integrated_activity[{region}]", value, "a non-negative, finite value in MBq h")
        tia[region] = array
    doses: dict[str, float | np.ndarray] = {}
    for target in table.targets:
        total = sum((tia[source] * table.s(target, source) for source in tia), start=np.zeros(()))
        dose = total / MGY_PER_GY
        doses[target] = float(dose) if np.ndim(dose) == 0 else dose
    return doses
