"""Absorbed dose by the MIRD schema: D(target) = Σ_sources Ã(source) · S(target ← source).

Ã in MBq h, S in mGy/(MBq h), D in Gy (Bolch et al. 2009, MIRD Pamphlet 21). S-values keep their
split by radiation type so that α doses can be weighted by an RBE (Sgouros et al. 2010, MIRD
Pamphlet 22): D_RBE = RBE·D_α + D_electron + D_photon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import constants

from ..data import load_yaml
from ..errors import InputError

#: Joules per MeV (exact SI value of the electronvolt).
JOULE_PER_MEV = 1e6 * constants.electron_volt
#: Decays in 1 MBq h: 10⁶ s⁻¹ × 3600 s.
DECAYS_PER_MBQ_H = 1e6 * constants.hour
#: Decays in 1 MBq s.
DECAYS_PER_MBQ_S = 1e6
#: mGy per Gy, and g per kg.
MGY_PER_GY = 1e3
GRAM_PER_KILOGRAM = 1e3

#: Dose to 1 g from 1 MeV per decay deposited there, per MBq h of decays: 576.78 mGy g/(MBq h)
#: (the 576.7 of the MIRD literature, e.g. Stabin 2008, Fundamentals of Nuclear Medicine Dosimetry).
ENERGY_TO_DOSE_MGY_G_PER_MBQ_H = JOULE_PER_MEV * DECAYS_PER_MBQ_H * GRAM_PER_KILOGRAM * MGY_PER_GY
#: The same per MBq s: 0.1602 mGy g/(MBq s).
ENERGY_TO_DOSE_MGY_G_PER_MBQ_S = JOULE_PER_MEV * DECAYS_PER_MBQ_S * GRAM_PER_KILOGRAM * MGY_PER_GY


@dataclass(frozen=True)
class _ByRadiation:
    """Three components by radiation type (α, electrons, photons); each may be a NumPy array."""

    alpha: float | np.ndarray = 0.0
    electron: float | np.ndarray = 0.0
    photon: float | np.ndarray = 0.0

    @property
    def total(self) -> float | np.ndarray:
        return self.alpha + self.electron + self.photon

    def rbe_weighted(self, rbe: float | None = None) -> float | np.ndarray:
        """RBE·α + electron + photon; RBE defaults to the data file's (MIRD Pamphlet 22)."""
        return check_rbe(rbe) * self.alpha + self.electron + self.photon

    def __add__(self, other: "_ByRadiation") -> "_ByRadiation":
        return type(self)(self.alpha + other.alpha, self.electron + other.electron, self.photon + other.photon)


class SValue(_ByRadiation):
    """An S-value split by radiation type, in mGy/(MBq h)."""


class AbsorbedDose(_ByRadiation):
    """Absorbed dose split by radiation type, in Gy (``rbe_weighted``: Gy (RBE))."""


def default_alpha_rbe() -> float:
    """Default RBE of α particles (``data/absorbed_fractions.yaml``, MIRD Pamphlet 22)."""
    return float(load_yaml("absorbed_fractions.yaml")["radiation_weighting"]["alpha_rbe_default"])


def check_rbe(rbe: float | None) -> float:
    """``rbe`` as a positive finite float (None: :func:`default_alpha_rbe`); NaN, inf, 0 or text: InputError."""
    if rbe is None:
        return default_alpha_rbe()
    if isinstance(rbe, bool) or not isinstance(rbe, (int, float, np.floating, np.integer)) or not np.isfinite(rbe) or rbe <= 0:
        raise InputError("rbe", rbe, "a positive, finite relative biological effectiveness (default 5 for α)")
    return float(rbe)


def _check_tia(tia_MBq_h: float | np.ndarray) -> np.ndarray:
    try:
        tia = np.asarray(tia_MBq_h, dtype=float)
    except (TypeError, ValueError):
        raise InputError("time_integrated_activity", tia_MBq_h, "a non-negative number or array in MBq h") from None
    if not np.all(np.isfinite(tia)) or np.any(tia < 0):
        raise InputError("time_integrated_activity", tia_MBq_h, "a non-negative, finite number or array in MBq h")
    return tia


def _scalar_or_array(values: np.ndarray) -> float | np.ndarray:
    return float(values) if np.ndim(values) == 0 else values


def absorbed_dose_components(tia_MBq_h: float | np.ndarray, s_value: SValue) -> AbsorbedDose:
    """D = Ã·S by radiation type (Gy), for Ã in MBq h and S in mGy/(MBq h); broadcasts over arrays."""
    tia = _check_tia(tia_MBq_h)
    if not isinstance(s_value, SValue):
        raise InputError("s_value", s_value, "an SValue (use absorbed_dose for a plain number)")
    return AbsorbedDose(*(_scalar_or_array(tia * np.asarray(component) / MGY_PER_GY)
                          for component in (s_value.alpha, s_value.electron, s_value.photon)))


def absorbed_dose(tia_MBq_h: float | np.ndarray, s_value: SValue | float | np.ndarray) -> float | np.ndarray:
    """Absorbed dose D = Ã·S in Gy (MIRD schema, one source); S an :class:`SValue` or mGy/(MBq h)."""
    if isinstance(s_value, SValue):
        return absorbed_dose_components(tia_MBq_h, s_value).total
    tia = _check_tia(tia_MBq_h)
    s = np.asarray(s_value, dtype=float)
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise InputError("s_value", s_value, "a non-negative S-value in mGy/(MBq h)")
    return _scalar_or_array(tia * s / MGY_PER_GY)


def rbe_weighted_dose(tia_MBq_h: float | np.ndarray, s_value: SValue, rbe: float | None = None) -> float | np.ndarray:
    """RBE-weighted dose D_RBE = RBE·D_α + D_electron + D_photon in Gy (MIRD Pamphlet 22); RBE default 5."""
    return absorbed_dose_components(tia_MBq_h, s_value).rbe_weighted(rbe)
