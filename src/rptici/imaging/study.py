"""An imaging study (YAML) → TIA, dose and BED maps, region statistics, DVHs, written to a folder.

Study file (paths relative to the file)::

    nuclide: Lu-177
    administered_activity: 7.4 GBq
    method: kernel            # or local
    photons: true             # photon kernel (μ_en approximation) with the kernel method
    density: 1.04             # g/mL, when no CT is given
    ct: {file: ct.nii.gz, hu_slope_above_water: 6.1e-4}     # optional
    registration: none        # none (scans on one grid, already aligned) | rigid | rigid+deformable | {method, ...}
    partial_volume: {psf_fwhm_mm: 12}   # optional: GTM partial-volume correction (:mod:`.pvc`), default off
    uncertainty: {draws: 200, seed: 0}  # region-TIA Monte Carlo → dose intervals, DVH bands (:mod:`.uncertainty`)
    images:                   # in time order; with registration each may have its own grid and a ct
      - {file: spect_1.nii.gz, time: 4 h, units: counts, calibration_cps_per_MBq: 9.5, acquisition_duration_s: 1200}
      - {file: spect_2.nii.gz, time: 24 h, units: Bq/mL, ct: ct_2.nii.gz}
    labels:
      file: labels.nii.gz
      regions: {1: {name: kidney_left, tissue: kidney}, 3: {name: lesion_1, tissue: tumour}}

Every ``file`` may also be a DICOM series — a folder (one series) or a multi-frame file — and ``labels.file`` a
DICOM-SEG or RTSTRUCT whose segments/ROIs are matched to the regions by name (``roi: NAME`` when the file's name
differs); DICOM units (BQML, CNTS) replace ``units`` (a different ``units`` in the study is an error). See
:mod:`.dicom`.

One image gives the single-time-point (Hänscheid) TIA; two or more the voxel mono-exponential fit, and three or more
also the region fits with :func:`rptici.dosimetry.tac.fit_tac`. With ``registration`` the later scans are registered
to the first and resampled onto its grid (:mod:`rptici.imaging.register`) before any TAC is formed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..data import read_mapping
from ..errors import InputError, UnknownNameError
from ..physics import Nuclide
from ..radiobiology.tissues import tissue, tissue_names
from ..units import parse_positive
from .dose import HU_SLOPE_ABOVE_WATER, METHODS, SOFT_TISSUE_DENSITY, bed_map, density_from_hu, dose_map
from .dvh import dose_at_volume, dvh_table, region_statistics
from .kernel import voxel_kernel
from .kinetics import check_times, region_fits, voxel_monoexponential, voxel_single_time_point
from .dicom import is_dicom, read_dicom_labels
from .pvc import correct_activities, spec_fwhm
from .register import (check_overlap, parse_registration, region_mask, register_series, resample_intensity,
                       same_grid, write_transform)
from .uncertainty import check_uncertainty, dose_uncertainty
from .volume import Volume, activity_mbq, check_same_grid, read_image, read_labels, write_nifti

_ALLOWED = "an imaging study (YAML mapping with nuclide, administered_activity, images, labels)"


@dataclass(frozen=True)
class Region:
    label: int
    name: str
    tissue: str | None
    roi: str | None = None            # the segment/ROI name in a DICOM-SEG or RTSTRUCT, when not ``name``


@dataclass(eq=False)
class Study:
    nuclide: Nuclide
    administered_activity_MBq: float | None
    times_days: np.ndarray
    activities: np.ndarray            # (times, *grid) MBq per voxel
    reference: Volume
    labels: np.ndarray
    regions: list[Region]
    density: float | np.ndarray
    method: str = "kernel"
    photons: bool = True
    notes: list[str] = field(default_factory=list)
    dicom: dict[str, dict[str, Any]] = field(default_factory=dict)   # what each DICOM input said about itself
    psf_fwhm_mm: tuple[float, float, float] | None = None
    uncertainty: dict[str, int] | None = field(default_factory=lambda: check_uncertainty(None))
    registration: str = "none"
    registrations: list[Any] = field(default_factory=list)


def _path(base: Path, value: Any, field_name: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InputError(field_name, value, "a file path (relative to the study file)")
    path = Path(value)
    return path if path.is_absolute() else base / path


def _regions(spec: Any) -> list[Region]:
    if not isinstance(spec, Mapping) or not spec:
        raise InputError("labels.regions", spec, "a mapping label → {name, tissue}, e.g. {1: {name: kidney_left, tissue: kidney}}")
    regions = []
    for key, entry in spec.items():
        try:
            label = int(key)
        except (TypeError, ValueError):
            raise InputError("labels.regions", key, "positive integer labels") from None
        if label <= 0 or str(key).strip() != str(label):
            raise InputError("labels.regions", key, "positive integer labels")
        entry = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise InputError(f"labels.regions.{label}", entry, "{name: ..., tissue: ...} (tissue optional)")
        name = entry.get("tissue")
        if name is not None:
            if name not in tissue_names():
                raise UnknownNameError(f"labels.regions.{label}.tissue", name, list(tissue_names()))
            tissue(name)
        roi = entry.get("roi")
        if roi is not None and (not isinstance(roi, str) or not roi.strip()):
            raise InputError(f"labels.regions.{label}.roi", roi, "the segment or ROI name in the DICOM-SEG/RTSTRUCT")
        regions.append(Region(label, entry["name"], name, roi))
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise InputError("labels.regions", names, "distinct region names")
    return regions


def _same_frame_of_reference(volume: Volume, dicom: dict[str, dict[str, Any]]) -> None:
    """Record a DICOM input; its frame of reference must be the one of the DICOM inputs before it."""
    if volume.meta.get("format") != "DICOM":
        return
    uid = volume.meta.get("frame_of_reference_uid")
    for name, earlier in dicom.items():
        wanted = earlier.get("frame_of_reference_uid")
        if uid and wanted and uid != wanted:
            raise InputError(f"{volume.name}.FrameOfReferenceUID", uid,
                             f"the frame of reference of {name}, {wanted} (registered images share one frame of "
                             "reference)")
    dicom[volume.name] = {key: value for key, value in volume.meta.items() if key != "format"}


def _units(units: Any, volume: Volume, where: str, nuclide: Nuclide, dicom: dict[str, dict[str, Any]]) -> Any:
    """The study's ``units``, or the DICOM file's (they must agree when both are given); checks the DICOM half-life."""
    if volume.meta.get("format") != "DICOM":
        return units
    _same_frame_of_reference(volume, dicom)
    stated = volume.meta.get("units")
    if stated is not None and units is not None and units != stated:
        raise InputError(f"{where}.units", units, f"the units the DICOM image states, {stated} (or leave units out)")
    half_life = volume.meta.get("decay", {}).get("RadionuclideHalfLife")
    if half_life is not None:
        expected = math.log(2) / nuclide.decay_constant_per_day * 86400.0
        if abs(float(half_life) / expected - 1) > 0.01:
            raise InputError(f"{where}.RadionuclideHalfLife", f"{float(half_life):.6g} s",
                             f"the half-life of the study's nuclide {nuclide.name}, {expected:.6g} s (within 1 %)")
    return stated if stated is not None else units


def load_study(source: str | Path | Mapping[str, Any], base: Path | None = None) -> Study:
    """Read and check a study: every image on the first image's grid, calibrations present, times increasing."""
    document = read_mapping(source, "study", _ALLOWED)
    base = base or (Path(source).parent if not isinstance(source, Mapping) else Path("."))
    unknown = set(document) - {"nuclide", "administered_activity", "method", "photons", "density", "ct", "images",
                               "labels", "patient", "notes", "partial_volume", "uncertainty", "registration"}
    if unknown:
        raise InputError("study", sorted(unknown), "only the keys nuclide, administered_activity, method, photons, "
                                                   "density, ct, images, labels, patient, notes, partial_volume, "
                                                   "uncertainty, registration")
    if "nuclide" not in document:
        raise InputError("nuclide", None, "a radionuclide such as Lu-177")
    nuclide = Nuclide(str(document["nuclide"]))
    activity = document.get("administered_activity")
    administered = None if activity is None else parse_positive(activity, "activity", "administered_activity")
    method = document.get("method", "kernel")
    if method not in METHODS:
        raise InputError("method", method, "one of " + ", ".join(METHODS))
    photons = document.get("photons", True)
    if not isinstance(photons, bool):
        raise InputError("photons", photons, "true or false")
    registration = parse_registration(document.get("registration"))
    images = document.get("images")
    if not isinstance(images, list) or not images:
        raise InputError("images", images, "a list of images, each {file, time, units, ...}")
    volumes, times, activities, cts = [], [], [], []
    dicom: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for index, entry in enumerate(images):
        where = f"images[{index}]"
        if not isinstance(entry, Mapping):
            raise InputError(where, entry, "{file, time, units, calibration_cps_per_MBq, acquisition_duration_s}")
        if "time" not in entry:
            raise InputError(f"{where}.time", None, "the scan time after administration, e.g. '24 h'")
        times.append(parse_positive(entry["time"], "time", f"{where}.time"))
        volume = read_image(_path(base, entry.get("file"), f"{where}.file"), where)
        header_hours = volume.meta.get("decay", {}).get("hours_after_administration")
        if header_hours is not None and abs(header_hours - times[-1] * 24.0) > max(1.0, 0.02 * times[-1] * 24.0):
            notes.append(f"{where}: the study's time is {times[-1] * 24.0:.4g} h, the DICOM header's "
                         f"{header_hours:.4g} h after administration (the study's is used)")
        if volumes:
            if registration.mode == "none":
                check_same_grid(volumes[0], volume)
            else:
                check_overlap(volumes[0], volume, where)
        volumes.append(volume)
        if entry.get("ct") is not None and registration.mode == "none":
            notes.append(f"{where}.ct not used (registration: none)")
        cts.append(None if entry.get("ct") is None or registration.mode == "none"
                   else read_image(_path(base, entry["ct"], f"{where}.ct"), f"{where}.ct", ("CT",)))
        units = _units(entry.get("units"), volume, where, nuclide, dicom)
        if units is None:
            raise InputError(f"{where}.units", None, "Bq/mL, kBq/mL, MBq/mL or counts (never assumed)")
        activities.append(activity_mbq(volume, units, entry.get("calibration_cps_per_MBq"),
                                       entry.get("acquisition_duration_s"), where))
    times_array = check_times(times, "images.time")
    label_spec = document.get("labels")
    if not isinstance(label_spec, Mapping):
        raise InputError("labels", label_spec, "{file: labels.nii.gz, regions: {1: {name, tissue}, ...}}")
    regions = _regions(label_spec.get("regions"))
    label_path = _path(base, label_spec.get("file"), "labels.file")
    if is_dicom(label_path):
        labels = read_dicom_labels(label_path, [(r.label, r.name, r.roi or r.name) for r in regions], volumes[0])
        dicom["labels"] = {key: value for key, value in labels.meta.items() if key != "format"}
        if labels.meta["not_used"]:
            notes.append(f"labels: segments/ROIs not named in the study, not used: {', '.join(labels.meta['not_used'])}")
    else:
        labels = read_labels(label_path, {r.label: r.name for r in regions})
    check_same_grid(volumes[0], labels)
    density: float | np.ndarray = SOFT_TISSUE_DENSITY
    if document.get("ct") is not None:
        ct = document["ct"]
        if not isinstance(ct, Mapping):
            raise InputError("ct", ct, "{file: ct.nii.gz (HU, on the SPECT grid), hu_slope_above_water: 6.1e-4}")
        ct_volume = read_image(_path(base, ct.get("file"), "ct.file"), "ct", ("CT",))
        if registration.mode == "none" or same_grid(volumes[0], ct_volume):
            check_same_grid(volumes[0], ct_volume)
        _same_frame_of_reference(ct_volume, dicom)
        slope = ct.get("hu_slope_above_water", HU_SLOPE_ABOVE_WATER)
        if not isinstance(slope, (int, float)) or not math.isfinite(slope) or slope <= 0:
            raise InputError("ct.hu_slope_above_water", slope, "a positive slope in g/mL per HU")
        density = density_from_hu(ct_volume.data, float(slope))
        notes.append("density from CT by the bilinear HU calibration")
        if not same_grid(volumes[0], ct_volume):  # the first scan's CT, same frame: density averaged per voxel
            check_overlap(volumes[0], ct_volume, "ct")
            density = resample_intensity(density, ct_volume, volumes[0], outside=float(density_from_hu(-1000.0)))
            notes.append("CT density resampled onto the first scan's grid (mean density per voxel, mass conserving)")
        if cts and cts[0] is None and registration.mode != "none":
            cts[0] = ct_volume
    elif "density" in document:
        value = document["density"]
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= 3:
            raise InputError("density", value, "a density in g/mL between 0 and 3")
        density = float(value)
    registrations = []
    if registration.mode != "none" and len(volumes) > 1:
        mask = None
        if registration.mask_regions:
            mask = region_mask(labels, {r.name: r.label for r in regions}, registration.mask_regions,
                               registration.margin_mm)
        elif registration.mask_file:
            mask_volume = read_image(_path(base, registration.mask_file, "registration.mask_file"),
                                     "registration.mask_file", ("SEG", "RTSTRUCT", "OT", "NM", "PT", "CT"))
            check_same_grid(volumes[0], mask_volume)
            mask = np.asarray(mask_volume.data) > 0
        stacked, registrations = register_series(volumes, activities, cts, registration, mask)
        notes.extend(note for r in registrations for note in r.notes)
        notes.extend(f"{r.field}: {r.activity_retained:.1%} of its activity on the first scan's grid (the rest is "
                     "outside its field of view)" for r in registrations if r.activity_retained < 0.99)
    else:
        stacked = np.stack(activities)
    return Study(nuclide, administered, times_array, stacked, volumes[0], labels.data,
                 regions, density, method, photons, notes, dicom, spec_fwhm(document.get("partial_volume")),
                 check_uncertainty(document.get("uncertainty")), registration.mode, registrations)


@dataclass(eq=False)
class ImageDoseResult:
    study: Study
    tia_MBq_h: np.ndarray
    decay_constant_per_day: np.ndarray
    dose_Gy: np.ndarray
    bed_Gy: np.ndarray
    regions: dict[str, dict[str, Any]]
    dvh: Any
    tia_method: str
    activities: np.ndarray | None = None      # (times, *grid) MBq, after partial-volume correction when asked
    fits: dict[str, Any] = field(default_factory=dict)
    dvh_band: Any = None
    partial_volume: dict[str, Any] | None = None
    uncertainty: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        study = self.study
        return {"nuclide": study.nuclide.name, "administered_activity_MBq": study.administered_activity_MBq,
                "grid": list(study.reference.shape), "voxel_mm": [round(v, 4) for v in study.reference.spacing_mm],
                "times_days": study.times_days.tolist(), "tia_method": self.tia_method, "dose_method": study.method,
                "photons": study.photons and study.method == "kernel", "notes": study.notes,
                **({"dicom": study.dicom} if study.dicom else {}),
                "registration": {"method": study.registration,
                                 "images": [r.summary() for r in study.registrations]},
                "kernel": voxel_kernel(study.nuclide, study.reference.spacing_cm,
                                       photons=study.photons and study.method == "kernel").summary(),
                "partial_volume": self.partial_volume, "uncertainty": self.uncertainty, "regions": self.regions}


def run_study(study: Study) -> ImageDoseResult:
    """TIA (voxel), dose and BED maps, and per-region statistics and DVHs of a loaded study."""
    activities, partial_volume = study.activities, None
    if study.psf_fwhm_mm is not None:
        activities, partial_volume = correct_activities(study.activities, study.labels,
                                                        [r.label for r in study.regions], study.psf_fwhm_mm,
                                                        study.reference.spacing_mm)
    if study.times_days.size == 1:
        voxel = voxel_single_time_point(float(study.times_days[0]), activities[0])
    else:
        voxel = voxel_monoexponential(study.times_days, activities, study.nuclide.decay_constant_per_day)
    dose = dose_map(voxel.tia_MBq_h, study.nuclide, study.reference.spacing_cm, method=study.method,
                    density=study.density, photons=study.photons)
    bed = bed_map(dose, voxel.decay_constant_per_day, study.labels,
                  {r.label: r.tissue for r in study.regions if r.tissue})
    names = {r.label: r.name for r in study.regions}
    fits = region_fits(study.times_days, activities, study.labels, names, study.nuclide.name)
    regions: dict[str, dict[str, Any]] = {}
    voxel_ml = study.reference.voxel_volume_ml
    for region in study.regions:
        inside = study.labels == region.label
        entry: dict[str, Any] = {"label": region.label, "tissue": region.tissue}
        entry.update(region_statistics(dose[inside], voxel_ml))
        entry["voxel_tia_MBq_h"] = float(voxel.tia_MBq_h[inside].sum())
        # the region's activity-weighted effective half-life, ln 2 · ΣÃ / Σ(Ã λ) (Σ Ã λ = Σ A0 of the voxel fits)
        weighted = float(np.sum(voxel.tia_MBq_h[inside] * voxel.decay_constant_per_day[inside]))
        entry["effective_half_life_d"] = math.log(2) * entry["voxel_tia_MBq_h"] / weighted if weighted > 0 else None
        density = study.density if np.ndim(study.density) == 0 else study.density[inside]
        entry["mass_g"] = float(np.sum(density * voxel_ml * np.ones(int(inside.sum()))))
        if partial_volume is not None:
            entry["recovery_coefficient"] = partial_volume["compartments"][region.label]["recovery_coefficient"]
        if region.name in fits:
            fit = fits[region.name]
            entry["fit"] = {"model": fit.model, "tia_MBq_h": fit.tia, "tia_standard_error_MBq_h": fit.tia_standard_error,
                            "terminal_effective_half_life_d": math.log(2) / fit.terminal_decay_constant}
        if study.administered_activity_MBq:
            entry["mean_Gy_per_GBq"] = entry["mean_Gy"] / (study.administered_activity_MBq / 1000.0)
        if region.tissue:
            entry["bed_mean_Gy"] = float(np.nanmean(bed[inside]))
            values = bed[inside]
            entry["bed_D98_Gy"] = dose_at_volume(values[np.isfinite(values)], 98)
        regions[region.name] = entry
    table = dvh_table(dose, study.labels, names)
    bed_tissue = {r.label: r.name for r in study.regions if r.tissue}
    if bed_tissue:
        import pandas as pd

        table = pd.concat([table, dvh_table(bed, study.labels, bed_tissue, quantity="bed")], ignore_index=True)
    band, uncertainty = None, None
    if study.uncertainty is not None and fits:
        band, uncertainty = dose_uncertainty(voxel.tia_MBq_h, study, fits, regions, **study.uncertainty,
                                             dose_Gy=dose)
    return ImageDoseResult(study, voxel.tia_MBq_h, voxel.decay_constant_per_day, dose, bed, regions, table, voxel.method,
                           activities, fits, band, partial_volume, uncertainty)


def write_outputs(result: ImageDoseResult, out: str | Path) -> dict[str, str]:
    """Maps as NIfTI (tia, dose, bed), DVHs as Parquet, the summary as JSON; returns the files written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    affine = result.study.reference.affine
    files = {"tia": write_nifti(result.tia_MBq_h, folder / "tia_MBq_h.nii.gz", affine),
             "dose": write_nifti(result.dose_Gy, folder / "dose_Gy.nii.gz", affine),
             "bed": write_nifti(result.bed_Gy, folder / "bed_Gy.nii.gz", affine)}
    for registration in result.study.registrations:
        key = registration.field.replace("[", "_").replace("]", "")
        files[f"transform_{key}"] = write_transform(registration, folder, f"transform_{key}")
    files["dvh"] = folder / "dvh.parquet"
    result.dvh.to_parquet(files["dvh"], index=False)
    if result.dvh_band is not None:
        files["dvh_band"] = folder / "dvh_band.parquet"
        result.dvh_band.to_parquet(files["dvh_band"], index=False)
    files["summary"] = folder / "image_dose.json"
    paths = {key: str(value) for key, value in files.items()}
    summary = {**result.summary(), "files": paths}
    files["summary"].write_text(json.dumps(summary, indent=2, allow_nan=False, default=float))
    return paths


def image_dose(study_file: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Load, run and (with ``out``) write a study; the summary as a JSON-ready dict."""
    result = run_study(load_study(study_file))
    summary = result.summary()
    if out is not None:
        summary["files"] = write_outputs(result, out)
    return summary
