"""DICOM input (pydicom): SPECT/PET and CT series into a :class:`~.volume.Volume`, DICOM-SEG and RTSTRUCT into a
label map.

**Orientation.** DICOM positions are in the patient's LPS frame (+x left, +y posterior, +z head; PS3.3 C.7.6.2.1.1);
a :class:`Volume` keeps the NIfTI convention, RAS+ (+x right, +y anterior). The reader builds the DICOM
voxel → LPS matrix and turns it into RAS by negating its first two rows: ``affine_RAS = diag(-1, -1, 1, 1) ·
affine_LPS``. Voxel index order is also NIfTI's (what nibabel and dcm2niix write): ``i`` = column (along the row
direction cosines, Image Orientation (Patient) [0:3]), ``j`` = row (along [3:6]), ``k`` = slice, slices sorted along
the normal ``row × column``. The same patient point therefore has the same voxel value whichever format it came in.

**Series.** One folder = one series (else an error naming the series found): single-frame slices (PT, CT, NM) sorted
by position, equally spaced along the normal (within :data:`SLICE_TOLERANCE_MM`) and not tilted; or one multi-frame
NM file (reconstructed tomography: frame ``k`` at Image Position + k · Spacing Between Slices · normal, geometry from
the Detector Information Sequence; PS3.3 C.8.4.10; a negative spacing stacks the frames against the normal,
C.8.4.15, and the frames are then reversed so that ``k`` always runs along the normal). Pixel values are rescaled
per file (Rescale Slope/Intercept), or by the Real World Value Mapping Sequence when it carries
activity-concentration units (quantitative SPECT).

**Units.** Units (0054,1001) ``BQML`` → ``Bq/mL``; ``CNTS`` → ``counts`` (calibration factor and acquisition duration
from the study, as for NIfTI); anything else (``GML`` = SUV, ``PROPCNTS``…) is refused; no Units tag → the study
must say.
Decay correction (0054,1102) ``START`` or ``NONE`` is accepted (values at scan time); ``ADMIN`` (corrected to the
administration) is refused, since the kinetics need the activity present at each scan. The decay-correction
attributes are reported.

**Label maps.** DICOM-SEG (``BINARY``, ``FRACTIONAL`` — a voxel belongs to a segment when its fraction is ≥ 0.5 —
or ``LABELMAP``), frames on the image grid; RTSTRUCT closed planar contours rasterised onto the image grid: a voxel
belongs to a contour when its **centre** is inside the polygon by the even–odd (crossing-number) rule (a centre on
an edge: see :func:`points_in_polygon`), so several contours of one ROI on one plane make holes; each image slice
takes the contours of the nearest contour plane (the lower one on a tie) within half the median contour-plane spacing
(half a slice for a single plane). Where regions overlap, the smaller region wins (lesions inside organs inside a
body outline). Regions are matched to segments/ROIs by name (``roi:`` in the study when the names differ).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import InputError
from .volume import GRID_TOLERANCE_MM, Volume

#: LPS ↔ RAS (an involution).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Largest deviation (mm) of a slice position from an equally spaced, untilted stack.
SLICE_TOLERANCE_MM = 0.01
#: Largest difference between two direction cosines for the orientations to count as the same.
ORIENTATION_TOLERANCE = 1e-4
#: Fraction at or above which a voxel of a FRACTIONAL segment belongs to the segment.
FRACTIONAL_THRESHOLD = 0.5
#: DICOM Units (0054,1001) accepted, and the study units each stands for.
DICOM_UNITS = {"BQML": "Bq/mL", "CNTS": "counts"}
_RWV_UNITS = {"bq/ml": "Bq/mL", "kbq/ml": "kBq/mL", "mbq/ml": "MBq/mL"}
_ACTIVITY_MODALITIES = ("NM", "PT")
_SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


def is_dicom(path: str | Path) -> bool:
    """True for a folder (a DICOM series) or a file with the DICOM preamble (``DICM`` at byte 128)."""
    path = Path(path)
    if path.is_dir():
        return True
    if not path.is_file() or path.name.endswith((".nii", ".nii.gz")):
        return False
    with open(path, "rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def _pydicom():
    try:
        import pydicom
    except ImportError:  # pragma: no cover - the imaging extra installs it
        raise InputError("dicom", "pydicom not installed", "pip install 'rptici[imaging]' (pydicom>=3.0)") from None
    return pydicom


def _datasets(path: Path, field: str, stop_before_pixels: bool = False) -> list[Any]:
    """Every DICOM file in ``path`` (a folder, not recursive, or one file); other files are skipped."""
    pydicom = _pydicom()
    from pydicom.errors import InvalidDicomError

    if not path.exists():
        raise InputError(field, str(path), "an existing DICOM folder or file")
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    datasets = []
    for file in files:
        try:
            dataset = pydicom.dcmread(file, stop_before_pixels=stop_before_pixels)
        except InvalidDicomError:  # not DICOM (a README, a NIfTI beside the series): skipped
            continue
        except Exception as error:  # DICOM, but truncated or malformed
            raise InputError(field, str(file), f"a readable DICOM file ({type(error).__name__}: {error})") from None
        if getattr(dataset, "file_meta", None) is not None and \
                str(dataset.file_meta.get("MediaStorageSOPClassUID", "")) == "1.2.840.10008.1.3.10":
            continue  # DICOMDIR
        datasets.append(dataset)
    if not datasets:
        raise InputError(field, str(path), "a folder or file holding DICOM files")
    return datasets


def _one_series(datasets: list[Any], field: str, path: Path) -> list[Any]:
    series: dict[str, int] = {}
    for dataset in datasets:
        uid = str(dataset.get("SeriesInstanceUID", "?"))
        series[uid] = series.get(uid, 0) + 1
    if len(series) > 1:
        found = ", ".join(f"{uid} ({n} files, {_modality(d)})" for uid, n in sorted(series.items(), key=lambda kv: (-kv[1], kv[0]))
                          for d in [next(x for x in datasets if str(x.get("SeriesInstanceUID", "?")) == uid)])
        raise InputError(f"{field}.SeriesInstanceUID", f"{len(series)} series in {path.name}",
                         f"one DICOM series per folder (found {found}; put each series in its own folder)")
    return datasets


def _modality(dataset: Any) -> str:
    return str(dataset.get("Modality", "?"))


def _floats(value: Any, count: int, field: str, name: str) -> np.ndarray:
    try:
        array = np.array([float(v) for v in value], float)
    except (TypeError, ValueError):
        raise InputError(f"{field}.{name}", value, f"{count} numbers") from None
    if array.size != count or not np.all(np.isfinite(array)):
        raise InputError(f"{field}.{name}", value, f"{count} finite numbers")
    return array


def _orientation(value: Any, field: str) -> tuple[np.ndarray, np.ndarray]:
    cosines = _floats(value, 6, field, "ImageOrientationPatient")
    row, column = cosines[:3], cosines[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(column) - 1) > 1e-3 or abs(row @ column) > 1e-3:
        raise InputError(f"{field}.ImageOrientationPatient", value.__repr__(), "two orthogonal unit direction cosines")
    return row / np.linalg.norm(row), column / np.linalg.norm(column)


def _affine_lps(position: np.ndarray, row: np.ndarray, column: np.ndarray, pixel_spacing: np.ndarray,
                slice_step: np.ndarray) -> np.ndarray:
    """Voxel (i = column index, j = row index, k = slice) → LPS mm. Pixel Spacing is (row spacing, column spacing)."""
    affine = np.eye(4)
    affine[:3, 0] = row * pixel_spacing[1]
    affine[:3, 1] = column * pixel_spacing[0]
    affine[:3, 2] = slice_step
    affine[:3, 3] = position
    return affine


def _pixels(dataset: Any, field: str) -> np.ndarray:
    try:
        return np.asarray(dataset.pixel_array)
    except Exception as error:  # compressed without a decoder, truncated data...
        raise InputError(f"{field}.PixelData", type(error).__name__, f"readable pixel data ({error})") from None


def _rescaled(dataset: Any, pixels: np.ndarray, units: str | None) -> tuple[np.ndarray, str | None, str]:
    """Pixel values × slope + intercept: the Real World Value Mapping when it gives activity units, else Rescale."""
    mappings = dataset.get("RealWorldValueMappingSequence")
    if units is None and mappings:
        for item in mappings:
            codes = item.get("MeasurementUnitsCodeSequence")
            code = str(codes[0].get("CodeValue", "")) if codes else ""
            if code.lower() in _RWV_UNITS:
                slope = float(item.get("RealWorldValueSlope", 1.0))
                intercept = float(item.get("RealWorldValueIntercept", 0.0))
                return pixels * slope + intercept, _RWV_UNITS[code.lower()], f"real world value mapping ({code})"
    slope = float(dataset.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(dataset.get("RescaleIntercept", 0.0) or 0.0)
    return pixels * slope + intercept, units, "rescale slope/intercept"


def _units(dataset: Any, field: str) -> str | None:
    value = dataset.get("Units")
    if value is None or str(value).strip() == "":
        return None
    value = str(value).strip().upper()
    if value not in DICOM_UNITS:
        meaning = " (SUV: activity per body weight, not activity)" if value == "GML" else ""
        raise InputError(f"{field}.Units", value + meaning,
                         "BQML (Bq/mL) or CNTS (counts, with calibration_cps_per_MBq and acquisition_duration_s "
                         "in the study); SUV and other units cannot give activity")
    return DICOM_UNITS[value]


def _decay(dataset: Any, field: str) -> dict[str, Any]:
    """Decay-correction and radiopharmaceutical attributes, reported with the image."""
    report: dict[str, Any] = {}
    for name in ("DecayCorrection", "DecayFactor", "CorrectedImage", "SeriesDate", "SeriesTime", "AcquisitionDate",
                 "AcquisitionTime", "AcquisitionDateTime", "FrameReferenceTime", "ActualFrameDuration"):
        if name in dataset and dataset.get(name) not in (None, ""):
            value = dataset.get(name)
            report[name] = list(map(str, value)) if name == "CorrectedImage" and not isinstance(value, str) else str(value)
    info = dataset.get("RadiopharmaceuticalInformationSequence")
    if info:
        item = info[0]
        for name in ("Radiopharmaceutical", "RadiopharmaceuticalStartDateTime", "RadiopharmaceuticalStartTime",
                     "RadionuclideTotalDose", "RadionuclideHalfLife"):
            if item.get(name) not in (None, ""):
                report[name] = str(item.get(name))
        codes = item.get("RadionuclideCodeSequence")
        if codes and codes[0].get("CodeMeaning"):
            report["Radionuclide"] = str(codes[0].CodeMeaning)
    hours = _hours_after_administration(dataset, info[0] if info else None)
    if hours is not None:
        report["hours_after_administration"] = round(hours, 4)
    correction = str(report.get("DecayCorrection", "")).upper()
    if correction == "ADMIN":
        raise InputError(f"{field}.DecayCorrection", "ADMIN",
                         "START or NONE: images decay-corrected to the administration time lose the physical decay "
                         "the kinetics need; export them corrected to the scan start or uncorrected")
    return report


def _datetime(date: Any, time: Any = None):
    """A DICOM DT, or DA + TM, as a naive datetime (None when absent or unreadable)."""
    from datetime import datetime

    text = str(date or "").strip() + (str(time or "").strip() if time is not None else "")
    text = text.split("&")[0].split("+")[0]
    if len(text) < 12 or (time is not None and not str(time or "").strip()):
        return None
    whole, _, fraction = text.partition(".")
    try:
        moment = datetime.strptime(whole[:14].ljust(14, "0"), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return moment.replace(microsecond=int(fraction[:6].ljust(6, "0"))) if fraction.isdigit() else moment


def _hours_after_administration(dataset: Any, item: Any) -> float | None:
    """Scan start (Acquisition Date Time, Acquisition or Series Date + Time) minus the radiopharmaceutical start."""
    if item is None:
        return None
    given = _datetime(item.get("RadiopharmaceuticalStartDateTime"))
    if given is None and item.get("RadiopharmaceuticalStartTime"):
        given = _datetime(dataset.get("SeriesDate"), item.get("RadiopharmaceuticalStartTime"))
    scan = (_datetime(dataset.get("AcquisitionDateTime"))
            or _datetime(dataset.get("AcquisitionDate"), dataset.get("AcquisitionTime"))
            or _datetime(dataset.get("SeriesDate"), dataset.get("SeriesTime")))
    if given is None or scan is None:
        return None
    return (scan - given).total_seconds() / 3600.0


def _multiframe_geometry(dataset: Any, field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    detector = dataset.get("DetectorInformationSequence")
    source = detector[0] if detector and "ImagePositionPatient" in detector[0] else dataset
    if "ImagePositionPatient" not in source or "ImageOrientationPatient" not in source:
        raise InputError(f"{field}.ImagePositionPatient", None, "a multi-frame image with Image Position and "
                         "Orientation (Patient) (in the Detector Information Sequence for NM)")
    position = _floats(source.ImagePositionPatient, 3, field, "ImagePositionPatient")
    row, column = _orientation(source.ImageOrientationPatient, field)
    # PS3.3 C.8.4.15: the sign of Spacing Between Slices gives the stacking direction (negative: in front of the first
    # slice, i.e. against row × column; some GE reconstructions); Slice Thickness only when it is absent
    step = dataset.get("SpacingBetweenSlices")
    if step is None or float(step) == 0:
        step = dataset.get("SliceThickness")
        if step is None or not float(step) > 0:
            raise InputError(f"{field}.SpacingBetweenSlices", step, "a non-zero slice spacing (mm) for a multi-frame image")
    if not np.isfinite(float(step)):
        raise InputError(f"{field}.SpacingBetweenSlices", step, "a finite slice spacing (mm)")
    return position, row, column, float(step)


def read_dicom_series(path: str | Path, field: str, modalities: Sequence[str] = ("NM", "PT")) -> Volume:
    """One DICOM series (folder or multi-frame file) as a :class:`Volume` (RAS+ affine), with ``meta``:
    modality, units (``Bq/mL``, ``counts`` or None), frame of reference, series UID, rescale, decay attributes."""
    path = Path(path)
    datasets = _one_series(_datasets(path, f"{field}.file"), field, path)
    first = datasets[0]
    modality = _modality(first)
    if modality not in modalities:
        raise InputError(f"{field}.Modality", modality, "one of " + ", ".join(modalities) + " for this input")
    if str(first.SOPClassUID).startswith("1.2.840.10008.5.1.4.1.1.130") or "PerFrameFunctionalGroupsSequence" in first:
        raise InputError(f"{field}.SOPClassUID", str(first.SOPClassUID),
                         "classic single-frame PET/CT/NM slices or an NM multi-frame image (enhanced multi-frame "
                         "images are not read)")
    units = _units(first, field) if modality in _ACTIVITY_MODALITIES else None
    frames = int(first.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        if len(datasets) > 1:
            raise InputError(f"{field}.NumberOfFrames", f"{len(datasets)} multi-frame files in one series",
                             "one multi-frame file per series")
        position, row, column, step = _multiframe_geometry(first, field)
        vector = first.get("SliceVector")
        if vector is not None and [int(v) for v in vector] != list(range(1, frames + 1)):
            raise InputError(f"{field}.SliceVector", "frames that are not slices 1…N in order",
                             "a multi-frame image of one energy window, detector and time slot (slices 1…N)")
        spacing = _floats(first.PixelSpacing, 2, field, "PixelSpacing")
        pixels = _pixels(first, field).reshape(frames, int(first.Rows), int(first.Columns)).astype(float)
        stack, units, scaling = _rescaled(first, pixels, units)
        normal = np.cross(row, column)
        if step < 0:   # stacked against the normal: reverse, so that k runs along row × column as for slices
            stack, position, step = stack[::-1], position + normal * step * (frames - 1), -step
        affine = _affine_lps(position, row, column, spacing, normal * step)
    else:
        stack, affine, scaling, units = _slice_stack(datasets, field, units)
    data = np.ascontiguousarray(np.transpose(stack, (2, 1, 0)))   # (k, row, column) → (i = column, j = row, k)
    meta = {"format": "DICOM", "modality": modality, "units": units, "scaling": scaling,
            "frame_of_reference_uid": str(first.get("FrameOfReferenceUID", "")) or None,
            "series_instance_uid": str(first.get("SeriesInstanceUID", "")), "files": len(datasets),
            "decay": _decay(first, field) if modality in _ACTIVITY_MODALITIES else {}}
    return Volume(data, LPS_TO_RAS @ affine, field, meta)


def _slice_stack(datasets: list[Any], field: str, units: str | None):
    first = datasets[0]
    for dataset in datasets:
        for key in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Rows", "Columns", "PixelData"):
            if key not in dataset:
                raise InputError(f"{field}.{key}", f"missing in {Path(str(dataset.filename)).name}",
                                 "slices with Image Position/Orientation (Patient), Pixel Spacing and pixel data "
                                 "(a truncated file?)")
    row, column = _orientation(first.ImageOrientationPatient, field)
    spacing = _floats(first.PixelSpacing, 2, field, "PixelSpacing")
    shape = (int(first.Rows), int(first.Columns))
    normal = np.cross(row, column)
    positions = []
    for dataset in datasets:
        other_row, other_column = _orientation(dataset.ImageOrientationPatient, field)
        if max(np.abs(other_row - row).max(), np.abs(other_column - column).max()) > ORIENTATION_TOLERANCE:
            raise InputError(f"{field}.ImageOrientationPatient", list(map(float, dataset.ImageOrientationPatient)),
                             f"the orientation of the series' first slice, {np.round(np.r_[row, column], 5).tolist()}")
        if np.abs(_floats(dataset.PixelSpacing, 2, field, "PixelSpacing") - spacing).max() > GRID_TOLERANCE_MM or \
                (int(dataset.Rows), int(dataset.Columns)) != shape:
            raise InputError(f"{field}.PixelSpacing", [list(map(float, dataset.PixelSpacing)), dataset.Rows, dataset.Columns],
                             f"the pixel spacing and size of the first slice, {spacing.tolist()}, {list(shape)}")
        positions.append(_floats(dataset.ImagePositionPatient, 3, field, "ImagePositionPatient"))
    positions = np.array(positions)
    distance = positions @ normal
    order = np.argsort(distance, kind="stable")
    positions, distance = positions[order], distance[order]
    datasets = [datasets[i] for i in order]
    if len(datasets) == 1:
        step_value = first.get("SpacingBetweenSlices") or first.get("SliceThickness")
        if step_value is None or not float(step_value) > 0:
            raise InputError(f"{field}.SliceThickness", step_value, "a positive slice thickness for a one-slice image")
        step = float(step_value)
    else:
        gaps = np.diff(distance)
        if np.any(gaps < SLICE_TOLERANCE_MM):
            raise InputError(f"{field}.ImagePositionPatient", f"{int(np.sum(gaps < SLICE_TOLERANCE_MM)) + 1} slices at "
                             f"one position ({distance[1:][gaps < SLICE_TOLERANCE_MM][0]:.3f} mm along the normal)",
                             "one slice per position (a 3-D image; dynamic or gated series are not read)")
        step = (distance[-1] - distance[0]) / (len(distance) - 1)
        if np.max(np.abs(gaps - step)) > SLICE_TOLERANCE_MM:
            raise InputError(f"{field}.slice_spacing_mm", np.round(gaps, 4).tolist(),
                             f"equally spaced slices (within {SLICE_TOLERANCE_MM} mm; nothing is resampled)")
        expected = positions[0] + np.outer(distance - distance[0], normal)
        tilt = np.max(np.linalg.norm(positions - expected, axis=1))
        if tilt > SLICE_TOLERANCE_MM:
            raise InputError(f"{field}.ImagePositionPatient", f"slices offset {tilt:.3g} mm from the normal",
                             "slices stacked along the normal of their orientation (no gantry tilt)")
    slices, scaling, found = [], "", set()
    for dataset in datasets:
        header = _units(dataset, field) if _modality(dataset) in _ACTIVITY_MODALITIES else None
        if header != units:
            raise InputError(f"{field}.Units", header, f"the units of the series' first slice, {units}")
        values, value_units, scaling = _rescaled(dataset, _pixels(dataset, field).astype(float), units)
        found.add(value_units)
        slices.append(values)
    if len(found) > 1:
        raise InputError(f"{field}.RealWorldValueMappingSequence", sorted(map(str, found)), "one unit for every slice")
    affine = _affine_lps(positions[0], row, column, spacing, normal * step)
    return np.stack(slices), affine, scaling, found.pop()


# ---------------------------------------------------------------------------------------------------------------
# Label maps: DICOM-SEG and RTSTRUCT


def _check_frame_of_reference(uid: str | None, reference: Volume, field: str) -> None:
    wanted = (reference.meta or {}).get("frame_of_reference_uid")
    if uid and wanted and uid != wanted:
        raise InputError(f"{field}.FrameOfReferenceUID", uid,
                         f"the frame of reference of {reference.name}, {wanted} (label maps must be drawn on the "
                         "registered images)")


def _reference_lps(reference: Volume) -> np.ndarray:
    return LPS_TO_RAS @ reference.affine


def read_dicom_labels(path: str | Path, regions: Iterable[tuple[int, str, str]], reference: Volume,
                      field: str = "labels") -> Volume:
    """A DICOM-SEG or RTSTRUCT as an integer label map on ``reference``'s grid.

    ``regions``: (label, region name, segment/ROI name) triples; every named segment/ROI must exist and be non-empty.
    """
    path = Path(path)
    datasets = [d for d in _datasets(path, f"{field}.file")
                if str(d.get("SOPClassUID", "")) in (_SEG_CLASS, _RTSTRUCT_CLASS)]
    if len(datasets) != 1:
        raise InputError(f"{field}.file", f"{len(datasets)} DICOM-SEG/RTSTRUCT objects in {path.name}",
                         "exactly one DICOM-SEG or RTSTRUCT (a file, or a folder holding one)")
    dataset = datasets[0]
    regions = list(regions)
    if str(dataset.SOPClassUID) == _SEG_CLASS:
        masks, available = _segment_masks(dataset, reference, field, [r[2] for r in regions])
    else:
        masks, available = _roi_masks(dataset, reference, field, [r[2] for r in regions])
    missing = [name for _, _, name in regions if name not in masks]
    if missing:
        raise InputError(f"{field}.regions", missing, "segment/ROI names present in the file "
                         f"(found: {sorted(available)}); name regions as the file does, or give roi: NAME")
    empty = [name for _, name, source in regions if not masks[source].any()]
    if empty:
        raise InputError(f"{field}.regions", empty, "regions with at least one voxel on the image grid")
    labels = np.zeros(reference.shape, np.int32)
    # larger regions first, so that a smaller region inside a larger one (lesion in organ, organ in body) wins
    for label, _, source in sorted(regions, key=lambda r: -int(masks[r[2]].sum())):
        labels[masks[source]] = label
    meta = {"format": "DICOM", "modality": _modality(dataset), "frame_of_reference_uid":
            str(dataset.get("FrameOfReferenceUID", "")) or None,
            "not_used": sorted(set(available) - {source for _, _, source in regions})}
    return Volume(labels, reference.affine.copy(), field, meta)


def _segment_masks(dataset: Any, reference: Volume, field: str, wanted: list[str]):
    _check_frame_of_reference(str(dataset.get("FrameOfReferenceUID", "")) or None, reference, field)
    names: dict[int, str] = {}
    for segment in dataset.get("SegmentSequence", []):
        label = str(segment.get("SegmentLabel", "") or "").strip()
        if not label:
            raise InputError(f"{field}.SegmentSequence[{int(segment.SegmentNumber)}].SegmentLabel", None,
                             "a segment label (the region name)")
        names[int(segment.SegmentNumber)] = label
    kind = str(dataset.get("SegmentationType", "BINARY")).upper()
    if kind not in ("BINARY", "FRACTIONAL", "LABELMAP"):
        raise InputError(f"{field}.SegmentationType", kind, "BINARY, FRACTIONAL or LABELMAP")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    pixels = _pixels(dataset, field).reshape(frames, int(dataset.Rows), int(dataset.Columns))
    shared = dataset.get("SharedFunctionalGroupsSequence")
    shared = shared[0] if shared else None
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or [None] * frames
    affine = _reference_lps(reference)
    inverse = np.linalg.inv(affine)
    ni, nj, nk = reference.shape
    if (int(dataset.Columns), int(dataset.Rows)) != (ni, nj):
        raise InputError(f"{field}.Rows", [int(dataset.Rows), int(dataset.Columns)],
                         f"frames of the image's size, {nj} rows × {ni} columns")
    maximum = float(dataset.get("MaximumFractionalValue", 255) or 255)
    masks = {name: np.zeros(reference.shape, bool) for name in names.values() if name in wanted}
    for index in range(frames):
        groups = per_frame[index]

        def item(sequence: str, index=index, groups=groups):
            for source in (groups, shared):
                if source is not None and source.get(sequence):
                    return source.get(sequence)[0]
            raise InputError(f"{field}.frame[{index}].{sequence}", None, "per-frame or shared functional groups")

        row, column = _orientation(item("PlaneOrientationSequence").ImageOrientationPatient, field)
        spacing = _floats(item("PixelMeasuresSequence").PixelSpacing, 2, field, "PixelSpacing")
        expected = affine[:3, :2] / np.linalg.norm(affine[:3, :2], axis=0)
        if max(np.abs(row - expected[:, 0]).max(), np.abs(column - expected[:, 1]).max()) > ORIENTATION_TOLERANCE:
            raise InputError(f"{field}.ImageOrientationPatient", np.r_[row, column].round(5).tolist(),
                             f"the orientation of {reference.name} (LPS {expected.T.ravel().round(5).tolist()})")
        if np.abs(spacing[::-1] - np.linalg.norm(affine[:3, :2], axis=0)).max() > GRID_TOLERANCE_MM:
            raise InputError(f"{field}.PixelSpacing", spacing.tolist(), f"the pixel spacing of {reference.name}")
        position = _floats(item("PlanePositionSequence").ImagePositionPatient, 3, field, "ImagePositionPatient")
        voxel = inverse @ np.r_[position, 1.0]
        k = int(round(voxel[2]))
        if np.abs(voxel[:2]).max() * min(reference.spacing_mm) > GRID_TOLERANCE_MM * 10 or \
                abs(voxel[2] - k) * reference.spacing_mm[2] > SLICE_TOLERANCE_MM or not 0 <= k < nk:
            raise InputError(f"{field}.frame[{index}].ImagePositionPatient", position.round(3).tolist(),
                             f"a slice position of {reference.name}'s grid (voxel {np.round(voxel[:3], 3).tolist()})")
        frame = pixels[index].T
        if kind == "LABELMAP":
            for number, name in names.items():
                if name in masks:
                    masks[name][:, :, k] |= frame == number
            continue
        number = int(item("SegmentIdentificationSequence").ReferencedSegmentNumber)
        if number not in names:
            raise InputError(f"{field}.frame[{index}].ReferencedSegmentNumber", number, f"one of {sorted(names)}")
        if names[number] in masks:
            inside = frame >= FRACTIONAL_THRESHOLD * maximum if kind == "FRACTIONAL" else frame > 0
            masks[names[number]][:, :, k] |= inside
    return masks, set(names.values())


def points_in_polygon(x: np.ndarray, y: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even–odd (crossing-number) test of points (x, y) against a closed polygon (n, 2) — W. R. Franklin's PNPOLY:
    a point is inside when a ray towards +x crosses the boundary an odd number of times. A point on the boundary of
    an axis-aligned rectangle is inside on its low-x and low-y edges and outside on its high ones (half-open), so two
    contours sharing an edge never both take a voxel."""
    inside = np.zeros(np.broadcast(x, y).shape, bool)
    x0, y0 = polygon[-1]
    for x1, y1 in polygon:
        straddles = (y1 > y) != (y0 > y)
        if np.any(straddles):
            crossing = (x0 - x1) * (y - y1) / np.where(y0 == y1, 1.0, y0 - y1) + x1
            inside ^= straddles & (x < crossing)
        x0, y0 = x1, y1
    return inside


def _roi_masks(dataset: Any, reference: Volume, field: str, wanted: list[str]):
    rois: dict[int, str] = {}
    for roi in dataset.get("StructureSetROISequence", []):
        name = str(roi.get("ROIName", "") or "").strip()
        if not name:
            raise InputError(f"{field}.StructureSetROISequence[ROI {int(roi.ROINumber)}].ROIName", None,
                             "an ROI name (the region name)")
        rois[int(roi.ROINumber)] = name
        if name in wanted:
            _check_frame_of_reference(str(roi.get("ReferencedFrameOfReferenceUID", "")) or None, reference,
                                      f"{field}.{name}")
    inverse = np.linalg.inv(_reference_lps(reference))
    ni, nj, nk = reference.shape
    masks = {}
    for item in dataset.get("ROIContourSequence", []):
        name = rois.get(int(item.ReferencedROINumber))
        if name not in wanted:
            continue
        planes: dict[float, list[np.ndarray]] = {}
        for number, contour in enumerate(item.get("ContourSequence", [])):
            where = f"{field}.{name}.contour[{number}]"
            if str(contour.get("ContourGeometricType", "CLOSED_PLANAR")) != "CLOSED_PLANAR":
                continue  # points and open curves enclose no voxels
            points = np.asarray([float(v) for v in contour.ContourData], float).reshape(-1, 3)
            voxel = (inverse @ np.c_[points, np.ones(len(points))].T)[:3].T
            spread = np.ptp(voxel[:, 2]) * reference.spacing_mm[2]
            if spread > SLICE_TOLERANCE_MM:
                raise InputError(where, f"contour spans {spread:.3g} mm across the slices",
                                 f"contours in the slice planes of {reference.name} (same orientation)")
            low, high = voxel.min(axis=0), voxel.max(axis=0)
            if np.any(low < -0.5) or high[0] > ni - 0.5 or high[1] > nj - 0.5 or high[2] > nk - 0.5:
                raise InputError(where, f"voxel extent {np.round(low, 2).tolist()} … {np.round(high, 2).tolist()}",
                                 f"a contour inside the image grid {list(reference.shape)} of {reference.name}")
            planes.setdefault(round(float(voxel[:, 2].mean()), 6), []).append(voxel[:, :2])
        masks[name] = _rasterise(planes, reference.shape)
    return masks, set(rois.values())


def _rasterise(planes: dict[float, list[np.ndarray]], shape: tuple[int, ...]) -> np.ndarray:
    """Each image slice takes the contours of the nearest contour plane within half the contour-plane spacing."""
    mask = np.zeros(shape, bool)
    if not planes:
        return mask
    levels = np.array(sorted(planes))
    half = 0.5 * (float(np.median(np.diff(levels))) if levels.size > 1 else 1.0)
    for k in range(int(np.floor(levels[0] - half)), int(np.ceil(levels[-1] + half)) + 1):
        if not 0 <= k < shape[2]:
            continue
        nearest = levels[np.argmin(np.abs(levels - k))]
        if abs(nearest - k) > half + 1e-9:
            continue
        for polygon in planes[float(nearest)]:
            lo = np.clip(np.floor(polygon.min(axis=0)).astype(int), 0, None)
            hi = np.minimum(np.ceil(polygon.max(axis=0)).astype(int), np.array(shape[:2]) - 1)
            i, j = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
            inside = points_in_polygon(i.astype(float), j.astype(float), polygon)
            mask[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, k] ^= inside
    return mask
