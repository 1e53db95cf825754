"""The HTML report of an image-dose run: rendered from a real phantom run, every figure embedded."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from rptici.imaging import load_study, run_study
from rptici.report.imaging import dvh_figure, slice_figure, write_image_dose_report

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_phantom_study", ROOT / "examples/imaging/make_phantom_study.py")
phantom = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phantom)


def _run(folder: Path, **extra):
    study = phantom.make_phantom_study(folder, (32, 32, 24), 4.8, seed=3)
    document = yaml.safe_load(study.read_text())
    document.update(extra)
    return run_study(load_study(document, study.parent))


def test_report_has_slices_dvh_bands_and_tacs(tmp_path):
    result = _run(tmp_path / "study", partial_volume={"psf_fwhm_mm": 12}, uncertainty={"draws": 50, "seed": 1})
    path = write_image_dose_report(result, tmp_path / "report.html")
    page = path.read_text()
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 3  # slices, DVHs, TACs; nothing fetched
    for name in ("kidney_left", "kidney_right", "lesion_1", "lesion_2", "body_remainder"):
        assert name in page
    assert "geometric transfer matrix" in page and "recovery coefficient" in page
    low, high = result.regions["lesion_1"]["mean_Gy_interval_95"]
    assert f"{low:.3g}" in page or f"{low:.3g}".rstrip("0") in page
    # the DVH figure draws one band per region; the slice figure one overlay per view
    assert len(dvh_figure(result).axes[0].collections) == 5
    assert len([image for ax in slice_figure(result).axes[:2] for image in ax.images]) == 4


def test_report_of_a_single_scan_without_fits(tmp_path):
    study = phantom.make_phantom_study(tmp_path / "one", (32, 32, 24), 4.8, seed=3)
    document = yaml.safe_load(study.read_text())
    document["images"] = document["images"][2:3]
    document.pop("ct")
    result = run_study(load_study(document, study.parent))
    page = write_image_dose_report(result, tmp_path / "one.html").read_text()
    assert "Fewer than three scans" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 2
