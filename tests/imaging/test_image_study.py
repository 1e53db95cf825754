"""The imaging study end to end (real NIfTI files written and read with nibabel) and its input errors."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import nibabel
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from rptici.cli import app
from rptici.errors import InputError
from rptici.imaging import image_dose, load_study, read_nifti

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_phantom_study", ROOT / "examples/imaging/make_phantom_study.py")
phantom = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phantom)
SHAPE = (40, 40, 30)


@pytest.fixture(scope="module")
def clean_study(tmp_path_factory) -> Path:
    """Noise-free, unblurred phantom: region TIAs are known analytically."""
    return phantom.make_phantom_study(tmp_path_factory.mktemp("clean"), SHAPE, 4.8, noise=False, blur=False)


@pytest.fixture(scope="module")
def noisy_study(tmp_path_factory) -> Path:
    return phantom.make_phantom_study(tmp_path_factory.mktemp("noisy"), SHAPE, 4.8, seed=2)


def _edit(study: Path, change) -> Path:
    document = yaml.safe_load(study.read_text())
    change(document)
    target = study.with_name("edited.yaml")
    target.write_text(yaml.safe_dump(document))
    return target


def test_cli_writes_maps_dvh_and_json(noisy_study, tmp_path):
    result = CliRunner().invoke(app, ["image-dose", str(noisy_study), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert set(summary["regions"]) == {"kidney_left", "kidney_right", "lesion_1", "lesion_2", "body_remainder"}
    for region in summary["regions"].values():
        assert region["D98_Gy"] <= region["D50_Gy"] <= region["D2_Gy"] <= region["max_Gy"]
    dose = read_nifti(tmp_path / "out/dose_Gy.nii.gz", "dose")
    assert dose.shape == SHAPE and np.allclose(dose.spacing_mm, 4.8)
    dvh = pd.read_parquet(tmp_path / "out/dvh.parquet")
    assert set(dvh["quantity"]) == {"dose", "bed"}
    for _, curve in dvh.groupby(["region", "quantity"]):
        assert np.all(np.diff(curve["volume_fraction"].to_numpy()) <= 0)
    assert summary["regions"]["kidney_left"]["bed_mean_Gy"] > summary["regions"]["kidney_left"]["mean_Gy"]
    assert "density from CT" in summary["notes"][0]


def test_counts_calibration_and_region_tia_on_a_clean_phantom(clean_study):
    summary = image_dose(clean_study)
    # lesion_1: 0.6 % of 7400 MBq, T_eff 3.5 d, mono-exponential -> TIA = A0 T_eff / ln 2 (analytic)
    expected = 0.006 * 7400 * 3.5 / math.log(2) * 24
    lesion = summary["regions"]["lesion_1"]
    assert lesion["fit"]["tia_MBq_h"] == pytest.approx(expected, rel=1e-4)
    assert lesion["voxel_tia_MBq_h"] == pytest.approx(expected, rel=1e-4)
    assert lesion["fit"]["terminal_effective_half_life_d"] == pytest.approx(3.5, rel=1e-4)


def test_single_scan_uses_hanscheid(clean_study):
    study = _edit(clean_study, lambda d: d.update(images=d["images"][2:3]))
    summary = image_dose(study)
    assert "Hänscheid" in summary["tia_method"]
    # at t = 4 d and T_eff = 3.5 d the Hänscheid ratio 2x·2^-x (x = t/T_eff) is 1.037 (Hänscheid et al. 2018)
    x = 4.0 / 3.5
    expected = 0.006 * 7400 * 3.5 / math.log(2) * 24 * 2 * x * 2 ** -x
    assert summary["regions"]["lesion_1"]["voxel_tia_MBq_h"] == pytest.approx(expected, rel=1e-4)


def test_grid_mismatch_names_the_image(clean_study, tmp_path):
    folder = clean_study.parent
    # different shape
    small = np.zeros((10, 10, 10), np.float32)
    nibabel.save(nibabel.Nifti1Image(small, np.diag([4.8, 4.8, 4.8, 1])), str(tmp_path / "small.nii.gz"))
    study = _edit(clean_study, lambda d: d["images"][1].update(file=str(tmp_path / "small.nii.gz")))
    with pytest.raises(InputError, match=r"images\[1\]\.shape"):
        load_study(study)
    # different voxel size
    data = np.asarray(nibabel.load(str(folder / "spect_t2.nii.gz")).dataobj)
    affine = nibabel.load(str(folder / "spect_t2.nii.gz")).affine.copy()
    bigger = affine.copy()
    bigger[:3, :3] *= 1.25
    nibabel.save(nibabel.Nifti1Image(data, bigger), str(tmp_path / "voxel.nii.gz"))
    study = _edit(clean_study, lambda d: d["images"][1].update(file=str(tmp_path / "voxel.nii.gz")))
    with pytest.raises(InputError, match=r"images\[1\]\.voxel_spacing_mm.*expected the voxel size of images\[0\]"):
        load_study(study)
    # flipped orientation (same spacing)
    flipped = affine.copy()
    flipped[0, 0] *= -1
    nibabel.save(nibabel.Nifti1Image(data, flipped), str(tmp_path / "flip.nii.gz"))
    study = _edit(clean_study, lambda d: d["images"][1].update(file=str(tmp_path / "flip.nii.gz")))
    with pytest.raises(InputError, match=r"images\[1\]\.affine.*orientation"):
        load_study(study)
    # label map on another grid
    study = _edit(clean_study, lambda d: d["labels"].update(file=str(tmp_path / "small.nii.gz")))
    with pytest.raises(InputError, match=r"labels"):
        load_study(study)


def test_missing_calibration_is_refused(clean_study):
    study = _edit(clean_study, lambda d: d["images"][0].pop("calibration_cps_per_MBq"))
    with pytest.raises(InputError, match=r"images\[0\]\.calibration_cps_per_MBq: got None"):
        load_study(study)
    study = _edit(clean_study, lambda d: d["images"][2].pop("acquisition_duration_s"))
    with pytest.raises(InputError, match=r"images\[2\]\.acquisition_duration_s"):
        load_study(study)
    study = _edit(clean_study, lambda d: d["images"][0].pop("units"))
    with pytest.raises(InputError, match=r"images\[0\]\.units.*never assumed"):
        load_study(study)
    study = _edit(clean_study, lambda d: d["images"][0].update(units="SUV"))
    with pytest.raises(InputError, match=r"images\[0\]\.units: got 'SUV'"):
        load_study(study)


def test_label_map_with_an_unknown_region_is_refused(clean_study):
    study = _edit(clean_study, lambda d: d["labels"]["regions"].pop(4))
    with pytest.raises(InputError, match=r"labels\.regions: got \[4\]"):
        load_study(study)
    study = _edit(clean_study, lambda d: d["labels"]["regions"].update({9: {"name": "ghost"}}))
    with pytest.raises(InputError, match=r"labels\.regions: got \['ghost'\]"):
        load_study(study)
    study = _edit(clean_study, lambda d: d["labels"]["regions"][1].update(tissue="kidnee"))
    with pytest.raises(InputError, match=r"labels\.regions\.1\.tissue"):
        load_study(study)


def test_non_increasing_times_are_refused(clean_study):
    study = _edit(clean_study, lambda d: d["images"][2].update(time="20 h"))
    with pytest.raises(InputError, match=r"images\.time: got \[.*\]; expected strictly increasing"):
        load_study(study)


def test_cli_reports_an_input_error_on_one_line(clean_study, tmp_path):
    study = _edit(clean_study, lambda d: d["images"][0].pop("calibration_cps_per_MBq"))
    result = CliRunner().invoke(app, ["image-dose", str(study), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "calibration_cps_per_MBq" in result.output
