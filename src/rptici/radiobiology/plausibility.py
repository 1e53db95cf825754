"""Doses beyond any clinical range: said as a warning beside the number (issue 19, item 14), never an error (a
research scenario may ask for them on purpose), so that a unit slip or a wrong mass does not pass unnoticed.

The bounds are assumptions, set well above what RPT delivers in the clinic: lesion absorbed doses stay in the
hundreds of Gy even over six cycles; organs at risk are held to BED limits of a few tens of Gy (kidneys 28–40 Gy,
``data/tissues.yaml``), and the small glands without a limit reach about 150 Gy BED (lacrimal glands, six cycles
of 7.4 GBq Lu-PSMA-617 in this model); the red marrow is held to about 2 Gy. A value above these bounds means the
input or the scenario is far outside practice.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

#: Lesion absorbed dose (Gy) above which a result is beyond any clinical range (assumption).
LESION_DOSE_GY = 1000.0
#: Organ-at-risk BED (Gy) above which a result is beyond any clinical range (assumption).
ORGAN_BED_GY = 500.0
#: Red-marrow absorbed dose (Gy) above which a result is beyond any clinical range (assumption).
MARROW_DOSE_GY = 10.0

_MARROW = ("red_marrow", "marrow")


def beyond_clinical_range(region: str, dose_Gy: float | None = None, bed_Gy: float | None = None,
                          tissue: str | None = None) -> str | None:
    """A one-line warning when ``region``'s dose (lesions, red marrow) or BED (other organs; their dose when no
    BED is given) lies beyond any clinical range, else None. ``tissue`` (``tumour``, ``red_marrow``, an organ's)
    says what the region is; without it, the name does (``lesion…``, ``red_marrow``)."""
    if tissue == "tumour" or (tissue is None and region.startswith("lesion")):
        value, bound, quantity = dose_Gy, LESION_DOSE_GY, "absorbed dose"
    elif tissue in _MARROW or (tissue is None and region in _MARROW):
        value, bound, quantity = dose_Gy, MARROW_DOSE_GY, "absorbed dose"
    elif bed_Gy is not None:
        value, bound, quantity = bed_Gy, ORGAN_BED_GY, "BED"
    else:
        value, bound, quantity = dose_Gy, ORGAN_BED_GY, "absorbed dose"
    if value is None or not math.isfinite(float(value)) or float(value) <= bound:
        return None
    return (f"{region.replace('_', ' ')} {quantity} {float(value):,.0f} Gy is beyond any clinical range "
            f"(above {bound:,.0f} Gy): check the activity, its unit and the masses")


def region_warnings(regions: Mapping[str, Mapping[str, Any]], prefix: str = "") -> list[str]:
    """The warnings of a summary's ``regions`` (name → ``rbe_weighted_dose_Gy``, ``bed_Gy``, ``tissue``), each
    line starting with ``prefix``."""
    lines = (beyond_clinical_range(region, values.get("rbe_weighted_dose_Gy"), values.get("bed_Gy"),
                                   values.get("tissue")) for region, values in regions.items())
    return [prefix + line for line in lines if line is not None]
