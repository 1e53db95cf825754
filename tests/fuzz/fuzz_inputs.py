"""What the fuzz tests feed rptici: hostile values, valid documents to mutate, and the check that a refusal is clean.

A generated input is a valid document (an example scenario, a dosimetry dataset, a dashboard form) with one or two
mutations: a value replaced by a hostile one (a quantity with the wrong or no unit, 1e400, .inf, NaN, 10**400, text,
an empty string, None, a list, a mapping, bytes, a date), a key deleted, an unknown key added, or a key that is not
text. Every input must either load or raise :class:`rptici.errors.InputError` whose one-line message names the field,
the value and what is allowed (:func:`refused_cleanly`); any other exception fails the test with its traceback.
"""

from __future__ import annotations

import copy
import datetime
import functools
import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from rptici.errors import InputError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Every fuzz test: reproducible in CI (derandomize: the same inputs on every run), no per-example deadline (a
#: 2-core CI machine is slow and shared), no health check that fails a slow but correct run.
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                   HealthCheck.function_scoped_fixture])


#: How many inputs each fuzz test generates, as a multiple of its budget (``RPTICI_FUZZ_PROFILE``): ``ci`` (the default
#: and what CI runs: the budgets of the suite sum to at least :data:`SUITE_BUDGET`), ``quick`` (a tenth, for an
#: edit-and-test loop) and ``deep`` (ten times, for a long hunt).
FUZZ_PROFILES = {"quick": 0.1, "ci": 1.0, "deep": 10.0}

#: Issue 19, must show: at least 10,000 generated inputs across the suite within CI's budget.
SUITE_BUDGET = 10_000

#: Budget (``ci`` profile) of every fuzz test defined, and the inputs each has actually been given in this session
#: (counted where hypothesis calls the test body: generated examples that reached the test, not rejected draws).
BUDGETS: dict[str, int] = {}
GENERATED: Counter = Counter()


def fuzz_profile() -> str:
    name = os.environ.get("RPTICI_FUZZ_PROFILE", "ci")
    if name not in FUZZ_PROFILES:
        raise ValueError(f"RPTICI_FUZZ_PROFILE: got {name!r}; expected one of {', '.join(FUZZ_PROFILES)}")
    return name


def fuzz_settings(examples: int) -> Callable[[Callable], Callable]:
    """Hypothesis settings for a fuzz test of ``examples`` inputs (scaled by the profile), counting the inputs run."""
    scaled = max(1, round(examples * FUZZ_PROFILES[fuzz_profile()]))

    def decorate(test: Callable) -> Callable:
        test = settings(max_examples=scaled, **FUZZ)(test)
        name = f"{test.__module__}::{test.__name__}"
        BUDGETS[name] = examples
        inner = test.hypothesis.inner_test  # reassignable (hypothesis documents it for wrappers such as pytest-trio)

        @functools.wraps(inner)
        def counted(*args: Any, **kwargs: Any) -> Any:
            GENERATED[name] += 1
            return inner(*args, **kwargs)

        test.hypothesis.inner_test = counted
        return test

    return decorate


#: Longest message of a refusal: one readable line (issue 19, item 14: whole scenarios were printed in 750 characters).
MAX_MESSAGE_CHARACTERS = 600

UNITS = ("GBq", "MBq", "mCi", "kBq/kg", "GBq/m2", "MBq/kg", "mg", "mg/kg", "ug/mL", "mL/min", "mL/s", "m2", "cm2",
         "kg", "g", "mL", "mm", "cm", "Gy", "1/Gy", "d", "h", "min", "weeks", "months", "year", "ng/mL", "mg/dL",
         "1e9/L", "/nL", "furlongs", "%", "K", "Hz", "GBq GBq", "m**9999", "")
HOSTILE_TEXT = ("", " ", "abc", "7.4", "7,4 GBq", "1e400 GBq", "-7.4 GBq", "0 GBq", "inf GBq", "nan Gy", ".inf", "1 year",
                "q3w", "q0w", "q1e-9h", "every 0 days", "every week", "1.5 mL/s", "19000 cm2", "125 furlongs",
                "1.9 kg", "40 mg", "10**20", "\x00", "ü", "GBq", "7.4 GBq)", "(7.4 GBq", "1e-400 GBq", "true",
                "null", "~", "[1, 2]", "{a: 1}", "x" * 300, "1 " + "m*" * 50 + "m", "mcrpc", "Pluvicto",
                "pembrolizumab", "concurrent", "ici_first", "rpt_first", "kidney", "Lu-177")

numbers = st.one_of(st.integers(min_value=-10**6, max_value=10**6),
                    st.sampled_from([0, 1, -1, 2**31, 2**63, 2**64, 10**20, 10**400, -10**400]),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308, 5e-324, -0.0, 2.7, 0.5]))
number_text = st.one_of(numbers.map(str), st.sampled_from(["1e400", "-0", ".5", "1_000", "0x10", "1e", "--1", "+2"]))
quantity_text = st.builds(lambda number, space, unit: f"{number}{space}{unit}", number_text,
                          st.sampled_from(["", " ", "  "]), st.sampled_from(UNITS))
scalars = st.one_of(st.none(), st.booleans(), numbers, quantity_text, st.sampled_from(HOSTILE_TEXT),
                    st.text(max_size=12), st.binary(max_size=6),
                    st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31)))
keys = st.one_of(st.text(min_size=1, max_size=10), st.integers(-3, 3), st.none(), st.booleans(), st.just(1.5))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(keys, scalars, max_size=3),
                   st.lists(st.dictionaries(keys, scalars, max_size=2), max_size=2))  # two levels are enough, and cheap


def _locations(document: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every (container path, key or index) in a nested document."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield path, key
            yield from _locations(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield path, index
            yield from _locations(value, (*path, index))


def _containers(document: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(document, (dict, list)):
        yield path
        items = document.items() if isinstance(document, dict) else enumerate(document)
        for key, value in items:
            yield from _containers(value, (*path, key))


def _at(document: Any, path: tuple) -> Any:
    for key in path:
        document = document[key]
    return document


@st.composite
def mutated(draw: Callable, base: dict) -> dict:
    """``base`` with one or two mutations (see the module docstring)."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 2))):
        locations = list(_locations(document))
        kind = draw(st.sampled_from(("replace", "replace", "replace", "delete", "add", "key")))
        if kind in ("replace", "delete", "key") and locations:
            path, key = draw(st.sampled_from(locations))
            container = _at(document, path)
            if kind == "replace":
                container[key] = draw(values)
            elif kind == "delete":
                del container[key]
            elif isinstance(container, dict):  # the same value under a key that is not text (or another text)
                container[draw(keys)] = container.pop(key)
        else:
            container = _at(document, draw(st.sampled_from(list(_containers(document)))))
            if isinstance(container, dict):
                container[draw(keys)] = draw(values)
            else:
                container.append(draw(values))
    return document


def refused_cleanly(error: InputError) -> None:
    """An InputError a user can act on: one line naming the field, the value and what is allowed."""
    message = str(error)
    assert isinstance(error.field, str) and error.field.strip(), message
    assert error.allowed and isinstance(error.allowed, str), message
    assert message.startswith(f"{error.field}: got ") and "; expected " in message, message
    assert "\n" not in message, message
    assert len(message) <= MAX_MESSAGE_CHARACTERS, f"{len(message)} characters: {message}"
    assert "Traceback" not in message and "pydantic" not in message and "Input should be" not in message, message


def loads_or_refuses(load: Callable[[], Any]) -> Any:
    """``load()``'s result, or None when it raised a clean :class:`InputError`; any other exception propagates."""
    try:
        return load()
    except InputError as error:
        refused_cleanly(error)
        return None


def example(name: str) -> dict:
    """An example file of the repository as a mapping."""
    return yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))


def yaml_text(document: Any) -> str:
    """A document as YAML text (any value, with keys of any type)."""
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
