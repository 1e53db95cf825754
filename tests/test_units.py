"""Quantities at the boundary: clinical unit strings to the internal units of rptici.units.

Conversion factors: 1 Ci = 3.7e10 Bq exactly (so 1 mCi = 37 MBq; 200 mCi = 7.4 GBq, the Pluvicto and
Lutathera activity in their prescribing information); 1 h = 1/24 d; 1 week = 7 d.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rptici.errors import InputError
from rptici.units import INTERNAL_UNITS, format_quantity, parse_interval, parse_positive, parse_quantity

# --- round trips ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, dimension, expected",
    [
        ("7.4 GBq", "activity", 7400.0),            # Pluvicto/Lutathera 7.4 GBq = 7400 MBq
        ("200 mCi", "activity", 7400.0),            # 200 mCi x 37 MBq/mCi (label: 7.4 GBq (200 mCi))
        ("7400 MBq", "activity", 7400.0),
        ("100 mCi", "activity", 3700.0),            # radioiodine 100 mCi = 3.7 GBq
        ("1 Ci", "activity", 37000.0),              # definition of the curie
        ("55 kBq/kg", "activity_per_mass", 0.055),  # Xofigo 55 kBq/kg = 0.055 MBq/kg
        ("1.48 GBq/m2", "activity_per_area", 1480.0),
        ("1.48 GBq/m^2", "activity_per_area", 1480.0),
        ("1.48 GBq/m²", "activity_per_area", 1480.0),
        ("10 mg/kg", "drug_per_mass", 10.0),
        ("200 mg", "drug_amount", 200.0),
        ("20 µg/mL", "concentration", 20.0),
        ("2.8 h", "time", 2.8 / 24.0),              # kidney repair half-time 2.8 h (dosimetry.yaml)
        ("6 weeks", "time", 42.0),
        ("64.1 h", "time", 64.1 / 24.0),
        ("0.5 Gy/h", "dose_rate", 12.0),
        ("1000 MBq*h", "time_integrated_activity", 1000.0),  # TIA stays in MBq h
        ("1 MBq*d", "time_integrated_activity", 24.0),
        ("0.5 mGy/(MBq*h)", "s_value", 0.5),
        ("1 mm", "length", 0.1),
        ("2 cm3", "volume", 2.0),
    ],
)
def test_parse_quantity_converts_to_internal_unit(text, dimension, expected):
    assert parse_quantity(text, dimension, "field") == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text", ["7.4 GBq", "200 mCi", "7400 MBq"])
def test_one_activity_three_spellings(text):
    # 7.4 GBq = 200 mCi = 7400 MBq (1 mCi = 37 MBq exactly)
    assert parse_quantity(text, "activity") == pytest.approx(7400.0, rel=1e-12)


@pytest.mark.parametrize("dimension, number", [("activity", 7400.0), ("activity_per_mass", 0.055), ("activity_per_area", 1480.0),
                                               ("drug_per_mass", 10.0), ("time", 0.1166666667), ("s_value", 0.5)])
def test_format_then_parse_round_trip(dimension, number):
    text = format_quantity(number, dimension, digits=10)
    assert parse_quantity(text, dimension) == pytest.approx(number, rel=1e-9)


def test_bare_number_is_taken_in_internal_unit():
    assert parse_quantity(7400, "activity") == 7400.0
    assert parse_quantity(2.5, "time") == 2.5


def test_every_dimension_has_an_internal_unit_and_an_example():
    # each documented dimension parses its own example (units.py table)
    from rptici.units import _example

    for dimension in INTERNAL_UNITS:
        assert math.isfinite(parse_quantity(_example(dimension), dimension))


# --- intervals --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, days",
    [
        ("q6w", 42.0),           # Pluvicto every 6 weeks; pembrolizumab 400 mg q6w
        ("q3w", 21.0),           # pembrolizumab 200 mg q3w
        ("Q3W", 21.0),
        ("q2w", 14.0),
        ("q21d", 21.0),
        ("q12h", 0.5),
        ("every 28 days", 28.0), # Xofigo every 4 weeks
        ("every 2 weeks", 14.0),
        ("every week", 7.0),
        ("6 weeks", 42.0),
        ("8 weeks", 56.0),       # Lutathera every 8 weeks
        (28, 28.0),
    ],
)
def test_parse_interval(text, days):
    assert parse_interval(text) == pytest.approx(days)


@pytest.mark.parametrize("bad", ["q0w", "-3 d", "every 0 days", "weekly", "every", "q6", "7.4 GBq", "", None])
def test_bad_interval_rejected_naming_the_field(bad):
    with pytest.raises(InputError) as caught:
        parse_interval(bad, "ici.interval")
    assert caught.value.field == "ici.interval"
    assert "q3w" in str(caught.value)


# --- wrong dimension, negative, garbage ------------------------------------------------------------

def test_wrong_dimension_names_field_value_and_expected_dimension():
    with pytest.raises(InputError) as caught:
        parse_quantity("7.4 GBq", "time", "rpt.interval")
    error = caught.value
    assert error.field == "rpt.interval"
    assert error.value == "7.4 GBq"
    message = str(error)
    assert message.startswith("rpt.interval: got '7.4 GBq'")
    assert "time" in message and "day" in message and "2.8 h" in message


def test_activity_per_mass_is_not_an_activity():
    # 55 kBq/kg needs a body weight before it is an activity
    with pytest.raises(InputError) as caught:
        parse_quantity("55 kBq/kg", "activity", "rpt.activity")
    assert "activity" in caught.value.allowed and "MBq" in caught.value.allowed


def test_unknown_dimension_name_rejected():
    with pytest.raises(InputError) as caught:
        parse_quantity("1 GBq", "activty", "rpt.activity")
    assert caught.value.field == "dimension"
    assert "activity" in caught.value.allowed


@pytest.mark.parametrize("bad", ["-7.4 GBq", "0 GBq", -1.0, 0, "nan GBq", float("nan")])
def test_parse_positive_rejects_negative_zero_and_nan(bad):
    with pytest.raises(InputError) as caught:
        parse_positive(bad, "activity", "rpt.activity")
    assert caught.value.field == "rpt.activity"
    assert caught.value.value is bad


def test_parse_positive_allows_zero_when_asked():
    assert parse_positive("0 GBq", "activity", "rpt.activity", allow_zero=True) == 0.0
    with pytest.raises(InputError, match="non-negative"):
        parse_positive("-1 GBq", "activity", "rpt.activity", allow_zero=True)


def test_parse_quantity_keeps_the_sign():
    # parse_quantity converts; only parse_positive judges the sign
    assert parse_quantity("-7.4 GBq", "activity") == -7400.0


@pytest.mark.parametrize("bad", ["banana", "", "   ", "7.4 bananas", "7.4 GBq GBq", "GBq 7.4 x", None, True, False, [7.4], {"value": 7.4}])
def test_garbage_rejected(bad):
    with pytest.raises(InputError) as caught:
        parse_quantity(bad, "activity", "rpt.activity")
    assert caught.value.field == "rpt.activity"
    assert "7.4 GBq" in str(caught.value)  # the message shows an example of what is allowed


@pytest.mark.parametrize("text", ["7.4 gbq", "200 MCI"])
def test_unit_symbols_are_case_sensitive(text):
    # mCi and MCi (mega-curie) differ by 10^9: a wrong case must not be guessed
    with pytest.raises(InputError):
        parse_quantity(text, "activity", "rpt.activity")


# --- defects found in review and fixed: each stays as a regression test -----------------------------

@pytest.mark.parametrize("text, expected", [("2e3 MBq", 2000.0), ("1.5E3 MBq", 1500.0), ("1e2 MBq", 100.0)])
def test_scientific_notation(text, expected):
    assert parse_quantity(text, "activity") == pytest.approx(expected)


def test_decimal_comma_is_not_read_as_ten_times_the_activity():
    with pytest.raises(InputError):
        parse_quantity("7,4 GBq", "activity", "rpt.activity")


def test_parse_positive_rejects_infinity():
    with pytest.raises(InputError):
        parse_positive("inf GBq", "activity", "rpt.activity")


def test_unit_without_number_rejected():
    with pytest.raises(InputError):
        parse_quantity("GBq", "activity", "rpt.activity")


def test_interval_error_shows_the_value_as_written():
    with pytest.raises(InputError) as caught:
        parse_interval("every 0 days", "ici.interval")
    assert caught.value.value == "every 0 days"


def test_numpy_integer_is_a_bare_number():
    assert parse_quantity(np.int64(7400), "activity") == 7400.0


def test_numbers_are_written_for_a_clinician():
    """Issue 19, item 6: 11,930 where the report printed 1.193e+04; 3 significant figures, no trailing zeros."""
    from rptici.units import format_number

    assert format_number(1.193e4) == "11,930" and format_number(1930.4) == "1,930" and format_number(6858.2) == "6,858"
    assert format_number(40.0) == "40" and format_number(0.919) == "0.919" and format_number(5.98) == "5.98"
    assert format_number(-5.98) == "−5.98" and format_number(2.5e9, 4) == "2,500,000,000"
    assert format_number(1.2e-5) == "0.000012" and format_number(None) == "–" and format_number(float("inf")) == "∞"
