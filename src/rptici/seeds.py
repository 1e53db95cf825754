"""The seed tree: every random stream of rptici is derived here from the user's one root seed.

::

    root seed s (an integer >= 0)
    ├── design(s)                 SeedSequence(s)                    population's quasi-random design (all patients)
    ├── separate_design(s)        SeedSequence(s·0x10000 + 0x10B)    covariates sampled apart from the design
    ├── allocation(s)             SeedSequence([s, 0xA110C])         trial arms: permutation of the per-arm counts
    ├── lesion_design(s)          SeedSequence([s, 0x1E5])           each lesion's site and target expression
    ├── selection(s)              SeedSequence(s).spawn(2)           virtual-patient selection: kernel, acceptance
    ├── weighting(s)              SeedSequence([s, 0x3E16])          systematic resampling of a weighted cohort
    ├── ensemble_member(s, j)     SeedSequence([s, 0xE45, j])        root seed of calibration-ensemble member j's trial
    └── patient(s, i)             SeedSequence(s, spawn_key=(i,))    everything drawn for patient i afterwards
                                                                     (trial uniforms, a dose cohort's spread)

``patient(s, i)`` equals ``SeedSequence(s).spawn(n)[i]`` for any n > i, so patient i's draws depend on (s, i)
only, never on the cohort size, the chunking or the executor. The other derivations are kept as they were
recorded (the golden outputs); they are defined once, here, so no other module builds a seed.
``selection`` shares spawn keys (0,) and (1,) with patients 0 and 1; the selection is a separate run, so
the two never meet in one computation.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

#: Entropy word of the stream of the covariates sampled apart from the main design.
SEPARATE_STREAM = 0x10B
#: Second entropy word of the trial's allocation stream.
ALLOCATION_STREAM = 0xA110C
#: Second entropy word of the stream of each lesion's site and target expression.
LESION_STREAM = 0x1E5
#: Second entropy word of the root seeds of the calibration ensemble's virtual trials.
ENSEMBLE_STREAM = 0xE45
#: Second entropy word of the stream of the systematic resampling of a weighted cohort.
WEIGHTING_STREAM = 0x3E16
#: Second entropy word of each patient's dosimetry measurement error (guided dosing).
DOSIMETRY_STREAM = 0xD05E


def check_seed(seed: object, field: str = "seed") -> int:
    """``seed`` as an int, or InputError: a root seed is a whole number >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(field, seed, "a whole number >= 0")
    return int(seed)


def design(seed: int) -> np.random.Generator:
    """Generator of the population's quasi-random design."""
    return np.random.default_rng(np.random.SeedSequence(check_seed(seed)))


def separate_design(seed: int) -> np.random.Generator:
    """Generator of the covariates sampled apart from the main design (``low_uptake_fraction``)."""
    return design(check_seed(seed) * 0x10000 + SEPARATE_STREAM)


def lesion_design(seed: int) -> np.random.Generator:
    """Generator of each lesion's site and target expression (apart from the main design, so that adding them
    changed no other draw)."""
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), LESION_STREAM]))


def allocation(seed: int) -> np.random.Generator:
    """Generator of a trial's arm allocation."""
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), ALLOCATION_STREAM]))


def ensemble_member(seed: int, member: int) -> int:
    """Root seed of the virtual trial of calibration-ensemble member ``member`` (a prediction interval draws new
    patients for every member, so that it holds the sampling spread of a trial as well as the parameters')."""
    return int(np.random.SeedSequence([check_seed(seed), ENSEMBLE_STREAM, int(member)]).generate_state(1)[0])


def weighting(seed: int) -> np.random.Generator:
    """Generator of the systematic resampling of a weighted cohort (:func:`rptici.population.weighting`)."""
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), WEIGHTING_STREAM]))


def selection(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(kernel, acceptance) generators of the virtual-patient selection."""
    kernel, accept = np.random.SeedSequence(check_seed(seed)).spawn(2)
    return np.random.default_rng(kernel), np.random.default_rng(accept)


def patient_sequences(seed: int | None, start: int, stop: int) -> list[np.random.SeedSequence]:
    """Seed sequences of patients ``start .. stop-1`` (``SeedSequence(seed, spawn_key=(i,))``); seed None:
    fresh entropy (not reproducible)."""
    if seed is not None:
        seed = check_seed(seed)
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(name, value, "a whole number >= 0")
    if stop < start:
        raise InputError("stop", stop, f"a whole number >= start ({start})")
    root = np.random.SeedSequence(seed)
    return [np.random.SeedSequence(root.entropy, spawn_key=(index,)) for index in range(start, stop)]


def patients(seed: int | None, start: int, stop: int) -> list[np.random.Generator]:
    """One generator per patient ``start .. stop-1``, each from its own seed sequence."""
    return [np.random.default_rng(sequence) for sequence in patient_sequences(seed, start, stop)]


def dosimetry_normals(seed: int, patient_keys: "list[int]") -> np.ndarray:
    """One standard normal per patient, from ``SeedSequence([seed, DOSIMETRY_STREAM, key])``: a patient's key (a
    function of the patient, not of their place in a batch) gives the same draw in every batch and every caller."""
    seed = check_seed(seed)
    return np.array([np.random.default_rng(np.random.SeedSequence([seed, DOSIMETRY_STREAM, int(key)])).standard_normal()
                     for key in patient_keys], dtype=float)
