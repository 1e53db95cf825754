"""Quantities in, one internal unit system out.

pint is used at the boundary only. Inside rptici every number is a plain float (or NumPy array) in:

=====================  =========  ==============================
quantity               unit       dimension name used here
=====================  =========  ==============================
time                   d          ``time``
activity               MBq        ``activity``
activity per mass      MBq/kg     ``activity_per_mass``
activity per area      MBq/m^2    ``activity_per_area``
time-integrated act.   MBq h      ``time_integrated_activity``
absorbed dose          Gy         ``dose``
dose rate              Gy/d       ``dose_rate``
mass                   g          ``mass``
volume                 mL         ``volume``
drug amount            mg         ``drug_amount``
drug amount per mass   mg/kg      ``drug_per_mass``
concentration          ug/mL      ``concentration``
energy                 MeV        ``energy``
length                 cm         ``length``
S-value                mGy/(MBq h) ``s_value``
area                   m^2        ``area``
flow (GFR)             mL/min     ``flow``
inverse dose           1/Gy       ``inverse_dose``
marker concentration   ng/mL      ``marker_concentration``
cell concentration     10^9/L     ``cell_concentration``
=====================  =========  ==============================

Time-integrated activity and S-values keep the MIRD habit of MBq h (so that S-values read as in
the literature); every other time is in days.
"""

from __future__ import annotations

import math
import numbers
import re
from functools import lru_cache

import pint

from .errors import InputError

INTERNAL_UNITS: dict[str, str] = {
    "time": "day",
    "activity": "MBq",
    "activity_per_mass": "MBq/kg",
    "activity_per_area": "MBq/m**2",
    "time_integrated_activity": "MBq*hour",
    "dose": "Gy",
    "dose_rate": "Gy/day",
    "mass": "g",
    "volume": "mL",
    "drug_amount": "mg",
    "drug_per_mass": "mg/kg",
    "concentration": "ug/mL",
    "energy": "MeV",
    "length": "cm",
    "s_value": "mGy/(MBq*hour)",
    "area": "m**2",
    "flow": "mL/min",
    "inverse_dose": "1/Gy",
    "marker_concentration": "ng/mL",
    "cell_concentration": "1/nL",  # 1/nL = 10^9/L
    "dimensionless": "",
}

HOURS_PER_DAY = 24.0


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The single pint registry of rptici."""
    return pint.UnitRegistry()


_POWER = re.compile(r"(?<=[A-Za-z])(?<!\d[eE])([23])\b")
_LEADING_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(?![\d,])")


def _to_pint(text: str) -> str:
    """Accept the clinical spellings pint does not: ``m2`` for m², ``µ`` for u."""
    return _POWER.sub(r"**\1", text.replace("µ", "u").replace("μ", "u"))


def parse_quantity(value: object, dimension: str, field: str = "value", require_unit: bool = False) -> float:
    """Convert ``value`` (a string with unit, or a pint quantity) to the internal unit of ``dimension``.

    A bare number is taken to be in the internal unit already, unless ``require_unit`` (then it is an error
    for any dimension but ``dimensionless``; a bare 0 is 0 in every unit and stays allowed). A wrong dimension,
    an unparseable string, a value that is not finite in the internal unit (``1e400 GBq``, ``.inf``, NaN) or
    an unknown dimension name raises :class:`InputError` naming ``field``.
    """
    if dimension not in INTERNAL_UNITS:
        raise InputError("dimension", dimension, f"one of {', '.join(INTERNAL_UNITS)}")
    target = INTERNAL_UNITS[dimension]
    if isinstance(value, bool):
        raise InputError(field, value, f"a quantity of {dimension} such as '{_example(dimension)}'")
    if isinstance(value, numbers.Real):
        if require_unit and target and value != 0:
            raise InputError(field, value, f"a number with its unit, such as '{_example(dimension)}'")
        return _finite(value, value, dimension, field)
    if isinstance(value, str) and not _LEADING_NUMBER.match(value.strip()):
        raise InputError(field, value, f"a number with a unit, such as '{_example(dimension)}'")
    try:
        magnitude = value.to(target).magnitude if isinstance(value, pint.Quantity) else \
            _magnitude(str(value).strip(), target)
    except pint.DimensionalityError:
        raise InputError(field, value, f"a quantity of {dimension} (convertible to {target or 'a pure number'}), "
                                       f"such as '{_example(dimension)}'") from None
    except Exception:
        raise InputError(field, value, f"a number with a unit, such as '{_example(dimension)}'") from None
    return _finite(magnitude, value, dimension, field)


@lru_cache(maxsize=4096)
def _magnitude(text: str, target: str) -> object:
    """The magnitude of quantity ``text`` in unit ``target`` (pint's errors propagate). Cached: a scenario repeats
    its quantities (every arm's activity, every chunk's regimen) and pint takes about half a millisecond each."""
    return registry().Quantity(_to_pint(text)).to(target).magnitude


def _finite(number: object, value: object, dimension: str, field: str) -> float:
    """``number`` as a finite float, else an InputError (an int too large for a float, inf or NaN)."""
    try:
        result = float(number)  # type: ignore[arg-type]
    except (OverflowError, TypeError, ValueError):
        result = math.nan
    if not math.isfinite(result):
        kind = "number" if dimension == "dimensionless" else f"quantity of {dimension}"
        raise InputError(field, value, f"a finite {kind}, such as '{_example(dimension)}'")
    return result


def parse_positive(value: object, dimension: str, field: str = "value", allow_zero: bool = False,
                   require_unit: bool = False) -> float:
    """Like :func:`parse_quantity`, but the result must be positive (or non-negative)."""
    number = parse_quantity(value, dimension, field, require_unit)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise InputError(field, value, f"a {'non-negative' if allow_zero else 'positive'} {dimension}")
    return number


_INTERVAL = re.compile(r"^\s*q\s*(\d+(?:\.\d+)?)\s*(h|d|w|m)\s*$", re.IGNORECASE)
_EVERY = re.compile(r"^\s*every\s+(.+)$", re.IGNORECASE)
_INTERVAL_UNITS = {"h": 1 / HOURS_PER_DAY, "d": 1.0, "w": 7.0, "m": 365.25 / 12}


def parse_interval(value: object, field: str = "interval", require_unit: bool = False) -> float:
    """Dosing interval in days from ``q6w``, ``q21d``, ``every 28 days``, ``6 weeks`` or a number of days (not
    when ``require_unit``)."""
    written = value
    if isinstance(value, str):
        match = _INTERVAL.match(value)
        if match:
            days = float(match.group(1)) * _INTERVAL_UNITS[match.group(2).lower()]
            if days <= 0:
                raise InputError(field, value, "a positive interval such as 'q3w'")
            return days
        every = _EVERY.match(value)
        if every:
            value = every.group(1)
            if value.strip().split()[0].isalpha():  # "every week"
                value = "1 " + value
    try:
        return parse_positive(value, "time", field, require_unit=require_unit)
    except InputError:
        raise InputError(field, written, "a positive interval such as 'q3w', 'q6w', 'every 28 days' or '6 weeks'") from None


def format_number(value: object, digits: int = 3) -> str:
    """A number for a clinician: ``digits`` significant figures (all the digits of the whole part), thousands
    separated, never in scientific notation (11,930, not 1.193e+04; issue 19, item 6), no trailing zeros (as %g), a
    true minus sign; '–' for a missing value. The one formatter of the reports, the dashboard and the command line's tables."""
    if value is None:
        return "–"
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(value):
        return "–" if math.isnan(value) else ("∞" if value > 0 else "−∞")
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(value)))))
    rounded = round(value, decimals)
    text = f"{rounded:,.{decimals}f}"
    if decimals:  # as %g does: 40, not 40.0
        text = text.rstrip("0").rstrip(".")
    return text.replace("-", "−")


def format_quantity(number: float, dimension: str, digits: int = 4) -> str:
    """The internal value of ``dimension`` written with its unit, for messages and reports."""
    return f"{number:.{digits}g} {INTERNAL_UNITS[dimension]}".strip()


_EXAMPLES = {
    "time": "2.8 h", "activity": "7.4 GBq", "activity_per_mass": "55 kBq/kg",
    "activity_per_area": "1.48 GBq/m2", "time_integrated_activity": "1000 MBq*h", "dose": "20 Gy",
    "dose_rate": "0.5 Gy/h", "mass": "10 g", "volume": "10 mL", "drug_amount": "200 mg",
    "drug_per_mass": "10 mg/kg", "concentration": "20 ug/mL", "energy": "0.15 MeV", "length": "1 cm",
    "s_value": "0.5 mGy/(MBq*h)", "area": "1.9 m2", "flow": "100 mL/min", "inverse_dose": "0.15 1/Gy",
    "marker_concentration": "40 ng/mL", "cell_concentration": "1.6e9/L", "dimensionless": "0.5",
}


def _example(dimension: str) -> str:
    return _EXAMPLES[dimension]
