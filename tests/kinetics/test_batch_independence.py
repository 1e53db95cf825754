"""A patient's kinetics do not depend on the patients it is computed with (issue 19, item 13: organ doses differed in
their last bits between chunk sizes 400, 50 and 10). ``np.linalg.eig`` returns a whole batch as complex as soon as one
patient has a complex (oscillating) mode, and real eigenvectors inverted in complex arithmetic round differently; the
promise is bit-identity, so the test compares with ``np.array_equal``, not a tolerance."""

from __future__ import annotations

import numpy as np

from rptici.kinetics.compartments import Administration, CompartmentModel

COMPARTMENTS = ("blood", "a", "b", "urine")
LU177_DECAY_PER_DAY = np.log(2) / 6.647  # Lu-177 half-life 6.647 d (ICRP-107)


def _rates(patients: int, seed: int = 3) -> np.ndarray:
    """Exchange between blood, a and b with excretion to urine (real modes), except patient 0: a cycle
    blood -> a -> b -> blood, whose generator has a complex pair of eigenvalues."""
    rng = np.random.default_rng(seed)
    rates = np.zeros((patients, 4, 4))
    blood, a, b, urine = range(4)
    rates[:, a, blood] = rng.uniform(0.5, 3.0, patients)
    rates[:, blood, a] = rng.uniform(0.1, 1.0, patients)
    rates[:, b, blood] = rng.uniform(0.2, 2.0, patients)
    rates[:, blood, b] = rng.uniform(0.05, 0.5, patients)
    rates[:, urine, blood] = rng.uniform(0.5, 2.0, patients)
    rates[0] = 0.0
    rates[0, a, blood] = rates[0, b, a] = rates[0, blood, b] = 5.0
    rates[0, urine, blood] = 0.1
    return rates


def test_each_patient_alone_gives_its_batch_values_to_the_last_bit():
    rates = _rates(40)
    batch = CompartmentModel(COMPARTMENTS, rates, LU177_DECAY_PER_DAY, excretion=("urine",))
    assert np.iscomplexobj(np.linalg.eig(batch.generator())[1])  # the path that differed: a complex batch
    dose = [Administration(0.0, 7400.0), Administration(42.0, 7400.0)]
    times = np.array([0.1, 1.0, 4.0, 24.0, 45.0, 120.0])
    curves, integrals = batch.activity(times, dose), batch.time_integrated_activity(dose)
    for patient in range(1, 40):  # activity (patients, compartments, times), integrals (patients, compartments)
        alone = CompartmentModel(COMPARTMENTS, rates[patient:patient + 1], LU177_DECAY_PER_DAY, excretion=("urine",))
        assert np.array_equal(alone.activity(times, dose)[0], curves[patient]), patient
        assert np.array_equal(alone.time_integrated_activity(dose)[0], integrals[patient]), patient
