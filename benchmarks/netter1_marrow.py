"""NETTER-1 red-marrow dose: self-dose only versus self + phantom photon cross-dose (issue 16 item 0).

Samples the NETTER-1-like trial's Lu-DOTATATE population (examples/trials/netter1_like.yaml, its seed, the default
calibration's population options) and computes the red-marrow absorbed dose of 4 x 7.4 GBq with the regimen
calculator both ways, split by where the marrow dose comes from. Literature for comparison: about 1.3 Gy for four
cycles (Sandstrom et al. 2013 J Nucl Med 54:33; Garske-Roman et al. 2018 Eur J Nucl Med Mol Imaging 45:970).

    PYTHONPATH=src python benchmarks/netter1_marrow.py
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rptici.kinetics.biokinetics import Covariates

from rptici.kinetics.regimen import load_regimen
from rptici.radiobiology.regimen_dose import regimen_dose
from rptici.trials.run import calibrated_population
from rptici.trials.scenario import load_calibration, load_trial_scenario


def main() -> None:
    scenario = load_trial_scenario("examples/trials/netter1_like.yaml")
    population = calibrated_population(scenario, scenario.patients, scenario.seed, load_calibration())
    regimen = load_regimen(scenario.arms[1].regimen)
    covariates = population.kinetic_covariates()
    sex = "male"
    self_only = regimen_dose(regimen, covariates, times=np.array([0.0]), antibody=False, cross_dose=False)
    cross = regimen_dose(regimen, covariates, times=np.array([0.0]), antibody=False, cross_dose=True, sex=sex)
    column = self_only.targets.index("red_marrow")
    a, b = self_only.absorbed_dose_Gy[:, column], cross.absorbed_dose_Gy[:, column]
    print(f"patients {len(a)}; red marrow, 4 x 7.4 GBq Lu-DOTATATE")
    for name, values in (("self-dose only", a), ("self + photon cross-dose", b)):
        low, median, high = np.percentile(values, [5, 50, 95])
        print(f"  {name:26s} median {median:.3f} Gy (5-95 %: {low:.3f}-{high:.3f})")
    print(f"  cross-dose share of the median patient: {100 * np.median((b - a) / b):.1f} %")
    # where the marrow dose comes from: time-integrated activity per compartment of the median patient
    reference = regimen_dose(regimen, None, times=np.array([0.0]), antibody=False, cross_dose=False)
    print(f"  reference adult (73 kg, no lesions): self {reference.absorbed_dose_Gy[0, column]:.3f} Gy")
    weights = np.asarray(covariates.weight_kg)
    uptake = np.asarray(covariates.target_uptake_scale)
    gfr = np.asarray(covariates.gfr_mL_per_min)
    for label, values in (("weight (kg)", weights), ("target uptake scale", uptake), ("GFR (mL/min)", gfr),
                          ("lesion mass total (g)", np.nansum(covariates.lesion_masses_g, axis=1))):
        print(f"  population {label:24s} median {np.median(values):.3g} (5-95 %: "
              f"{np.percentile(values, 5):.3g}-{np.percentile(values, 95):.3g})")
    print(f"  marrow dose (self) of the lowest / highest GFR tertile: "
          f"{np.median(a[gfr <= np.percentile(gfr, 33)]):.2f} / {np.median(a[gfr >= np.percentile(gfr, 67)]):.2f} Gy")
    base = Covariates.reference("male")
    for value in (125.0, float(np.median(gfr))):
        patient = dataclasses.replace(base, gfr_mL_per_min=np.array([value]))
        dose = regimen_dose(regimen, patient, times=np.array([0.0]), antibody=False, cross_dose=False)
        print(f"  reference adult at GFR {value:.1f} mL/min: self {dose.absorbed_dose_Gy[0, column]:.3f} Gy")


if __name__ == "__main__":
    main()
