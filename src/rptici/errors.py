"""Errors that tell the user which input was wrong, what it was, and what is allowed."""

from __future__ import annotations

import difflib

import numpy as np


class RpticiError(Exception):
    """Base class of every error rptici raises on purpose."""


class InputError(RpticiError, ValueError):
    """A user-supplied value is wrong: the message names the field, the value and what is allowed."""

    def __init__(self, field: str, value: object, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field}: got {shown(value)}; expected {allowed}")


#: Longest value an error message repeats in full; a longer one is cut, so that the message stays one readable line.
SHOWN_CHARACTERS = 80


def shown(value: object) -> str:
    """``repr(value)``, cut to :data:`SHOWN_CHARACTERS` with its length when longer, and on one line."""
    text = repr(value).replace("\n", "\\n")
    if len(text) <= SHOWN_CHARACTERS:
        return text
    return f"{text[:SHOWN_CHARACTERS - 20]}… ({len(text)} characters)"


class UnknownNameError(InputError, KeyError):
    """A nuclide, agent, tissue or region that rptici does not know."""

    def __init__(self, field: str, value: object, known: list[str] | tuple[str, ...]):
        if len(known) <= 20:
            allowed = "one of " + ", ".join(sorted(known))
        else:
            close = difflib.get_close_matches(str(value), list(known), n=5, cutoff=0.5)
            allowed = f"one of {len(known)} known names" + (f" (closest: {', '.join(close)})" if close else "")
        super().__init__(field, value, allowed)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def checked_array(value: object, field: str, *, positive: bool = False, allow_infinite: bool = False,
                  allowed: str | None = None) -> np.ndarray:
    """``value`` as a float array whose entries are finite and ≥ 0 (> 0 when ``positive``; +inf allowed when
    ``allow_infinite``); otherwise :class:`InputError` naming ``field`` and saying what is allowed."""
    description = allowed or (("positive" if positive else "non-negative") + " finite value(s)"
                              + (" or inf" if allow_infinite else ""))
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(field, value, description) from None
    finite = np.isfinite(array) | (allow_infinite & np.isposinf(array))
    if not np.all(finite) or np.any(array < 0) or (positive and np.any(array == 0)):
        raise InputError(field, value, description)
    return array
