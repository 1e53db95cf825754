"""Images on a voxel grid: NIfTI in and out (nibabel), grid checks, activity from counts.

A :class:`Volume` is a 3-D array with its NIfTI affine (voxel indices → scanner mm, RAS+). Every image of a study
must share the first image's grid — shape, voxel size and orientation — within :data:`GRID_TOLERANCE_MM`: the
scans are assumed to be already registered and resampled (nothing here registers or resamples, and nothing is
rescaled silently). Activity images are in Bq/mL (``units: Bq/mL``) or in counts with a calibration factor
(counts per second per MBq) and the acquisition duration (s), the EANM/MIRD quantitative-SPECT convention
(Ljungberg et al. 2016 J Nucl Med 57:151, MIRD Pamphlet 26):

    A_voxel (MBq) = C_voxel / (calibration · duration)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import InputError

#: Largest difference (mm) between two affines' entries for the grids to count as the same.
GRID_TOLERANCE_MM = 1e-3
#: Activity units accepted for an image.
ACTIVITY_UNITS = ("Bq/mL", "kBq/mL", "MBq/mL", "counts")
_TO_MBQ_PER_ML = {"Bq/mL": 1e-6, "kBq/mL": 1e-3, "MBq/mL": 1.0}


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D image: ``data`` indexed (i, j, k), ``affine`` 4×4 (mm, RAS+), ``name`` for error messages, ``meta`` what
    the file said about itself (DICOM: modality, units, frame of reference, decay correction; NIfTI: nothing)."""

    data: np.ndarray
    affine: np.ndarray
    name: str = "image"
    meta: Mapping[str, Any] = dataclass_field(default_factory=dict)

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size (mm) along i, j, k: the lengths of the affine's columns."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def spacing_cm(self) -> tuple[float, float, float]:
        return tuple(v / 10.0 for v in self.spacing_mm)

    @property
    def voxel_volume_ml(self) -> float:
        """Voxel volume (mL = cm³): |det| of the affine's 3×3 part, in mm³ / 1000."""
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


def read_nifti(path: str | Path, field: str) -> Volume:
    """Read a 3-D NIfTI image (``.nii`` or ``.nii.gz``); a 4-D image with one frame is squeezed."""
    import nibabel

    path = Path(path)
    if not path.is_file():
        raise InputError(field, str(path), "an existing NIfTI file (.nii or .nii.gz)")
    try:
        image = nibabel.load(str(path))
    except Exception as error:  # nibabel raises several types for unreadable files
        raise InputError(field, str(path), f"a readable NIfTI file ({error})") from None
    data = np.asanyarray(image.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(field, f"{path.name}: shape {data.shape}", "a 3-D image")
    affine = np.asarray(image.affine, float)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) <= 0:
        raise InputError(field, f"{path.name}: affine {affine.tolist()}", "a finite, invertible voxel-to-mm affine")
    return Volume(data, affine, field)


def read_image(path: str | Path, field: str, modalities: tuple[str, ...] = ("NM", "PT")) -> Volume:
    """A NIfTI file, or a DICOM series (a folder, or a multi-frame DICOM file) by :mod:`.dicom`."""
    from .dicom import is_dicom, read_dicom_series

    if not Path(path).exists():
        raise InputError(field, str(path), "an existing NIfTI file (.nii, .nii.gz), DICOM series folder or DICOM file")
    if is_dicom(path):
        return read_dicom_series(path, field, modalities)
    return read_nifti(path, field)


def write_nifti(volume: Volume | np.ndarray, path: str | Path, affine: np.ndarray | None = None) -> Path:
    """Write ``volume`` (or an array with ``affine``) as NIfTI (float32 for floating data)."""
    import nibabel

    data = volume.data if isinstance(volume, Volume) else np.asarray(volume)
    matrix = volume.affine if isinstance(volume, Volume) else np.asarray(affine, float)
    if np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float32)
    path = Path(path)
    nibabel.save(nibabel.Nifti1Image(data, matrix), str(path))
    return path


def check_same_grid(reference: Volume, other: Volume) -> None:
    """Raise :class:`InputError` naming ``other`` unless it has ``reference``'s shape, voxel size and orientation."""
    if other.shape != reference.shape:
        raise InputError(f"{other.name}.shape", list(other.shape),
                         f"the grid of {reference.name}, {list(reference.shape)} (images must be registered "
                         "and resampled to one grid)")
    spacing, wanted = np.array(other.spacing_mm), np.array(reference.spacing_mm)
    if np.max(np.abs(spacing - wanted)) > GRID_TOLERANCE_MM:
        raise InputError(f"{other.name}.voxel_spacing_mm", [round(float(v), 4) for v in spacing],
                         f"the voxel size of {reference.name}, {[round(float(v), 4) for v in wanted]} mm")
    difference = np.max(np.abs(other.affine[:3, :] - reference.affine[:3, :]))
    if difference > GRID_TOLERANCE_MM:
        raise InputError(f"{other.name}.affine", np.round(other.affine, 3).tolist(),
                         f"the orientation and origin of {reference.name} within {GRID_TOLERANCE_MM} mm "
                         f"(differs by {difference:.3g} mm)")


def activity_mbq(volume: Volume, units: str, calibration_cps_per_mbq: float | None = None,
                 duration_s: float | None = None, field: str | None = None) -> np.ndarray:
    """Activity per voxel (MBq) from an image in ``units`` (one of :data:`ACTIVITY_UNITS`).

    Counts need ``calibration_cps_per_mbq`` (counts/s per MBq) and ``duration_s``; concentrations are multiplied
    by the voxel volume. Negative voxels (reconstruction noise) are kept: they average out in regions.
    """
    field = field or volume.name
    data = np.asarray(volume.data, dtype=float)
    if not np.all(np.isfinite(data)):
        raise InputError(f"{field}.data", "NaN or infinite voxels", "finite voxel values")
    if units == "counts":
        for name, value, allowed in (("calibration_cps_per_MBq", calibration_cps_per_mbq,
                                      "the system's calibration factor in counts/s per MBq (positive)"),
                                     ("acquisition_duration_s", duration_s, "the acquisition duration in s (positive)")):
            if value is None or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"{field}.{name}", value, allowed + " for an image in counts")
        return data / (float(calibration_cps_per_mbq) * float(duration_s))
    if units not in _TO_MBQ_PER_ML:
        raise InputError(f"{field}.units", units, "one of " + ", ".join(ACTIVITY_UNITS))
    return data * _TO_MBQ_PER_ML[units] * volume.voxel_volume_ml


def read_labels(path: str | Path, names: dict[int, str], field: str = "labels") -> Volume:
    """Read an integer label map; every non-zero label in it must be named in ``names`` (label → region)."""
    volume = read_nifti(path, field)
    data = np.asarray(volume.data)
    if not np.all(np.isfinite(data)) or np.any(np.round(data) != data) or np.any(data < 0):
        raise InputError(f"{field}.data", "non-integer or negative labels", "non-negative integer labels (0 = background)")
    labels = data.astype(np.int32)
    present = sorted(int(v) for v in np.unique(labels) if v != 0)
    unknown = [v for v in present if v not in names]
    if unknown:
        raise InputError(f"{field}.regions", unknown, "labels named in the study's regions "
                         f"(named: {sorted(names)}); every label in the map needs a region")
    missing = [name for value, name in names.items() if value not in present]
    if missing:
        raise InputError(f"{field}.regions", missing, "regions whose label occurs in the label map")
    return Volume(labels, volume.affine, field)
