"""Regenerate the example [177Lu]Lu-DOTATATE patient (examples/lu177_dotatate_patient.csv).

A synthetic patient, not a real one: activities at the SPECT/CT time points of a clinical protocol,
computed from sums of exponentials with published-range kinetics and multiplied by lognormal noise
(coefficient of variation about 7 %, fixed seed). See examples/README.md for the sources.

    python examples/make_lu177_dotatate_patient.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

ADMINISTERED_MBQ = 7400.0
LU177_HALF_LIFE_H = 6.647 * 24  # ICRP-107
IMAGING_TIMES_H = (1.0, 4.0, 24.0, 48.0, 96.0, 168.0)
NOISE_SIGMA = 0.07  # sigma of ln(activity): multiplicative lognormal noise, CV ~ 7 %
SEED = 177

# region: (washout components as (% of administered activity, effective half-life h), uptake half-life h)
KINETICS: dict[str, tuple[list[tuple[float, float]], float]] = {
    "kidneys": ([(1.0, 3.0), (2.0, 55.0)], 0.5),
    "liver": ([(5.0, 75.0)], 1.0),
    "spleen": ([(1.8, 70.0)], 1.0),
    "lesion-1": ([(0.80, 90.0)], 6.0),
    "lesion-2": ([(0.18, 75.0)], 4.0),
}
MASSES_G = {"kidneys": 310.0, "liver": 1800.0, "spleen": 150.0, "lesion-1": 25.0, "lesion-2": 8.0}


def activity_mbq(region: str, hours: np.ndarray) -> np.ndarray:
    """True activity (MBq, not decay-corrected): Σ Ai e^(-λi t) − (Σ Ai) e^(-λu t)."""
    components, uptake_half_life = KINETICS[region]
    total = np.zeros_like(hours, dtype=float)
    amplitude_sum = 0.0
    for percent, half_life in components:
        amplitude = percent / 100.0 * ADMINISTERED_MBQ
        total += amplitude * np.exp(-math.log(2) / half_life * hours)
        amplitude_sum += amplitude
    return total - amplitude_sum * np.exp(-math.log(2) / uptake_half_life * hours)


def true_tia_mbq_h(region: str) -> float:
    """∫₀^∞ of :func:`activity_mbq` (MBq h)."""
    components, uptake_half_life = KINETICS[region]
    amplitudes = [percent / 100.0 * ADMINISTERED_MBQ for percent, _ in components]
    tia = sum(a * half_life / math.log(2) for a, (_, half_life) in zip(amplitudes, components))
    return tia - sum(amplitudes) * uptake_half_life / math.log(2)


def main() -> None:
    for region, (components, _) in KINETICS.items():
        for _, half_life in components:
            assert half_life <= LU177_HALF_LIFE_H, f"{region}: clearance slower than physical decay"
    generator = np.random.default_rng(SEED)
    hours = np.array(IMAGING_TIMES_H)
    lines = [
        "# Synthetic [177Lu]Lu-DOTATATE patient, 7.4 GBq; activities measured (not decay-corrected).",
        "# Made by examples/make_lu177_dotatate_patient.py: published-range kinetics (examples/README.md),",
        f"# multiplicative lognormal noise sigma={NOISE_SIGMA} (CV ~7 %), numpy default_rng({SEED}).",
        "region,time [h],activity [MBq]",
    ]
    for region in KINETICS:
        noisy = activity_mbq(region, hours) * generator.lognormal(0.0, NOISE_SIGMA, hours.size)
        lines += [f"{region},{hour:g},{value:.2f}" for hour, value in zip(hours, noisy)]
    target = Path(__file__).with_name("lu177_dotatate_patient.csv")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    local_mev = 0.14792  # electron energy per decay of Lu-177 (ICRP-107), deposited locally
    for region in KINETICS:
        tia = true_tia_mbq_h(region)
        self_dose = tia * local_mev * 576.7 / MASSES_G[region] / 1000.0  # Gy, electrons only
        print(f"{region:9s} true TIA {tia:9.0f} MBq h  electron self-dose {self_dose / ADMINISTERED_MBQ * 1000:.2f} Gy/GBq")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
