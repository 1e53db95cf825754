"""Partial-volume correction (GTM) and dose/DVH uncertainty on the phantom, against analytic truth."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import chi

from rptici.errors import InputError
from rptici.imaging import load_study, run_study, write_outputs
from rptici.imaging.pvc import FWHM_TO_SIGMA, blur, sphere_recovery_coefficient, transfer_matrix

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_phantom_study", ROOT / "examples/imaging/make_phantom_study.py")
phantom = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phantom)
SHAPE = (40, 40, 30)
#: The phantom's kidney TIA from its kinetics (make_phantom_study.KINETICS): Σ f·A·T_eff/ln 2, 7.4 GBq, MBq h.
KIDNEY_TIA = (0.012 * 0.4 + 0.015 * 2.2) * 7400 / math.log(2) * 24
LESION_TIA = {"lesion_1": 0.006 * 7400 * 3.5 / math.log(2) * 24, "lesion_2": 0.0025 * 7400 * 3.5 / math.log(2) * 24}


def _study(folder: Path, **extra) -> object:
    document = yaml.safe_load((folder / "study.yaml").read_text())
    document.update(extra)
    return load_study(document, folder)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pvc")
    return {"clean": phantom.make_phantom_study(root / "clean", SHAPE, 4.8, noise=False, blur=False).parent,
            "blurred": phantom.make_phantom_study(root / "blurred", SHAPE, 4.8, noise=False, blur=True).parent,
            "noisy": phantom.make_phantom_study(root / "noisy", SHAPE, 4.8, seed=2).parent}


def test_sphere_recovery_coefficient_is_exact():
    # centre of a blurred unit ball = P(|G| < R) for a 3-D Gaussian = chi(3) CDF at R/σ (independent closed form)
    sigma = 12.0 * FWHM_TO_SIGMA
    for radius in (5.0, 11.0, 18.0, 40.0):
        rc = sphere_recovery_coefficient(radius, 12.0)
        # Monte Carlo of the definition: X uniform in the ball, G Gaussian; RC = P(|X + G| < R); 4·10^5 draws
        rng = np.random.default_rng(7)
        direction = rng.normal(size=(400_000, 3))
        direction /= np.linalg.norm(direction, axis=1)[:, None]
        x = direction * radius * rng.random(400_000)[:, None] ** (1 / 3)
        inside = np.linalg.norm(x + rng.normal(scale=sigma, size=x.shape), axis=1) < radius
        assert rc == pytest.approx(inside.mean(), abs=0.003)
        assert rc < chi(3).cdf(radius / sigma)  # the mean is below the centre value
    # R ≫ σ: a plane boundary loses σ/√(2π) per unit area, so RC → 1 − 3σ/(R√(2π)) (error of order (σ/R)²)
    assert sphere_recovery_coefficient(200.0, 12.0) == pytest.approx(1 - 3 * sigma / (200 * math.sqrt(2 * math.pi)),
                                                                     rel=1e-3)


def test_transfer_matrix_of_a_voxelised_sphere_matches_the_analytic_recovery():
    # 1 mm voxels, R = 11 mm, FWHM 12 mm: the GTM diagonal is the voxelised sphere's recovery coefficient
    axis = np.arange(64) - 31.5
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    labels = (x**2 + y**2 + z**2 <= 11.0**2).astype(int)
    matrix, order = transfer_matrix(labels, [1], 12.0, (1.0, 1.0, 1.0))
    assert order == [0, 1]
    assert np.allclose(matrix.sum(axis=0), 1.0)  # the blur keeps every compartment's activity
    assert matrix[1, 1] == pytest.approx(sphere_recovery_coefficient(11.0, 12.0), rel=0.01)
    assert blur(labels, 12.0, (1, 1, 1)).sum() == pytest.approx(labels.sum())


def test_gtm_recovers_the_blurred_phantoms_tia(folders):
    raw = run_study(_study(folders["blurred"], uncertainty=False))
    corrected = run_study(_study(folders["blurred"], partial_volume={"psf_fwhm_mm": 12}, uncertainty=False))
    clean = run_study(_study(folders["clean"], uncertainty=False))
    for kidney in ("kidney_left", "kidney_right"):
        before = raw.regions[kidney]["fit"]["tia_MBq_h"]
        after = corrected.regions[kidney]["fit"]["tia_MBq_h"]
        assert before < 0.88 * KIDNEY_TIA                 # 8359 vs 9685 MBq h: partial-volume loss
        assert after == pytest.approx(KIDNEY_TIA, rel=0.03)  # 9882: +2.0 %, the mono-exponential fit of a bi-exponential
        assert after == pytest.approx(clean.regions[kidney]["fit"]["tia_MBq_h"], rel=0.005)  # = the unblurred analysis
    for lesion, truth in LESION_TIA.items():
        assert raw.regions[lesion]["fit"]["tia_MBq_h"] < 0.7 * truth
        assert corrected.regions[lesion]["fit"]["tia_MBq_h"] == pytest.approx(truth, rel=0.01)
    assert corrected.regions["lesion_2"]["recovery_coefficient"] < corrected.regions["lesion_1"]["recovery_coefficient"]


def test_gtm_on_the_noisy_phantom(folders):
    corrected = run_study(_study(folders["noisy"], partial_volume={"psf_fwhm_mm": 12.0}, uncertainty=False))
    for kidney in ("kidney_left", "kidney_right"):
        assert corrected.regions[kidney]["fit"]["tia_MBq_h"] == pytest.approx(KIDNEY_TIA, rel=0.03)
    for lesion, truth in LESION_TIA.items():
        assert corrected.regions[lesion]["fit"]["tia_MBq_h"] == pytest.approx(truth, rel=0.02)


def test_bad_partial_volume_and_uncertainty_entries_are_refused(folders):
    with pytest.raises(InputError, match=r"partial_volume\.psf_fwhm_mm: got -3"):
        _study(folders["clean"], partial_volume={"psf_fwhm_mm": -3})
    with pytest.raises(InputError, match=r"partial_volume: got"):
        _study(folders["clean"], partial_volume={"fwhm": 12})
    with pytest.raises(InputError, match=r"partial_volume\.method"):
        _study(folders["clean"], partial_volume={"psf_fwhm_mm": 12, "method": "rbv"})
    with pytest.raises(InputError, match=r"uncertainty\.draws"):
        _study(folders["clean"], uncertainty={"draws": 3})


def _coverage(result, reference, region: str) -> float:
    """Fraction of the band's dose points at which the reference DVH lies inside the 95 % band."""
    band = result.dvh_band[result.dvh_band["region"] == region]
    label = next(r.label for r in reference.study.regions if r.name == region)
    doses = np.sort(reference.dose_Gy[reference.study.labels == label])
    truth = (doses.size - np.searchsorted(doses, band["dose_Gy"].to_numpy())) / doses.size
    return float(np.mean((truth >= band["volume_fraction_low"].to_numpy() - 1e-9)
                         & (truth <= band["volume_fraction_high"].to_numpy() + 1e-9)))


def test_dvh_band_contains_the_noiseless_dvh(folders, tmp_path):
    noisy = run_study(_study(folders["noisy"]))
    noiseless = run_study(_study(folders["blurred"]))  # the same blurred images without Poisson noise
    for region in ("kidney_left", "kidney_right", "lesion_1", "lesion_2", "body_remainder"):
        assert _coverage(noisy, noiseless, region) >= 0.95  # measured: 1.00 for every region (docs/imaging.md)
        entry = noisy.regions[region]
        low, high = entry["mean_Gy_interval_95"]
        assert low <= entry["mean_Gy"] <= high
        assert low <= noiseless.regions[region]["mean_Gy"] <= high
    # the kidneys' TIA is uncertain (a mono-exponential through bi-exponential data): a wide interval
    assert noisy.regions["kidney_left"]["tia_relative_sd"] > 0.05
    paths = write_outputs(noisy, tmp_path / "out")
    table = pd.read_parquet(paths["dvh_band"])
    assert {"volume_fraction", "volume_fraction_low", "volume_fraction_high"} <= set(table.columns)
    assert np.all(table["volume_fraction_low"] <= table["volume_fraction_high"])
    again = run_study(_study(folders["noisy"]))
    assert again.regions["lesion_1"]["mean_Gy_interval_95"] == noisy.regions["lesion_1"]["mean_Gy_interval_95"]


def test_a_region_convolved_on_its_box_equals_the_full_grid(folders):
    from rptici.imaging import dose_map, voxel_kernel
    from rptici.imaging.uncertainty import _component

    study = _study(folders["noisy"], uncertainty=False)
    tia = run_study(study).tia_MBq_h
    mask = study.labels == 3
    half = np.array(voxel_kernel(study.nuclide, study.reference.spacing_cm).total().shape) // 2
    full = dose_map(np.where(mask, tia, 0.0), study.nuclide, study.reference.spacing_cm, density=study.density)
    assert np.allclose(_component(tia, mask, study, half), full, rtol=0, atol=1e-9 * full.max())
