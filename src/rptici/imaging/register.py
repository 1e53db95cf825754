"""Registration of later scans to the first, and resampling onto the first scan's grid (SimpleITK).

Multi-time-point dosimetry needs every scan on one grid and in one anatomical frame (EANM guidance, Sjögreen
Gleisner et al. 2022 EJNMMI Phys 9:2; MIRD Pamphlet 23, Dewaraja et al. 2012 J Nucl Med 53:1310). Here the first
scan is the reference (fixed image) and each later scan (moving image) is

* **rigidly registered** (:func:`register_rigid`): 6 parameters (Euler3D, centred on the reference grid's centre,
  started at identity — the scans share the scanner's frame), Mattes mutual information (Mattes et al. 2003 IEEE
  TMI 22:120; intensity relations change with time because organs wash out at different rates, so mutual
  information rather than correlation), regular-step gradient descent in three resolutions (shrink 4, 2, 1; Gaussian
  smoothing 2, 1, 1 voxels), 32 histogram bins, a regular 25 % voxel sample (at most 10⁵ voxels per level) with a
  fixed seed and one ITK thread (bit for bit the same transform), on
  the SPECTs (default; verified within 1 mm on the phantom) or on the CTs (``on: ct``; the hybrid SPECT/CT shares
  its frame with its CT; the phantom's CT, a uniform cylinder along z, verifies it less well);
* optionally **refined deformably** (:func:`register_deformable`), always on the CTs, by diffeomorphic demons (Vercauteren
  et al. 2009 NeuroImage 45:S61; Gaussian-smoothed displacement field), the field restricted to a mask (organs of the
  label map dilated by ``margin_mm``), on top of the rigid transform. Not on the SPECTs: demons assume unchanged
  intensities, and a B-spline driven by mutual information between SPECTs (tried first) moved the phantom's
  organs' edges by several mm where there was no deformation, changing region TIAs by 3–11 %;
* **resampled** onto the reference grid (:func:`resample_activity`: cubic B-spline interpolation of the
  concentration; :func:`resample_intensity`: trilinear, for HU, density and masks).

A registration that does not improve its metric, fails inside ITK, or leaves less than :data:`MIN_OVERLAP` of the
reference grid inside the moving scan raises :class:`RegistrationError` — the identity is never used silently.

**Activity conservation.** An activity map (MBq per voxel) is divided by its voxel volume (a concentration), the
concentration is averaged over m³ points inside each reference voxel (m = ⌈reference / source voxel size⌉ per axis,
at most :data:`MAX_SUBSAMPLES`; cubic B-spline interpolation at each point, so the mean approximates the integral of
the interpolant over the voxel), multiplied by the reference voxel volume and, for a deformable transform, by the Jacobian
determinant of the transform (the volume change); the fraction of the source's total activity found on the
reference grid is reported (activity outside the reference field of view is lost, never rescaled).

Frames: a :class:`~rptici.imaging.volume.Volume`'s affine is NIfTI RAS+ (mm); SimpleITK images and the transforms
written to disk are in ITK's LPS+ frame (x and y negated), so the ``.tfm`` files open in ITK tools and 3D Slicer.
A transform maps a point of the reference (fixed) scan to the same anatomical point in the later (moving) scan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .volume import GRID_TOLERANCE_MM, Volume

#: Registration modes of a study (``registration:`` in the study file).
MODES = ("none", "rigid", "rigid+deformable")
#: Images registered on: the CTs of the time points, or the SPECTs (activity maps).
MODALITIES = ("ct", "spect")
#: Least fraction of the reference grid's voxels that must fall inside the moving scan after registration.
MIN_OVERLAP = 0.5
#: Resolution levels (shrink factors) and the largest number of voxels sampled per metric evaluation (25 % of the
#: grid up to this): bounds the time per iteration on large grids.
SHRINK = (4, 2, 1)
MAX_SAMPLES = 100_000
#: Least ratio of the mutual information after registration to that of the moving scan with its voxels shuffled
#: (same histogram, no structure: the estimator's floor). Below it the scans share no structure.
MIN_MI_RATIO = 2.0
#: A scan counts as already aligned when registration ends within this relative metric difference of the start
#: (not better) and moves the reference grid's corners by less than ALIGNED_SHIFT_MM: then the start (identity)
#: is kept and a note says so; any other failure to improve raises RegistrationError.
ALIGNED_METRIC = 2e-3
ALIGNED_SHIFT_MM = 1.0
#: Largest number of sub-samples per axis when averaging a fine image into a coarse reference voxel.
MAX_SUBSAMPLES = 4
#: Sub-voxel points resampled at once (bounds the memory of resampling a fine CT: ~ 64 MiB of float32).
SLAB_POINTS = 1 << 24
#: Diffeomorphic demons: iterations and the Gaussian smoothing of the displacement field (voxels).
DEMONS_ITERATIONS = 50
DEMONS_SMOOTHING = 1.5
#: RAS+ (NIfTI) ↔ LPS+ (ITK): negate x and y.
_FLIP = np.diag([-1.0, -1.0, 1.0])


class RegistrationError(InputError):
    """A registration failed (ITK error, metric not improved, too little overlap): the message names the scan."""


def _sitk():
    try:
        import SimpleITK
    except ImportError:  # pragma: no cover - the imaging extra installs it
        raise InputError("registration", "SimpleITK not installed",
                         "the imaging extra (pip install 'rptici[imaging]', SimpleITK>=2.3)") from None
    return SimpleITK


def _geometry(affine: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origin, spacing and direction (LPS) of a RAS affine; its axes must be orthogonal (no shear)."""
    matrix = np.asarray(affine, float)[:3, :3]
    spacing = np.linalg.norm(matrix, axis=0)
    direction = _FLIP @ (matrix / spacing)
    if np.max(np.abs(direction.T @ direction - np.eye(3))) > 1e-4:
        raise InputError(f"{name}.affine", np.round(np.asarray(affine), 3).tolist(),
                         "orthogonal voxel axes (no shear) for registration and resampling")
    return _FLIP @ np.asarray(affine, float)[:3, 3], spacing, direction


def to_sitk(volume: Volume, data: np.ndarray | None = None, pixel=None):
    """``volume`` (or ``data`` on its grid) as a SimpleITK image in LPS+, float32 unless ``pixel`` is given."""
    sitk = _sitk()
    array = np.asarray(volume.data if data is None else data)
    array = array.astype(np.float32) if pixel is None else array
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    origin, spacing, direction = _geometry(volume.affine, volume.name)
    image.SetOrigin(tuple(float(v) for v in origin))
    image.SetSpacing(tuple(float(v) for v in spacing))
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    if pixel is not None:
        image = sitk.Cast(image, pixel)
    return image


def from_sitk(image) -> np.ndarray:
    """A SimpleITK image's voxels indexed (i, j, k), as a Volume's data."""
    return _sitk().GetArrayFromImage(image).transpose(2, 1, 0)


def _corners_mm(volume: Volume) -> np.ndarray:
    """The 8 corners (RAS mm) of the volume's field of view (voxel edges, not centres)."""
    shape = np.array(volume.shape[:3], float)
    corners = np.array([[a, b, c] for a in (-0.5, shape[0] - 0.5) for b in (-0.5, shape[1] - 0.5)
                        for c in (-0.5, shape[2] - 0.5)])
    return corners @ volume.affine[:3, :3].T + volume.affine[:3, 3]


def check_overlap(reference: Volume, other: Volume, field_name: str) -> None:
    """Raise :class:`InputError` when the two fields of view (axis-aligned boxes in mm) do not intersect."""
    a, b = _corners_mm(reference), _corners_mm(other)
    low, high = np.maximum(a.min(0), b.min(0)), np.minimum(a.max(0), b.max(0))
    if np.any(high <= low):
        raise InputError(f"{field_name}.affine", [[round(v, 1) for v in b.min(0)], [round(v, 1) for v in b.max(0)]],
                         f"a field of view (mm, RAS) overlapping that of {reference.name}, "
                         f"{[[round(v, 1) for v in a.min(0)], [round(v, 1) for v in a.max(0)]]}")


def overlap_fraction(reference: Volume, moving: Volume, transform, stride: int = 4) -> float:
    """Fraction of the reference grid's voxel centres (every ``stride``-th) that ``transform`` maps inside ``moving``."""
    grids = [np.arange(0, n, stride, dtype=float) for n in reference.shape[:3]]
    index = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, 3)
    points = _FLIP @ (index @ reference.affine[:3, :3].T + reference.affine[:3, 3]).T  # LPS, (3, n)
    mapped = np.array([transform.TransformPoint(tuple(p)) for p in points.T[:: max(1, len(index) // 4096)]])
    inverse = np.linalg.inv(moving.affine)
    ras = (_FLIP @ mapped.T).T
    voxel = ras @ inverse[:3, :3].T + inverse[:3, 3]
    inside = np.all((voxel >= -0.5) & (voxel <= np.array(moving.shape[:3]) - 0.5), axis=1)
    return float(inside.mean())


def rigid_matrix_ras(transform) -> np.ndarray:
    """The 4×4 matrix (RAS mm) of a rigid SimpleITK transform (fixed point → moving point)."""
    rotation = np.array(transform.GetMatrix()).reshape(3, 3)
    centre, translation = np.array(transform.GetCenter()), np.array(transform.GetTranslation())
    lps = np.eye(4)
    lps[:3, :3] = rotation
    lps[:3, 3] = translation + centre - rotation @ centre
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    return flip @ lps @ flip


def rotation_angle_deg(matrix: np.ndarray) -> float:
    """Angle (degrees) of the rotation part of a 4×4 or 3×3 matrix."""
    rotation = np.asarray(matrix)[:3, :3]
    return math.degrees(math.acos(float(np.clip((np.trace(rotation) - 1) / 2, -1.0, 1.0))))


@dataclass(eq=False)
class Registration:
    """One later scan registered to the reference: the transform (reference point → moving point, LPS)."""

    field: str
    modality: str
    transform: Any                      # SimpleITK transform (Euler3D, or composite Euler3D ∘ displacement field)
    rigid: Any                          # the rigid part (Euler3D)
    metric_initial: float
    metric_rigid: float
    metric_final: float
    overlap: float
    iterations: int
    stop: str
    deformable: dict[str, Any] | None = None
    activity_retained: float | None = None
    notes: list[str] = field(default_factory=list)
    metric_shuffled: float | None = None

    def summary(self) -> dict[str, Any]:
        matrix = rigid_matrix_ras(self.rigid)
        angles = [math.degrees(v) for v in self.rigid.GetParameters()[:3]]
        entry = {"image": self.field, "registered_on": self.modality, "metric": "Mattes mutual information",
                 "metric_initial": self.metric_initial, "metric_rigid": self.metric_rigid,
                 "metric_final": self.metric_final, "metric_moving_shuffled": self.metric_shuffled,
                 "iterations": self.iterations, "optimizer_stop": self.stop,
                 "rotation_deg": round(rotation_angle_deg(matrix), 4),
                 "euler_angles_deg_lps": [round(v, 4) for v in angles],
                 "translation_mm_ras_at_centre": [round(float(v), 4) for v in _translation_at(matrix, self.rigid)],
                 "matrix_ras": np.round(matrix, 6).tolist(), "overlap_fraction": round(self.overlap, 4)}
        if self.deformable is not None:
            entry["deformable"] = self.deformable
        if self.activity_retained is not None:
            entry["activity_retained_fraction"] = round(self.activity_retained, 5)
        if self.notes:
            entry["notes"] = list(self.notes)
        return entry


def _translation_at(matrix: np.ndarray, rigid) -> np.ndarray:
    """Displacement (RAS mm) of the rotation centre (the reference grid's centre) under the rigid matrix."""
    centre = _FLIP @ np.array(rigid.GetCenter())
    return matrix[:3, :3] @ centre + matrix[:3, 3] - centre


def _metric_setup(sitk, method, bins: int = 32, sampling: float = 0.25, seed: int = 20161) -> None:
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    method.SetMetricSamplingStrategy(method.REGULAR)
    method.SetMetricSamplingPercentage(sampling, seed)
    method.SetInterpolator(sitk.sitkLinear)
    # one thread, here and in the pyramid's filters (:func:`_execute`): ITK's threads sum in varying order, and the
    # same study must give the same numbers
    method.SetNumberOfThreads(1)


def _prepare(volume: Volume, data: np.ndarray | None = None, field_name: str = "image"):
    """Registration input as a float32 image; an image without contrast cannot be registered."""
    values = np.asarray(volume.data if data is None else data)
    if not np.all(np.isfinite(values)) or float(np.ptp(values)) <= 0:
        raise RegistrationError(f"{field_name}.registration", f"{volume.name}: uniform or non-finite values",
                                "an image with structure to register (finite, not constant)")
    return to_sitk(volume, data)


def _execute(sitk, method, fixed, moving, field_name: str, stage: str):
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    try:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        initial = method.MetricEvaluate(fixed, moving)
        transform = method.Execute(fixed, moving)
        return initial, transform
    except RuntimeError as error:
        message = str(error).strip().splitlines()
        reason = next((line.strip() for line in reversed(message) if "description" in line.lower()),
                      message[-1] if message else "ITK error")
        raise RegistrationError(f"{field_name}.registration", f"{stage} failed: {reason.split(':', 1)[-1].strip()}",
                                "images with shared structure and overlapping fields of view") from None
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def check_improved(field_name: str, stage: str, initial: float, final: float, require_decrease: bool = True,
                   shuffled: float | None = None) -> None:
    """Raise :class:`RegistrationError` unless the metric (−MI) decreased and the mutual information is at least
    :data:`MIN_MI_RATIO` times that of a structure-free (shuffled) moving scan (``shuffled``, its metric value)."""
    if shuffled is not None and math.isfinite(final) and -final < MIN_MI_RATIO * max(-shuffled, 0.0):
        raise RegistrationError(f"{field_name}.registration", f"{stage}: mutual information {-final:.3g} nats, "
                                f"{-shuffled:.3g} with the moving scan's voxels shuffled",
                                f"at least {MIN_MI_RATIO:g}× the shuffled scan's (the scans share no structure: "
                                "wrong file, empty scan, or no overlap)")
    if not math.isfinite(final) or (require_decrease and not final < initial):
        raise RegistrationError(f"{field_name}.registration",
                                f"{stage}: Mattes MI {final:.6g} after vs {initial:.6g} before",
                                "a registration that improves its metric (the identity is never used silently; "
                                "check the images, or set registration: none if they are already aligned)")


def register_rigid(fixed: Volume, moving: Volume, field_name: str, modality: str = "spect",
                   fixed_data: np.ndarray | None = None, moving_data: np.ndarray | None = None) -> Registration:
    """Rigid (6-parameter) registration of ``moving`` to ``fixed``; :class:`RegistrationError` unless it improves."""
    sitk = _sitk()
    check_overlap(fixed, moving, field_name)
    fixed_image = _prepare(fixed, fixed_data, field_name)
    moving_image = _prepare(moving, moving_data, field_name)
    centre = fixed_image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in fixed_image.GetSize()])
    initial = sitk.Euler3DTransform()
    initial.SetCenter(centre)
    method = sitk.ImageRegistrationMethod()
    _metric_setup(sitk, method)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-4, numberOfIterations=300,
                                                    relaxationFactor=0.6, gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(SHRINK))
    method.SetSmoothingSigmasPerLevel([2, 1, 1])
    voxels = float(np.prod(fixed.shape[:3]))
    method.SetMetricSamplingPercentagePerLevel([min(0.25, MAX_SAMPLES * f**3 / voxels) for f in SHRINK], 20161)
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(initial, inPlace=False)
    metric_initial, result = _execute(sitk, method, fixed_image, moving_image, field_name, "rigid registration")
    rigid = sitk.Euler3DTransform(sitk.CompositeTransform(result).GetNthTransform(0)) \
        if result.GetName() == "CompositeTransform" else sitk.Euler3DTransform(result)
    check = sitk.ImageRegistrationMethod()
    _metric_setup(sitk, check)
    check.SetInitialTransform(rigid, inPlace=False)
    metric_final = check.MetricEvaluate(fixed_image, moving_image)
    shuffled_values = np.random.default_rng(20161).permutation(from_sitk(moving_image).ravel()).reshape(moving.shape[:3])
    shuffled_image = to_sitk(moving, shuffled_values)
    metric_shuffled = check.MetricEvaluate(fixed_image, shuffled_image)
    notes = []
    corners = _FLIP @ _corners_mm(fixed).T
    shift = max(float(np.linalg.norm(np.array(rigid.TransformPoint(tuple(c))) - c)) for c in corners.T)
    if not metric_final < metric_initial and abs(metric_final - metric_initial) <= ALIGNED_METRIC * abs(metric_initial) \
            and shift < ALIGNED_SHIFT_MM:
        notes.append(f"{field_name}: already aligned — the optimum ({shift:.2f} mm at the grid's corners, metric "
                     f"{metric_final:.5g}) is no better than the start ({metric_initial:.5g}); the start (identity) is kept")
        rigid = sitk.Euler3DTransform(initial)
        metric_final = metric_initial
        check_improved(field_name, "rigid registration", metric_initial, metric_final, False, metric_shuffled)
    else:
        check_improved(field_name, "rigid registration", metric_initial, metric_final, True, metric_shuffled)
    overlap = overlap_fraction(fixed, moving, rigid)
    if overlap < MIN_OVERLAP:
        raise RegistrationError(f"{field_name}.registration", f"overlap {overlap:.2f} after rigid registration",
                                f"at least {MIN_OVERLAP:.0%} of {fixed.name}'s grid inside the registered scan")
    return Registration(field_name, modality, rigid, rigid, float(metric_initial), float(metric_final),
                        float(metric_final), overlap, int(method.GetOptimizerIteration()),
                        method.GetOptimizerStopConditionDescription(), notes=notes,
                        metric_shuffled=float(metric_shuffled))


def register_deformable(fixed: Volume, moving: Volume, registration: Registration, mask: np.ndarray,
                        iterations: int = DEMONS_ITERATIONS, smoothing_voxels: float = DEMONS_SMOOTHING) -> Registration:
    """Diffeomorphic-demons refinement of two CTs after ``registration``'s rigid transform, restricted to ``mask``.

    The moving CT is resampled through the rigid transform onto the fixed CT's grid; demons (Vercauteren et al.
    2009 NeuroImage 45:S61; CT numbers do not change between sessions, which demons assume) give a displacement
    field smoothed by a Gaussian of ``smoothing_voxels``; the field is multiplied by the mask smoothed by one voxel
    (1 inside, 0 away from it), so only the masked organs deform. Refused unless the mean squared HU difference
    inside the mask decreases and the Jacobian determinant stays positive (no folding).
    """
    from scipy.ndimage import gaussian_filter

    sitk = _sitk()
    field_name = registration.field
    mask = np.asarray(mask, bool)
    if mask.shape != fixed.shape[:3]:
        raise InputError("registration.mask", list(mask.shape), f"a mask on the grid of {fixed.name}, "
                                                                f"{list(fixed.shape[:3])}")
    if not mask.any():
        raise InputError("registration.mask", "no voxels", "a mask with at least one voxel")
    fixed_image = _prepare(fixed, None, field_name)
    moving_image = _prepare(moving, None, field_name)
    resampled = sitk.Resample(moving_image, fixed_image, registration.rigid, sitk.sitkLinear, -1000.0)
    demons = sitk.DiffeomorphicDemonsRegistrationFilter()
    demons.SetNumberOfIterations(int(iterations))
    demons.SetSmoothDisplacementField(True)
    demons.SetStandardDeviations(float(smoothing_voxels))
    try:
        field = demons.Execute(fixed_image, resampled)
    except RuntimeError as error:
        raise RegistrationError(f"{field_name}.registration", f"deformable registration failed: "
                                f"{str(error).strip().splitlines()[-1]}", "CTs with shared structure") from None
    weight = gaussian_filter(mask.astype(float), 1.0)
    u = sitk.GetArrayFromImage(field) * weight.transpose(2, 1, 0)[..., None]
    masked = sitk.GetImageFromArray(u, isVector=True)
    masked.CopyInformation(fixed_image)
    displacement = sitk.DisplacementFieldTransform(sitk.Cast(masked, sitk.sitkVectorFloat64))
    composite = sitk.CompositeTransform(registration.rigid)
    composite.AddTransform(displacement)  # applied first: x → x + u(x) → rigid(...)
    fixed_hu = from_sitk(fixed_image).astype(float)
    before = float(np.mean((from_sitk(resampled) - fixed_hu)[mask] ** 2))
    after = float(np.mean((from_sitk(sitk.Resample(moving_image, fixed_image, composite, sitk.sitkLinear, -1000.0))
                           - fixed_hu)[mask] ** 2))
    if not after < before:
        raise RegistrationError(f"{field_name}.registration",
                                f"deformable: mean squared HU difference in the mask {after:.4g} after vs {before:.4g}",
                                "a deformable refinement that improves the match inside the mask")
    jacobian = displacement_jacobian(displacement, fixed)
    magnitude = np.linalg.norm(u, axis=-1).transpose(2, 1, 0)
    deformable = {"model": "diffeomorphic demons on the CTs, masked", "iterations": int(iterations),
                  "field_smoothing_voxels": float(smoothing_voxels), "mask_voxels": int(mask.sum()),
                  "msd_in_mask_before_HU2": round(before, 3), "msd_in_mask_after_HU2": round(after, 3),
                  "max_displacement_mm": round(float(magnitude.max()), 3),
                  "mean_displacement_in_mask_mm": round(float(magnitude[mask].mean()), 3),
                  "jacobian_min": round(float(jacobian.min()), 4), "jacobian_max": round(float(jacobian.max()), 4)}
    if jacobian.min() <= 0:
        raise RegistrationError(f"{field_name}.registration", f"deformation folds (Jacobian min {jacobian.min():.3g})",
                                "an invertible deformation")
    return Registration(field_name, registration.modality, composite, registration.rigid, registration.metric_initial,
                        registration.metric_rigid, registration.metric_final, registration.overlap,
                        registration.iterations, registration.stop, deformable, notes=list(registration.notes),
                        metric_shuffled=registration.metric_shuffled)


def _subsamples(source: Volume, reference: Volume) -> tuple[int, int, int]:
    ratio = np.array(reference.spacing_mm) / np.min(source.spacing_mm)
    return tuple(int(min(MAX_SUBSAMPLES, max(1, math.ceil(v - 1e-6)))) for v in ratio)


def _resample_mean(data: np.ndarray, source: Volume, reference: Volume, transform, default: float,
                   cubic: bool = False) -> np.ndarray:
    """Mean of the trilinear (or cubic B-spline) interpolant of ``data`` over each reference voxel, by slabs."""
    sitk = _sitk()
    image = to_sitk(source, data)
    origin, spacing, direction = _geometry(reference.affine, reference.name)
    sub = np.array(_subsamples(source, reference))
    fine_spacing = spacing / sub
    shape = np.array(reference.shape[:3])
    slab = max(1, int(SLAB_POINTS // (np.prod(shape[:2] * sub[:2]) * sub[2])))
    out = np.empty(tuple(shape), np.float64)
    transform = transform if transform is not None else sitk.Transform(3, sitk.sitkIdentity)
    for k0 in range(0, shape[2], slab):
        k1 = min(shape[2], k0 + slab)
        # the first sub-point of voxel (0, 0, k0) lies (1 − 1/m)/2 voxel before its centre along each axis
        offset = np.array([-(1 - 1 / m) / 2 for m in sub]) + np.array([0, 0, k0])
        fine_origin = origin + direction @ (offset * spacing)
        size = [int(v) for v in (shape[0] * sub[0], shape[1] * sub[1], (k1 - k0) * sub[2])]
        fine = sitk.Resample(image, size, transform, sitk.sitkBSpline if cubic else sitk.sitkLinear, tuple(float(v) for v in fine_origin),
                             tuple(float(v) for v in fine_spacing), tuple(float(v) for v in direction.ravel()),
                             float(default), sitk.sitkFloat64)
        values = from_sitk(fine).reshape(shape[0], sub[0], shape[1], sub[1], k1 - k0, sub[2])
        out[:, :, k0:k1] = values.mean(axis=(1, 3, 5))
    return out


def _jacobian(transform, reference: Volume) -> np.ndarray | None:
    """det(I + ∂u/∂x) of the deformable part of a composite (rigid ∘ displacement) transform on the reference grid
    (the rigid part has determinant 1); None for a rigid transform. Central differences in mm (``np.gradient``)."""
    sitk = _sitk()
    if transform is None or transform.GetName() != "CompositeTransform":
        return None
    composite = sitk.CompositeTransform(transform)
    deformation = composite.GetNthTransform(composite.GetNumberOfTransforms() - 1)
    return displacement_jacobian(deformation, reference)


def displacement_jacobian(transform, reference: Volume) -> np.ndarray:
    """Jacobian determinant of x → transform(x) on the reference grid, from its displacement field (LPS mm)."""
    sitk = _sitk()
    origin, spacing, direction = _geometry(reference.affine, reference.name)
    field = sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64, list(reference.shape[:3]),
                                              tuple(origin), tuple(spacing), tuple(direction.ravel()))
    u = sitk.GetArrayFromImage(field).transpose(2, 1, 0, 3)         # (i, j, k, component)
    steps = np.linalg.inv(direction * spacing)                      # index per mm: rows index axes
    grads = np.stack(np.gradient(u, axis=(0, 1, 2)), axis=-1)       # (..., component c, index axis a)
    jac = np.eye(3) + grads @ steps                                 # ∂u_c/∂x_b = Σ_a ∂u_c/∂i_a ∂i_a/∂x_b
    return np.linalg.det(jac)


def resample_activity(activity_mbq: np.ndarray, source: Volume, reference: Volume,
                      transform=None) -> tuple[np.ndarray, float]:
    """Activity per voxel (MBq) of ``source``'s grid onto ``reference``'s through ``transform`` (None: same frame).

    Concentration (MBq/mL), interpolated by cubic B-splines (Unser 1999 IEEE Signal Process Mag 16:22: less
    smoothing than trilinear, which loses 9 % of a 11 mm lesion's TIA here) and averaged over each reference voxel,
    × reference voxel volume × Jacobian determinant (deformable only). Returns the map and the fraction of the source's total activity on the reference grid.
    """
    concentration = np.asarray(activity_mbq, float) / source.voxel_volume_ml
    mean = _resample_mean(concentration, source, reference, transform, 0.0, cubic=True)
    jacobian = _jacobian(transform, reference)
    if jacobian is not None:
        mean = mean * jacobian
    result = mean * reference.voxel_volume_ml
    total = float(np.sum(activity_mbq))
    return result, (float(result.sum()) / total if total > 0 else float("nan"))


def resample_intensity(data: np.ndarray, source: Volume, reference: Volume, transform=None,
                       outside: float = 0.0) -> np.ndarray:
    """An intensive quantity (HU, density g/mL) averaged over each reference voxel; ``outside`` beyond the scan."""
    return _resample_mean(np.asarray(data, float), source, reference, transform, outside)


def same_grid(reference: Volume, other: Volume) -> bool:
    """Whether ``other`` is on ``reference``'s grid (shape and affine within the grid tolerance)."""
    return other.shape[:3] == reference.shape[:3] and \
        float(np.max(np.abs(other.affine[:3, :] - reference.affine[:3, :]))) <= GRID_TOLERANCE_MM


def write_transform(registration: Registration, folder: str | Path, stem: str) -> Path:
    """Write the transform (reference point → moving point, LPS): ITK text ``.tfm`` when rigid, HDF5 ``.h5`` with
    the displacement field when deformable."""
    path = Path(folder) / (stem + (".h5" if registration.deformable is not None else ".tfm"))
    _sitk().WriteTransform(registration.transform, str(path))
    return path


@dataclass(frozen=True)
class RegistrationSpec:
    """The study's ``registration:`` entry."""

    mode: str = "none"
    on: str | None = None                     # ct, spect, or None: ct when every scan has a CT
    mask_regions: tuple[str, ...] = ()
    mask_file: str | None = None
    margin_mm: float = 10.0


_SPEC_KEYS = ("method", "on", "mask", "mask_file", "margin_mm")


def parse_registration(value: Any) -> RegistrationSpec:
    """``none`` (default), ``rigid``, ``rigid+deformable``, or a mapping {method, on, mask, mask_file, margin_mm}."""
    if value is None:
        return RegistrationSpec()
    if isinstance(value, str):
        value = {"method": value}
    if not isinstance(value, dict):
        raise InputError("registration", value, "one of " + ", ".join(MODES) + " or {method, on, mask, mask_file, "
                                                                           "margin_mm}")
    unknown = sorted(set(value) - set(_SPEC_KEYS))
    if unknown:
        raise InputError("registration", unknown, "only the keys " + ", ".join(_SPEC_KEYS))
    mode = value.get("method", "rigid")
    if mode not in MODES:
        raise InputError("registration.method", mode, "one of " + ", ".join(MODES))
    on = value.get("on")
    if on is not None and on not in MODALITIES:
        raise InputError("registration.on", on, "ct (every image has a ct) or spect")
    numbers = {}
    for key, default in (("margin_mm", 10.0),):
        number = value.get(key, default)
        if not isinstance(number, (int, float)) or isinstance(number, bool) or not math.isfinite(number) or number <= 0:
            raise InputError(f"registration.{key}", number, "a positive length in mm")
        numbers[key] = float(number)
    mask = value.get("mask", ())
    mask = (mask,) if isinstance(mask, str) else mask
    if not isinstance(mask, (list, tuple)) or not all(isinstance(name, str) for name in mask):
        raise InputError("registration.mask", mask, "a list of region names of the label map")
    mask_file = value.get("mask_file")
    if mode != "rigid+deformable" and (mask or mask_file):
        raise InputError("registration.mask", list(mask) or mask_file, "a mask only with method rigid+deformable")
    if mode == "rigid+deformable" and not (mask or mask_file):
        raise InputError("registration.mask", None, "the regions (mask: [kidney_left, ...]) or a mask_file that "
                                                    "restrict the deformable refinement")
    return RegistrationSpec(mode, on, tuple(mask), mask_file, numbers["margin_mm"])


def region_mask(labels: Volume, regions: dict[str, int], names: tuple[str, ...], margin_mm: float) -> np.ndarray:
    """The named regions of the label map dilated by ``margin_mm`` (Euclidean distance in mm)."""
    from scipy.ndimage import distance_transform_edt

    unknown = [name for name in names if name not in regions]
    if unknown:
        raise InputError("registration.mask", unknown, f"region names of the label map ({', '.join(regions)})")
    inside = np.isin(labels.data, [regions[name] for name in names])
    return distance_transform_edt(~inside, sampling=labels.spacing_mm) <= margin_mm


def register_series(volumes: list[Volume], activities: list[np.ndarray], cts: list[Volume | None],
                    spec: RegistrationSpec, mask: np.ndarray | None = None) -> tuple[np.ndarray, list[Registration]]:
    """Register every later scan to the first and resample its activity onto the first scan's grid.

    ``cts[i]`` is scan i's CT or None. The rigid stage is on the SPECTs unless ``spec.on`` is ``ct``; the deformable
    stage is always on the CTs. Returns the activities (times, *grid) MBq on the reference grid and the registrations.
    """
    reference = volumes[0]
    on = spec.on or "spect"
    if on == "ct" or spec.mode == "rigid+deformable":
        missing = [f"images[{i}].ct" for i, ct in enumerate(cts) if ct is None]
        if missing:
            raise InputError(missing[0], None, f"a CT for every scan with registration {spec.mode} on ct (the first "
                                               "scan's may be the study's ct)")
    registered, results = [np.asarray(activities[0], float)], []
    for index in range(1, len(volumes)):
        where = f"images[{index}]"
        if on == "ct":
            fixed, moving = cts[0], cts[index]
            check_overlap(reference, volumes[index], where)
            result = register_rigid(fixed, moving, where, "ct")
        else:
            result = register_rigid(reference, volumes[index], where, "spect", activities[0], activities[index])
        if spec.mode == "rigid+deformable":
            result = register_deformable(cts[0], cts[index], result, _mask_on(mask, reference, cts[0]))
        values, retained = resample_activity(activities[index], volumes[index], reference, result.transform)
        result.activity_retained = retained
        registered.append(values)
        results.append(result)
    return np.stack(registered), results


def _mask_on(mask: np.ndarray, reference: Volume, target: Volume) -> np.ndarray:
    """The mask (on the reference SPECT grid) on the reference CT's grid (nearest neighbour, same frame)."""
    if same_grid(reference, target):
        return mask
    return resample_intensity(mask.astype(float), reference, target) >= 0.5
