"""Normal-tissue complication probability: the Lyman–Kutcher–Burman (LKB) model.

NTCP = Φ(t), t = (D_eff − TD50)/(m·TD50), with D_eff the generalised EUD (Σ v_i D_i^{1/n})^n of the
organ's dose distribution (Lyman 1985 Radiat Res Suppl 8:S13; Kutcher & Burman 1989 IJROBP 16:1623;
Burman et al. 1991 IJROBP 21:123).

Which dose enters is a property of the parameter set: TD50 values fitted to external-beam data in
2-Gy fractions (Emami/Burman 1991, QUANTEC 2010) are compared with EQD2; a TD50 given in BED is
compared with BED. :func:`ntcp_for_tissue` converts the voxel BEDs accordingly, using the tissue's α/β.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from ..errors import InputError, checked_array
from .bed import eqd2, geud
from .tissues import Tissue



def ntcp_lkb(eud_or_dose: ArrayLike, td50: ArrayLike, m: ArrayLike) -> NDArray[np.float64]:
    """LKB NTCP = Φ((D − TD50)/(m·TD50)), Φ the standard normal CDF (Lyman 1985; Burman 1991).

    ``eud_or_dose`` is the (generalised EUD of the) dose in the same quantity as ``td50`` (Gy EQD2 or BED).
    """
    dose = np.asarray(eud_or_dose, dtype=float)
    if not np.all(np.isfinite(dose)) or np.any(dose < 0):
        raise InputError("eud_or_dose", eud_or_dose, "non-negative finite dose(s) in Gy")
    td50 = checked_array(td50, "td50", positive=True)
    m = checked_array(m, "m", positive=True)
    return ndtr((dose - td50) / (m * td50))


def ntcp_for_tissue(tissue: Tissue, bed: ArrayLike, volumes: ArrayLike | None = None) -> NDArray[np.float64]:
    """NTCP of an organ from its voxel/region BEDs (last axis; a single value is a uniform dose).

    The BEDs are turned into the quantity of the tissue's TD50 (EQD2 with the tissue's α/β, or BED),
    reduced to the gEUD with a = 1/n, and passed to :func:`ntcp_lkb`.
    """
    if tissue.ntcp is None:
        raise InputError("tissue", tissue.name, "a tissue with LKB parameters (ntcp) in tissues.yaml")
    parameters = tissue.ntcp
    values = np.asarray(bed, dtype=float)
    if values.ndim == 0:
        values = values[None]
    if parameters.quantity == "eqd2":
        values = eqd2(values, tissue.alpha_beta)
    effective = geud(values, volumes, 1.0 / parameters.n)
    return ntcp_lkb(effective, parameters.td50, parameters.m)
