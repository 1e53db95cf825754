"""Benchmark: dose, BED and checkpoint occupancy for 100,000 patients over a 6-cycle regimen.

Regimen: Pluvicto 6 x 7.4 GBq q6w + pembrolizumab 200 mg q3w (35 infusions, 30 min), concurrent; the reference
patient of examples/scenarios/pluvicto_pembrolizumab.yaml with covariates sampled around it (weight, BSA, GFR,
target uptake, two lesion masses). Output: weekly activity, dose rate and cumulative dose, total dose, BED and
limits per organ and lesion, weekly occupancy, trough and mean occupancy.

The vectorised closed form (rptici.radiobiology.regimen_dose, chunks of 10,000 patients) is compared with a
per-patient scipy.integrate.solve_ivp (LSODA, rtol 1e-6) loop of the same equations — compartments, antibody
two-compartment model, dose accumulators and the incomplete-repair BED integrals — integrated piecewise between
dosing events on a sample of patients, timed in the same run and scaled per patient.

    python benchmarks/bench_regimen_dose.py [--patients 100000] [--sample 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

from rptici.dosimetry.dose_rate import s_value_matrix
from rptici.kinetics.antibody import antibody_model
from rptici.kinetics.biokinetics import agent_parameters, biokinetic_model
from rptici.kinetics.occupancy import occupancy
from rptici.radiobiology import tissue
from rptici.radiobiology.lq import repair_rate
from rptici.radiobiology.regimen_dose import (Covariates, _tissue_name, load_scenario, regimen_dose, sample_cohort,
                                              target_masses)

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "scenarios" / "pluvicto_pembrolizumab.yaml"
CHUNK = 10_000


def cohort(patients: int, seed: int) -> Covariates:
    scenario = load_scenario(SCENARIO)
    sampled = sample_cohort(scenario.patient.kinetic_covariates(), patients, seed, scenario.sigmas)
    keep = slice(1, None)
    return Covariates(sampled.weight_kg[keep], sampled.bsa_m2[keep], sampled.gfr_mL_per_min[keep],
                      sampled.target_uptake_scale[keep], sampled.lesion_masses_g[keep])


def subset(covariates: Covariates, rows: slice) -> Covariates:
    return Covariates(covariates.weight_kg[rows], covariates.bsa_m2[rows], covariates.gfr_mL_per_min[rows],
                      covariates.target_uptake_scale[rows], covariates.lesion_masses_g[rows])


def vectorised(regimen, covariates: Covariates, times: np.ndarray) -> dict[str, np.ndarray]:
    """All patients in chunks; keep per-patient endpoints (trajectories are dropped after each chunk)."""
    kept = {"dose": [], "bed": [], "trough": [], "mean_occupancy": []}
    for start in range(0, covariates.patients, CHUNK):
        result = regimen_dose(regimen, subset(covariates, slice(start, start + CHUNK)), times)
        kept["dose"].append(result.absorbed_dose_Gy)
        kept["bed"].append(result.bed_Gy)
        kept["trough"].append(result.trough_occupancy)
        kept["mean_occupancy"].append(result.mean_occupancy)
    return {key: np.concatenate(value) for key, value in kept.items()}


def per_patient_solve_ivp(regimen, covariates: Covariates, times: np.ndarray) -> dict[str, np.ndarray]:
    """The same equations as one ODE per patient: A' = (K − λ)A; D' = S A; Γ' = Ḋ − μΓ; Q' = ḊΓ (BED = D + 2Q/(α/β),
    cycles not separated: the exact history); antibody A1' = R − (CL+Q)/V1 A1 + Q/V2 A2, A2' = Q/V1 A1 − Q/V2 A2."""
    agent = regimen.rpt.radiopharmaceutical.name
    model = biokinetic_model(agent, covariates)
    nuclide = agent_parameters(agent)["nuclide"]
    targets, s_matrix, _ = s_value_matrix(model, nuclide, target_masses(agent, covariates, model.compartments))
    s_matrix = s_matrix * 24.0 / 1000.0  # Gy/d per MBq
    tissues = [tissue(_tissue_name(target)) for target in targets]
    mu = repair_rate(np.array([item.repair_half_time for item in tissues]))
    alpha_beta = np.array([item.alpha_beta for item in tissues])
    generator = model.generator() - model.decay_constant_per_day * np.eye(len(model.compartments))
    antibody = antibody_model(regimen.ici.agent).parameters(covariates.weight_kg)
    rpt_times, activities = regimen.rpt_administrations(covariates.weight_kg, covariates.bsa_m2)
    infusion_times, doses = regimen.ici_infusions(covariates.weight_kg)
    duration = regimen.ici.infusion_days
    n, t = len(model.compartments), len(targets)
    breaks = np.unique(np.concatenate([[0.0], rpt_times, infusion_times, infusion_times + duration, [times[-1]]]))
    results = {"dose": [], "bed": [], "trough": []}
    for patient in range(covariates.patients):
        matrix, s_patient = generator[patient], s_matrix[patient]
        k10 = antibody.clearance[patient] / antibody.central_volume[patient]
        k12 = antibody.intercompartmental_clearance[patient] / antibody.central_volume[patient]
        k21 = antibody.intercompartmental_clearance[patient] / antibody.peripheral_volume[patient]

        def derivative(_time, state, rate):
            activity = state[:n]
            dose_rate = s_patient @ activity
            damage = state[n + t:n + 2 * t]
            central, peripheral = state[-2], state[-1]
            return np.concatenate([matrix @ activity, dose_rate, dose_rate - mu * damage, dose_rate * damage,
                                   [rate - (k10 + k12) * central + k21 * peripheral, k12 * central - k21 * peripheral]])

        state = np.zeros(n + 3 * t + 2)
        troughs = []
        for begin, end in zip(breaks[:-1], breaks[1:]):
            state[0] += activities[np.isclose(rpt_times, begin), patient].sum()
            if np.any(np.isclose(infusion_times, begin)):
                troughs.append(state[-2] / antibody.central_volume[patient])
            running = np.any((infusion_times <= begin + 1e-12) & (begin + 1e-12 < infusion_times + duration))
            rate = doses[0, patient] / duration if running else 0.0
            if end > begin:
                solution = solve_ivp(derivative, (begin, end), state, method="LSODA", rtol=1e-6, atol=1e-9,
                                     args=(rate,), t_eval=np.append(times[(times >= begin) & (times < end)], end))
                state = solution.y[:, -1].copy()
        dose = state[n:n + t]
        results["dose"].append(dose)
        results["bed"].append(dose + 2 * state[n + 2 * t:n + 3 * t] / alpha_beta)
        results["trough"].append(occupancy(np.array(troughs[1:]), regimen.ici.agent).min())
    return {key: np.array(value) for key, value in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    regimen = load_scenario(SCENARIO).regimen
    covariates = cohort(arguments.patients, seed=2024)
    times = np.arange(0.0, 35 * 21 + 21 + 1, 7.0)
    rows = []
    for repeat in range(arguments.repeats):
        tracemalloc.start()
        began = time.perf_counter()
        fast = vectorised(regimen, covariates, times)
        wall = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sample = subset(covariates, slice(0, arguments.sample))
        began = time.perf_counter()
        slow = per_patient_solve_ivp(regimen, sample, times)
        slow_wall = time.perf_counter() - began
        per_fast, per_slow = wall / arguments.patients, slow_wall / arguments.sample
        agreement = np.max(np.abs(slow["dose"] - fast["dose"][:arguments.sample]) / fast["dose"][:arguments.sample])
        bed_agreement = np.max(np.abs(slow["bed"] - fast["bed"][:arguments.sample]) / fast["bed"][:arguments.sample])
        trough = np.max(np.abs(slow["trough"] - fast["trough"][:arguments.sample]))
        rows.append((wall, peak / 2**20, per_fast * 1e6, per_slow * 1e3, per_slow / per_fast, agreement, bed_agreement, trough))
        print(f"run {repeat + 1}: vectorised {arguments.patients} patients {wall:.2f} s "
              f"(tracemalloc peak {peak / 2**20:.0f} MiB, {per_fast * 1e6:.1f} us/patient); "
              f"solve_ivp loop {arguments.sample} patients {slow_wall:.2f} s ({per_slow * 1e3:.1f} ms/patient); "
              f"ratio {per_slow / per_fast:.0f}x; max relative difference dose {agreement:.1e}, BED {bed_agreement:.1e}, "
              f"trough occupancy {trough:.1e}", flush=True)
    medians = [statistics.median(column) for column in zip(*rows)]
    print(f"median of {arguments.repeats}: wall {medians[0]:.2f} s for {arguments.patients} patients, "
          f"tracemalloc peak {medians[1]:.0f} MiB, ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
          f"{medians[2]:.1f} us/patient vs solve_ivp {medians[3]:.1f} ms/patient: ratio {medians[4]:.0f}x; "
          f"agreement dose {medians[5]:.1e}, BED {medians[6]:.1e}, trough {medians[7]:.1e}")
    print(f"endpoints: kidney BED median {np.median(fast['bed'][:, 0]):.1f} Gy; trough occupancy median "
          f"{np.median(fast['trough']):.3f}, 5th percentile {np.percentile(fast['trough'], 5):.3f}")


if __name__ == "__main__":
    main()
