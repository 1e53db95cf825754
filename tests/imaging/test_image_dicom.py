"""DICOM input: real DICOM files written with pydicom (examples/imaging/dicom_phantom.py), read back by
rptici.imaging.dicom, compared with the same images written as NIfTI by nibabel; and every refused input."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from rptici.cli import app
from rptici.errors import InputError
from rptici.imaging import load_study, read_image
from rptici.imaging.dicom import points_in_polygon, read_dicom_labels

ROOT = Path(__file__).resolve().parents[2]


def _module(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"examples/imaging/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


writer = _module("dicom_phantom")
SHAPE = (40, 40, 30)
#: A small grid for the refusals: 12 × 10 × 8 voxels of 4 × 3 × 5 mm, rotated 90° about z, off-centre (RAS+).
SMALL = (12, 10, 8)
AFFINE = np.array([[0.0, -3.0, 0.0, 14.0], [4.0, 0.0, 0.0, -20.0], [0.0, 0.0, 5.0, -17.5], [0, 0, 0, 1]])
FOR = "1.2.826.0.1.3680043.8.498.1"


def asymmetric(shape=SMALL) -> np.ndarray:
    """Whole-number voxels, different along every axis and direction (no flip or transpose maps it onto itself)."""
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    return (1000 + 7 * i + 31 * j * j + 101 * k + (i > j) * 3).astype(float)


def small_labels() -> np.ndarray:
    labels = np.zeros(SMALL, np.int16)
    labels[2:9, 2:8, 1:7] = 1           # organ
    labels[6:8, 3:5, 3:5] = 2           # lesion inside the organ
    return labels


@pytest.fixture()
def small(tmp_path):
    """Two PET scans (BQML) and a DICOM-SEG on one frame of reference; the study as a mapping."""
    data = asymmetric()
    for index, (scale, day) in enumerate(((1.0, "20260102"), (0.5, "20260104"))):   # 24 h and 72 h after
        writer.write_series(np.round(data * scale), AFFINE, tmp_path / f"pt{index}", modality="PT", units="BQML",
                            frame_of_reference=FOR, name=f"pt{index}",
                            extra={"DecayCorrection": "START", "DecayFactor": "1.0123", "CorrectedImage": ["DECY", "ATTN"],
                                   "SeriesDate": day, "SeriesTime": "093000"},
                            radiopharmaceutical={"RadionuclideHalfLife": "574300.8",
                                                 "RadiopharmaceuticalStartDateTime": "20260101093000"})
    writer.write_seg(small_labels(), {1: "Organ", 2: "Lesion"}, AFFINE, tmp_path / "seg.dcm", frame_of_reference=FOR)
    study = {"nuclide": "Lu-177", "method": "local",
             "images": [{"file": "pt0", "time": "24 h"}, {"file": "pt1", "time": "72 h"}],
             "labels": {"file": "seg.dcm", "regions": {1: {"name": "Organ", "tissue": "kidney"}, 2: {"name": "Lesion"}}}}
    return tmp_path, study


# --- geometry and orientation -----------------------------------------------------------------------------------

def test_asymmetric_phantom_gives_the_same_voxels_from_nifti_and_dicom(tmp_path):
    data = asymmetric()
    nibabel.save(nibabel.Nifti1Image(data.astype(np.float32), AFFINE), str(tmp_path / "a.nii.gz"))
    nifti = read_image(tmp_path / "a.nii.gz", "nifti")
    # PET slices written under shuffled file names: the reader sorts by position along the normal
    order = list(np.random.default_rng(3).permutation(SMALL[2]))
    writer.write_series(data, AFFINE, tmp_path / "pt", modality="PT", file_order=order, name="pt")
    # the same volume stored with its k axis reversed (slices run against the normal): same patient, other layout
    flipped_affine = AFFINE.copy()
    flipped_affine[:3, 3] = AFFINE[:3, 3] + AFFINE[:3, 2] * (SMALL[2] - 1)
    flipped_affine[:3, 2] *= -1
    writer.write_series(data[:, :, ::-1], flipped_affine, tmp_path / "flipped", modality="PT", name="flipped")
    writer.write_series(data, AFFINE, tmp_path / "nm", modality="NM", units=None, multiframe=True, name="nm")
    # NM frames stacked against the normal, told by a negative Spacing Between Slices (PS3.3 C.8.4.15; GE writes these)
    writer.write_series(data[:, :, ::-1], flipped_affine, tmp_path / "nm_negative", modality="NM", units=None,
                        multiframe=True, name="nm_negative", negative_spacing=True)
    assert float(pydicom.dcmread(tmp_path / "nm_negative" / "nm_negative.dcm").SpacingBetweenSlices) == -5.0
    for folder in ("pt", "flipped", "nm", "nm_negative"):
        dicom = read_image(tmp_path / folder, folder)
        np.testing.assert_array_equal(dicom.data, nifti.data)
        np.testing.assert_allclose(dicom.affine, nifti.affine, atol=1e-9)


def test_dicom_pixel_maps_to_the_ras_point_of_the_standard_formula(tmp_path):
    """PS3.3 C.7.6.2.1.1: P = S + X·Δc·c + Y·Δr·r (LPS); RAS = (−x, −y, z). Checked pixel by pixel on one slice."""
    writer.write_series(asymmetric(), AFFINE, tmp_path / "pt", modality="PT", name="pt")
    volume = read_image(tmp_path / "pt", "pt")
    raw = pydicom.dcmread(sorted((tmp_path / "pt").iterdir())[5])
    position = np.array(raw.ImagePositionPatient, float)
    row, column = np.array(raw.ImageOrientationPatient[:3], float), np.array(raw.ImageOrientationPatient[3:], float)
    delta_r, delta_c = map(float, raw.PixelSpacing)
    k = int(round(np.linalg.solve(volume.affine[:3, :3], np.r_[-position[0], -position[1], position[2]]
                                  - volume.affine[:3, 3])[2]))
    for r in range(raw.Rows):
        for c in range(raw.Columns):
            lps = position + row * delta_c * c + column * delta_r * r
            ras = volume.affine @ np.array([c, r, k, 1.0])
            np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-6)
            assert volume.data[c, r, k] == float(raw.pixel_array[r, c]) * float(raw.RescaleSlope)
    # the patient's left (LPS +x) is RAS −x: AFFINE's j axis runs along RAS −x, i.e. towards the left
    assert column[0] == pytest.approx(1.0) and volume.affine[0, 1] == pytest.approx(-3.0)


def test_rescale_slope_per_slice_and_bqml_to_mbq(tmp_path):
    values = asymmetric() * 12.345                      # not whole numbers: each slice gets its own slope
    writer.write_series(values, AFFINE, tmp_path / "pt", modality="PT", name="pt")
    slopes = {float(pydicom.dcmread(p).RescaleSlope) for p in (tmp_path / "pt").iterdir()}
    assert len(slopes) == SMALL[2]
    volume = read_image(tmp_path / "pt", "pt")
    # quantisation: 32000 steps of each slice's maximum
    np.testing.assert_allclose(volume.data, values, rtol=0, atol=values.max() / 32000)
    assert volume.meta["units"] == "Bq/mL"


# --- end to end: the example phantom as DICOM gives the NIfTI dose ---------------------------------------------

@pytest.mark.parametrize("labels", ["seg", "rtstruct"])
def test_phantom_as_dicom_gives_the_nifti_dose(tmp_path, labels):
    """`rptici image-dose` on the noisy, blurred example phantom: the DICOM study gives the NIfTI study's dose."""
    study = writer.make_dicom_study(tmp_path, SHAPE, 4.8, seed=2, labels=labels)
    summaries = {}
    for name, path in (("dicom", study), ("nifti", study.with_name("study.yaml"))):
        result = CliRunner().invoke(app, ["image-dose", str(path), "--out", str(tmp_path / name), "--json"])
        assert result.exit_code == 0, result.output
        summaries[name] = json.loads(result.output)
    dicom, nifti = summaries["dicom"], summaries["nifti"]
    dose_dicom = read_image(tmp_path / "dicom/dose_Gy.nii.gz", "dose").data
    dose_nifti = read_image(tmp_path / "nifti/dose_Gy.nii.gz", "dose").data
    np.testing.assert_allclose(dose_dicom, dose_nifti, rtol=1e-6, atol=0)
    assert set(dicom["regions"]) == set(nifti["regions"])
    for name, region in nifti["regions"].items():
        for key in ("volume_mL", "mean_Gy", "min_Gy", "max_Gy", "D2_Gy", "D50_Gy", "D98_Gy", "voxel_tia_MBq_h",
                    "bed_mean_Gy", "mass_g"):
            if key in region:
                assert dicom["regions"][name][key] == pytest.approx(region[key], rel=1e-6, abs=1e-12), (name, key)
    assert dicom["dicom"]["images[0]"]["modality"] == "NM" and dicom["dicom"]["ct"]["modality"] == "CT"
    assert dicom["dicom"]["labels"]["modality"] == labels.upper()


# --- units, calibration, decay correction ------------------------------------------------------------------------

def test_bqml_units_come_from_dicom_and_decay_attributes_are_reported(small):
    folder, study = small
    loaded = load_study(study, folder)
    voxel_ml = 4 * 3 * 5 / 1000
    np.testing.assert_allclose(loaded.activities[0], np.round(asymmetric()) * 1e-6 * voxel_ml, rtol=1e-12)
    decay = loaded.dicom["images[0]"]["decay"]
    assert decay["DecayCorrection"] == "START" and decay["DecayFactor"] == "1.0123"
    assert decay["CorrectedImage"] == ["DECY", "ATTN"]
    assert loaded.dicom["images[0]"]["frame_of_reference_uid"] == FOR
    assert decay["hours_after_administration"] == 24.0 and loaded.dicom["images[1]"]["decay"][
        "hours_after_administration"] == 72.0
    assert loaded.notes == []
    study["images"][1]["time"] = "48 h"              # the study disagrees with the header: said, study's time kept
    loaded = load_study(study, folder)
    assert loaded.notes == ["images[1]: the study's time is 48 h, the DICOM header's 72 h after administration "
                            "(the study's is used)"]
    assert loaded.times_days[1] == 2.0


def test_real_world_value_mapping_gives_bq_per_ml(small):
    """Quantitative SPECT stored with a Real World Value Mapping (units Bq/ml, UCUM) instead of a Units tag."""
    folder, study = small
    mapping, units = pydicom.Dataset(), pydicom.Dataset()
    units.CodeValue, units.CodingSchemeDesignator, units.CodeMeaning = "Bq/ml", "UCUM", "becquerels/milliliter"
    mapping.MeasurementUnitsCodeSequence = pydicom.Sequence([units])
    mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept = 0.25, 0.0
    mapping.LUTLabel, mapping.LUTExplanation = "BQML", "activity concentration"
    writer.write_series(asymmetric(), AFFINE, folder / "xspect", modality="NM", units=None, multiframe=True,
                        frame_of_reference=FOR, name="xspect",
                        extra={"RealWorldValueMappingSequence": pydicom.Sequence([mapping])})
    study["images"][0]["file"] = "xspect"
    loaded = load_study(study, folder)
    assert loaded.dicom["images[0]"]["units"] == "Bq/mL"
    assert loaded.dicom["images[0]"]["scaling"] == "real world value mapping (Bq/ml)"
    np.testing.assert_allclose(loaded.activities[0], asymmetric() * 0.25 * 1e-6 * 0.06, rtol=1e-12)
    # the same as single-frame slices (each slice carries the mapping)
    writer.write_series(asymmetric(), AFFINE, folder / "slices", modality="PT", units=None, frame_of_reference=FOR,
                        name="slices", extra={"RealWorldValueMappingSequence": pydicom.Sequence([mapping])})
    study["images"][0]["file"] = "slices"
    np.testing.assert_array_equal(load_study(study, folder).activities[0], loaded.activities[0])


def test_study_units_that_contradict_dicom_are_refused(small):
    folder, study = small
    study["images"][1]["units"] = "counts"
    with pytest.raises(InputError, match=r"images\[1\]\.units: got 'counts'; expected the units the DICOM image "
                                         r"states, Bq/mL"):
        load_study(study, folder)


@pytest.mark.parametrize("units, message", [("GML", r"images\[0\]\.Units: got 'GML \(SUV.*expected BQML \(Bq/mL\) or "
                                                   r"CNTS"),
                                            ("PROPCNTS", r"images\[0\]\.Units: got 'PROPCNTS'; expected BQML")])
def test_suv_and_unknown_units_are_refused(small, units, message):
    folder, study = small
    writer.write_series(asymmetric(), AFFINE, folder / "suv", modality="PT", units=units, frame_of_reference=FOR,
                        name="suv")
    study["images"][0]["file"] = "suv"
    with pytest.raises(InputError, match=message):
        load_study(study, folder)


def test_counts_need_the_calibration_and_no_units_are_never_assumed(small):
    folder, study = small
    writer.write_series(asymmetric(), AFFINE, folder / "cnts", modality="PT", units="CNTS", frame_of_reference=FOR,
                        name="cnts")
    study["images"][0]["file"] = "cnts"
    with pytest.raises(InputError, match=r"images\[0\]\.calibration_cps_per_MBq: got None"):
        load_study(study, folder)
    study["images"][0].update(calibration_cps_per_MBq=10.0, acquisition_duration_s=1200)
    loaded = load_study(study, folder)
    # counts / (calibration · duration): 1000 counts → 1000 / (10 · 1200) MBq
    assert loaded.activities[0][0, 0, 0] == pytest.approx(1000 / 12000, rel=1e-12)
    writer.write_series(asymmetric(), AFFINE, folder / "nm", modality="NM", units=None, multiframe=True,
                        frame_of_reference=FOR, name="nm")
    study["images"][0] = {"file": "nm", "time": "24 h"}
    with pytest.raises(InputError, match=r"images\[0\]\.units: got None; expected .*never assumed"):
        load_study(study, folder)


def test_decay_correction_to_administration_and_a_wrong_nuclide_are_refused(small):
    folder, study = small
    writer.write_series(asymmetric(), AFFINE, folder / "admin", modality="PT", frame_of_reference=FOR, name="admin",
                        extra={"DecayCorrection": "ADMIN"})
    study["images"][0]["file"] = "admin"
    with pytest.raises(InputError, match=r"images\[0\]\.DecayCorrection: got 'ADMIN'; expected START or NONE"):
        load_study(study, folder)
    study["images"][0]["file"] = "pt0"
    study["nuclide"] = "Y-90"
    with pytest.raises(InputError, match=r"images\[0\]\.RadionuclideHalfLife: got '574301 s'; expected the half-life "
                                         r"of the study's nuclide Y-90"):
        load_study(study, folder)


# --- geometry refusals -------------------------------------------------------------------------------------------

def test_non_uniform_slice_spacing_is_refused(small):
    folder, study = small
    (folder / "pt1" / "slice_0004.dcm").unlink()
    with pytest.raises(InputError, match=r"images\[1\]\.slice_spacing_mm: got \[5\.0, 5\.0, 5\.0, 10\.0, 5\.0, 5\.0\]; "
                                         r"expected equally spaced slices"):
        load_study(study, folder)


def test_mixed_series_in_one_folder_is_refused(small):
    folder, study = small
    shutil.copy(folder / "pt1" / "slice_0000.dcm", folder / "pt0" / "other_series.dcm")
    with pytest.raises(InputError, match=r"images\[0\]\.SeriesInstanceUID: got '2 series in pt0'; expected one DICOM "
                                         r"series per folder \(found [0-9.]+ \(8 files, PT\), [0-9.]+ \(1 files, PT\)"):
        load_study(study, folder)
    (folder / "pt0" / "other_series.dcm").unlink()
    (folder / "pt0" / "notes.txt").write_text("not DICOM: skipped")
    truncated = (folder / "pt0" / "slice_0003.dcm").read_bytes()
    (folder / "pt0" / "slice_0003.dcm").write_bytes(truncated[:700])
    with pytest.raises(InputError, match=r"images\[0\]\.ImageOrientationPatient: got 'missing in slice_0003\.dcm'; "
                                         r"expected slices with .*\(a truncated file\?\)"):
        load_study(study, folder)


def test_mismatched_spacing_orientation_and_frame_of_reference_are_refused(small):
    folder, study = small
    coarse = AFFINE.copy()
    coarse[:3, 0] *= 1.5
    writer.write_series(asymmetric(), coarse, folder / "coarse", modality="PT", frame_of_reference=FOR, name="c")
    study["images"][1]["file"] = "coarse"
    with pytest.raises(InputError, match=r"images\[1\]\.voxel_spacing_mm: got \[6\.0, 3\.0, 5\.0\]; expected the voxel "
                                         r"size of images\[0\], \[4\.0, 3\.0, 5\.0\] mm"):
        load_study(study, folder)
    turned = AFFINE.copy()
    turned[:3, :2] *= -1                                    # same voxel sizes, turned 180° in the slice plane
    writer.write_series(asymmetric(), turned, folder / "turned", modality="PT", frame_of_reference=FOR, name="t")
    study["images"][1]["file"] = "turned"
    with pytest.raises(InputError, match=r"images\[1\]\.affine: .*expected the orientation and origin of images\[0\]"):
        load_study(study, folder)
    writer.write_series(asymmetric(), AFFINE, folder / "other_for", modality="PT", frame_of_reference=FOR + ".9",
                        name="o")
    study["images"][1]["file"] = "other_for"
    with pytest.raises(InputError, match=r"images\[1\]\.FrameOfReferenceUID: got '1\.2\.826\.0\.1\.3680043\.8\.498\.1\.9'; "
                                         r"expected the frame of reference of images\[0\]"):
        load_study(study, folder)
    study["images"][1]["file"] = "pt1"
    writer.write_seg(small_labels(), {1: "Organ", 2: "Lesion"}, AFFINE, folder / "seg.dcm", frame_of_reference=FOR + ".9")
    with pytest.raises(InputError, match=r"labels\.FrameOfReferenceUID: got .*expected the frame of reference of "
                                         r"images\[0\]"):
        load_study(study, folder)


def test_a_ct_series_must_be_ct_on_the_same_grid(small):
    folder, study = small
    study["ct"] = {"file": "pt1"}
    with pytest.raises(InputError, match=r"ct\.Modality: got 'PT'; expected one of CT"):
        load_study(study, folder)
    hu = np.where(small_labels() > 0, 40.0, -1000.0)
    writer.write_series(hu, AFFINE, folder / "ct", modality="CT", units=None, frame_of_reference=FOR, name="ct",
                        intercept=-1024.0)
    study["ct"] = {"file": "ct"}
    loaded = load_study(study, folder)
    # bilinear HU calibration: 40 HU → 1 + 6.1e-4 · 40 g/mL; −1000 HU → 0.001 g/mL (clipped at the floor)
    assert loaded.density.max() == pytest.approx(1 + 6.1e-4 * 40, rel=1e-12)
    assert loaded.density.min() == pytest.approx(0.001, rel=1e-9)


# --- label maps ----------------------------------------------------------------------------------------------------

def test_seg_labels_match_the_nifti_labels_and_the_smaller_region_wins(small):
    folder, study = small
    loaded = load_study(study, folder)
    np.testing.assert_array_equal(loaded.labels, small_labels())
    # FRACTIONAL (255 inside): the same map at the 0.5 threshold
    writer.write_seg(small_labels(), {1: "Organ", 2: "Lesion"}, AFFINE, folder / "seg.dcm", frame_of_reference=FOR,
                     fractional=True)
    np.testing.assert_array_equal(load_study(study, folder).labels, small_labels())
    # the organ segment written whole (lesion inside it): the lesion, the smaller region, still wins
    whole = small_labels()
    whole[whole == 2] = 1
    path = writer.write_seg(whole, {1: "Organ"}, AFFINE, folder / "organ.dcm", frame_of_reference=FOR)
    reference = read_image(folder / "pt0", "images[0]")
    organ = read_dicom_labels(path, [(1, "Organ", "Organ")], reference).data
    lesion = small_labels() == 2
    assert organ[lesion].all()


def test_a_seg_off_the_image_grid_is_refused(small):
    folder, study = small
    shifted = AFFINE.copy()
    shifted[2, 3] += 2.5                                     # half a slice: frames between the image's slices
    writer.write_seg(small_labels(), {1: "Organ", 2: "Lesion"}, shifted, folder / "seg.dcm", frame_of_reference=FOR)
    with pytest.raises(InputError, match=r"labels\.frame\[0\]\.ImagePositionPatient: got .*expected a slice position of "
                                         r"images\[0\]'s grid \(voxel \[0\.0, 0\.0, 1\.5\]\)"):
        load_study(study, folder)
    finer = AFFINE.copy()
    finer[:3, 1] *= 0.5
    writer.write_seg(small_labels(), {1: "Organ", 2: "Lesion"}, finer, folder / "seg.dcm", frame_of_reference=FOR)
    with pytest.raises(InputError, match=r"labels\.PixelSpacing: got \[1\.5, 4\.0\]; expected the pixel spacing of "
                                         r"images\[0\]"):
        load_study(study, folder)


def test_missing_segment_and_roi_names_are_refused(small):
    folder, study = small
    study["labels"]["regions"][3] = {"name": "liver"}
    with pytest.raises(InputError, match=r"labels\.regions: got \['liver'\]; expected segment/ROI names present in the "
                                         r"file \(found: \['Lesion', 'Organ'\]\)"):
        load_study(study, folder)
    study["labels"]["regions"].pop(3)
    study["labels"]["regions"][2] = {"name": "lesion_1", "roi": "Lesion"}     # another name, mapped by roi:
    assert load_study(study, folder).regions[1].name == "lesion_1"
    study["labels"]["regions"].pop(2)                                       # a segment left out: said, not used
    loaded = load_study(study, folder)
    assert loaded.notes == ["labels: segments/ROIs not named in the study, not used: Lesion"]
    assert set(np.unique(loaded.labels)) == {0, 1}
    study["labels"]["regions"][2] = {"name": "lesion_1", "roi": "Lesion"}
    writer.write_seg(small_labels(), {1: "Organ", 2: ""}, AFFINE, folder / "seg.dcm", frame_of_reference=FOR)
    with pytest.raises(InputError, match=r"labels\.SegmentSequence\[2\]\.SegmentLabel: got None"):
        load_study(study, folder)


def test_rtstruct_rasterises_voxel_centres_inside_with_holes(small):
    folder, study = small
    reference = read_image(folder / "pt0", "images[0]")
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ AFFINE

    def polygon(points_ij, k):  # voxel (i, j) coordinates on slice k → LPS mm
        return (lps @ np.c_[points_ij, np.full(len(points_ij), k), np.ones(len(points_ij))].T)[:3].T

    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    outer = np.c_[5.5 + 4.2 * np.cos(angles), 4.5 + 3.9 * np.sin(angles)]
    inner = np.c_[5.5 + 1.6 * np.cos(angles), 4.5 + 1.6 * np.sin(angles)]
    contours = {"Ring": [polygon(outer, 3), polygon(inner, 3)], "Disc": [polygon(outer, 5)]}
    writer.write_rtstruct(contours, folder / "rt.dcm", frame_of_reference=FOR)
    maps = read_dicom_labels(folder / "rt.dcm", [(1, "Ring", "Ring"), (2, "Disc", "Disc")], reference).data
    i, j = np.meshgrid(np.arange(SMALL[0]), np.arange(SMALL[1]), indexing="ij")
    in_outer = ((i - 5.5) / 4.2) ** 2 + ((j - 4.5) / 3.9) ** 2 < 1      # no voxel centre lies on these ellipses
    in_inner = ((i - 5.5) / 1.6) ** 2 + ((j - 4.5) / 1.6) ** 2 < 1
    np.testing.assert_array_equal(maps[:, :, 3] == 1, in_outer & ~in_inner)     # even-odd: the inner contour is a hole
    np.testing.assert_array_equal(maps[:, :, 5] == 2, in_outer)
    assert not maps[:, :, [0, 1, 2, 4, 6, 7]].any()                          # contours on single planes: no spread
    # contour planes two slices apart (k = 2 and 4; drawn on a coarser grid): each slice takes the nearest plane
    # within half the plane spacing (one slice), the lower plane on a tie
    small_square = np.array([[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]])
    big_square = np.array([[1.0, 1.0], [8.0, 1.0], [8.0, 7.0], [1.0, 7.0]])
    writer.write_rtstruct({"Coarse": [polygon(small_square, 2), polygon(big_square, 4)]}, folder / "rt2.dcm",
                          frame_of_reference=FOR)
    coarse = read_dicom_labels(folder / "rt2.dcm", [(1, "Coarse", "Coarse")], reference).data
    assert [int(coarse[:, :, k].sum()) for k in range(SMALL[2])] == [0, 4, 4, 4, 42, 42, 0, 0]
    # the crossing-number rule on a unit square: inside, outside, and the half-open edges
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert points_in_polygon(np.array([0.5, 1.5, 0.5]), np.array([0.5, 0.5, -0.1]), square).tolist() == [True, False,
                                                                                                          False]
    # a centre on the boundary: inside on the low-x and low-y edges, outside on the high ones (half-open, no overlap
    # between two contours that share an edge)
    on_edges = points_in_polygon(np.array([0.0, 1.0, 0.5, 0.5]), np.array([0.5, 0.5, 0.0, 1.0]), square)
    assert on_edges.tolist() == [True, False, True, False]


def test_a_contour_outside_the_image_is_refused(small):
    folder, study = small
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ AFFINE
    square = np.array([[-2.0, 1, 2, 1], [3, 1, 2, 1], [3, 4, 2, 1], [-2.0, 4, 2, 1]])   # i from −2: off the grid
    writer.write_rtstruct({"Organ": [(lps @ square.T)[:3].T], "Lesion": []}, folder / "rt.dcm", frame_of_reference=FOR)
    study["labels"]["file"] = "rt.dcm"
    with pytest.raises(InputError, match=r"labels\.Organ\.contour\[0\]: got 'voxel extent \[-2\.0, 1\.0, 2\.0\] … "
                                         r"\[3\.0, 4\.0, 2\.0\]'; expected a contour inside the image grid"):
        load_study(study, folder)
    tilted = square.copy()
    tilted[:, 0] += 2
    tilted[2:, 2] = 3                                           # two corners on the next slice: not in a slice plane
    writer.write_rtstruct({"Organ": [(lps @ tilted.T)[:3].T]}, folder / "rt.dcm", frame_of_reference=FOR)
    with pytest.raises(InputError, match=r"labels\.Organ\.contour\[0\]: got 'contour spans 5 mm across the slices'"):
        load_study(study, folder)


def test_an_empty_roi_is_refused(small):
    folder, study = small
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ AFFINE
    square = np.array([[1.0, 1, 2, 1], [3, 1, 2, 1], [3, 4, 2, 1], [1, 4, 2, 1]])
    writer.write_rtstruct({"Organ": [(lps @ square.T)[:3].T], "Lesion": []}, folder / "rt.dcm", frame_of_reference=FOR)
    study["labels"]["file"] = "rt.dcm"
    with pytest.raises(InputError, match=r"labels\.regions: got \['Lesion'\]; expected regions with at least one voxel"):
        load_study(study, folder)
    assert math.isfinite(float(np.sum(load_study({**study, "labels": {**study["labels"], "regions": {
        1: {"name": "Organ"}}}}, folder).labels)))
