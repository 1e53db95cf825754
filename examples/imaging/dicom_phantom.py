"""Write the phantom study (make_phantom_study.py) as DICOM too: SPECT as NM multi-frame, CT as CT slices, the label
map as DICOM-SEG (or RTSTRUCT), with pydicom; and a study file pointing at them.

    python examples/imaging/dicom_phantom.py OUT_FOLDER [--labels seg|rtstruct] [--shape 64 64 48]
    rptici image-dose OUT_FOLDER/study_dicom.yaml --out OUT_FOLDER/out_dicom

The writers below are small and independent of ``rptici.imaging.dicom`` (they go from the NIfTI RAS+ affine to DICOM
LPS positions and direction cosines by themselves), so the tests can read back what they write and compare with the
NIfTI files. They write what the reader needs, not every Type 1/2 attribute of the IODs (no patient module contents,
no acquisition context); a conformance checker such as dciodvfy would complain.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Mapping, Sequence

import nibabel
import numpy as np
import yaml
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

SOP_CLASS = {"NM": "1.2.840.10008.5.1.4.1.1.20", "PT": "1.2.840.10008.5.1.4.1.1.128", "CT": "1.2.840.10008.5.1.4.1.1.2",
             "SEG": "1.2.840.10008.5.1.4.1.1.66.4", "RTSTRUCT": "1.2.840.10008.5.1.4.1.1.481.3"}
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])   # RAS <-> LPS


def uid(*parts) -> str:
    """A deterministic UID from ``parts`` (the same phantom gives the same files)."""
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _ds(value: float) -> str:
    return format_number_as_ds(float(value))


def _geometry(affine_ras: np.ndarray):
    """LPS origin, row and column direction cosines, pixel spacing (row, column) and the slice step vector."""
    lps = FLIP @ np.asarray(affine_ras, float)
    di, dj = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    row, column = lps[:3, 0] / di, lps[:3, 1] / dj
    return lps[:3, 3], row, column, (dj, di), lps[:3, 2]


def _base(modality: str, sop_instance: str, study_uid: str, series_uid: str, frame_of_reference: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SOP_CLASS[modality]
    ds.file_meta.MediaStorageSOPInstanceUID = sop_instance
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = SOP_CLASS[modality], sop_instance, modality
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_of_reference
    ds.PatientName, ds.PatientID, ds.SeriesNumber = "Phantom^RPTICI", "phantom-01", 1
    return ds


def _pixel_module(ds: Dataset, rows: int, columns: int, signed: bool = True) -> None:
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, int(signed)


def _stored(values: np.ndarray, intercept: float = 0.0) -> tuple[np.ndarray, float]:
    """int16 pixels and a slope: slope 1 when the values are whole numbers in range, else 32000 steps of the maximum."""
    shifted = values - intercept
    if np.all(shifted == np.round(shifted)) and np.abs(shifted).max(initial=0) <= 32767:
        return shifted.astype(np.int16), 1.0
    slope = float(np.abs(shifted).max()) / 32000.0 or 1.0
    return np.round(shifted / slope).astype(np.int16), slope


def write_series(data: np.ndarray, affine_ras: np.ndarray, folder: str | Path, *, modality: str = "PT",
                 units: str | None = "BQML", multiframe: bool = False, frame_of_reference: str | None = None,
                 study_uid: str | None = None, name: str = "series", intercept: float = 0.0,
                 extra: Mapping[str, object] | None = None, radiopharmaceutical: Mapping[str, object] | None = None,
                 file_order: Sequence[int] | None = None, negative_spacing: bool = False) -> Path:
    """Write a volume (i, j, k) with its RAS+ affine as a DICOM series in ``folder``.

    Single-frame slices (one file per k, each with its own rescale slope) or one NM multi-frame file (frames along
    the normal row × column; a volume whose k axis runs the other way is flipped first, or, with
    ``negative_spacing``, written as it is with a negative Spacing Between Slices, PS3.3 C.8.4.15). ``file_order`` writes the
    slice files under names in another order (the reader must sort by position, not by name).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = np.asarray(data, float)
    origin, row, column, spacing, step = _geometry(affine_ras)
    normal = np.cross(row, column)
    study_uid = study_uid or uid("study", name)
    frame_of_reference = frame_of_reference or uid("for", name)
    series_uid = uid("series", name, modality)

    def common(ds: Dataset) -> None:
        ds.ImageOrientationPatient = [_ds(v) for v in np.r_[row, column]]
        ds.PixelSpacing = [_ds(v) for v in spacing]
        ds.SliceThickness = _ds(np.linalg.norm(step))
        if units is not None:
            ds.Units = units
        if radiopharmaceutical:
            item = Dataset()
            for key, value in radiopharmaceutical.items():
                setattr(item, key, value)
            ds.RadiopharmaceuticalInformationSequence = DicomSequence([item])
        for key, value in (extra or {}).items():
            setattr(ds, key, value)

    if multiframe:
        sign = 1.0
        if step @ normal < 0 and negative_spacing:
            sign, step = -1.0, -step
        elif step @ normal < 0:   # frames must run along +normal: flip k
            data, origin, step = data[:, :, ::-1], origin + step * (data.shape[2] - 1), -step
        ds = _base(modality, uid("sop", name, 0), study_uid, series_uid, frame_of_reference)
        frames = np.transpose(data, (2, 1, 0))          # (k, row = j, column = i)
        stored, slope = _stored(frames, intercept)
        _pixel_module(ds, frames.shape[1], frames.shape[2])
        ds.NumberOfFrames = frames.shape[0]
        ds.FrameIncrementPointer = 0x00540080           # Slice Vector
        ds.SliceVector = list(range(1, frames.shape[0] + 1))
        ds.NumberOfSlices = frames.shape[0]
        ds.SpacingBetweenSlices = _ds(sign * np.linalg.norm(step))
        ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
        detector = Dataset()
        detector.ImagePositionPatient = [_ds(v) for v in origin]
        detector.ImageOrientationPatient = [_ds(v) for v in np.r_[row, column]]
        ds.DetectorInformationSequence = DicomSequence([detector])
        ds.RescaleSlope, ds.RescaleIntercept = _ds(slope), _ds(intercept)
        common(ds)
        ds.PixelData = stored.tobytes()
        path = folder / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        return folder
    order = list(file_order) if file_order is not None else list(range(data.shape[2]))
    for number, k in enumerate(order):
        ds = _base(modality, uid("sop", name, k), study_uid, series_uid, frame_of_reference)
        pixels = data[:, :, k].T
        stored, slope = _stored(pixels, intercept)
        _pixel_module(ds, pixels.shape[0], pixels.shape[1])
        ds.ImagePositionPatient = [_ds(v) for v in origin + k * step]
        ds.InstanceNumber = k + 1
        ds.RescaleSlope, ds.RescaleIntercept = _ds(slope), _ds(intercept)
        if modality == "CT":
            ds.RescaleType = "HU"
        common(ds)
        ds.PixelData = stored.tobytes()
        ds.save_as(folder / f"slice_{number:04d}.dcm", enforce_file_format=True)
    return folder


def write_seg(labels: np.ndarray, names: Mapping[int, str], affine_ras: np.ndarray, path: str | Path, *,
              frame_of_reference: str, study_uid: str | None = None, fractional: bool = False) -> Path:
    """A DICOM-SEG (BINARY, or FRACTIONAL with 255 inside) of an integer label map: one frame per segment and
    non-empty slice, segments numbered 1… in the order of ``names``, labelled with the names."""
    origin, row, column, spacing, step = _geometry(affine_ras)
    ds = _base("SEG", uid("seg", path), study_uid or uid("study", "seg"), uid("series", "seg", path), frame_of_reference)
    ds.SegmentationType = "FRACTIONAL" if fractional else "BINARY"
    segments, frames, per_frame = [], [], []
    for number, (label, name) in enumerate(names.items(), start=1):
        item = Dataset()
        item.SegmentNumber, item.SegmentLabel, item.SegmentAlgorithmType = number, name, "MANUAL"
        segments.append(item)
        for k in range(labels.shape[2]):
            mask = labels[:, :, k].T == label
            if not mask.any():
                continue
            frames.append(mask)
            group = Dataset()
            identification, position = Dataset(), Dataset()
            identification.ReferencedSegmentNumber = number
            position.ImagePositionPatient = [_ds(v) for v in origin + k * step]
            group.SegmentIdentificationSequence = DicomSequence([identification])
            group.PlanePositionSequence = DicomSequence([position])
            per_frame.append(group)
    ds.SegmentSequence = DicomSequence(segments)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    shared, orientation, measures = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [_ds(v) for v in np.r_[row, column]]
    measures.PixelSpacing = [_ds(v) for v in spacing]
    measures.SliceThickness = _ds(np.linalg.norm(step))
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    stack = np.array(frames)
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = stack.shape[1], stack.shape[2], 1, "MONOCHROME2"
    ds.NumberOfFrames, ds.PixelRepresentation = stack.shape[0], 0
    if fractional:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.MaximumFractionalValue, ds.SegmentationFractionalType = 255, "PROBABILITY"
        ds.PixelData = (stack.astype(np.uint8) * 255).tobytes()
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
        ds.PixelData = pack_bits(stack.astype(np.uint8).ravel())
    ds.save_as(path, enforce_file_format=True)
    return Path(path)


def run_contours(mask: np.ndarray, affine_ras: np.ndarray) -> list[np.ndarray]:
    """Closed planar contours (LPS mm, (n, 3)) tracing ``mask``'s voxels: one rectangle per run of voxels along i in
    each row j of each slice k, edges half a voxel from the centres (so centre-inside rasterisation gives ``mask``)."""
    lps = FLIP @ np.asarray(affine_ras, float)
    contours = []
    for k in range(mask.shape[2]):
        for j in range(mask.shape[1]):
            line = np.r_[False, mask[:, j, k], False].astype(np.int8)
            starts, ends = np.flatnonzero(np.diff(line) == 1), np.flatnonzero(np.diff(line) == -1) - 1
            for a, b in zip(starts, ends):
                corners = np.array([[a - .5, j - .5, k, 1], [b + .5, j - .5, k, 1], [b + .5, j + .5, k, 1],
                                    [a - .5, j + .5, k, 1]])
                contours.append((lps @ corners.T)[:3].T)
    return contours


def write_rtstruct(contours: Mapping[str, Sequence[np.ndarray]], path: str | Path, *, frame_of_reference: str,
                   study_uid: str | None = None) -> Path:
    """An RTSTRUCT with one ROI per name, each a list of closed planar contours in LPS mm."""
    ds = _base("RTSTRUCT", uid("rtstruct", path), study_uid or uid("study", "rt"), uid("series", "rt", path),
               frame_of_reference)
    ds.StructureSetLabel = "phantom"
    rois, roi_contours = [], []
    for number, (name, polygons) in enumerate(contours.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, frame_of_reference
        rois.append(roi)
        items = []
        for polygon in polygons:
            contour = Dataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(polygon)
            contour.ContourData = [_ds(v) for v in np.asarray(polygon).ravel()]
            items.append(contour)
        entry = Dataset()
        entry.ReferencedROINumber, entry.ContourSequence = number, DicomSequence(items)
        roi_contours.append(entry)
    ds.StructureSetROISequence, ds.ROIContourSequence = DicomSequence(rois), DicomSequence(roi_contours)
    ds.save_as(path, enforce_file_format=True)
    return Path(path)


def _phantom_module():
    spec = importlib.util.spec_from_file_location("make_phantom_study", Path(__file__).with_name("make_phantom_study.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_dicom_study(folder: str | Path, shape=(64, 64, 48), voxel_mm=4.8, seed=1, labels: str = "seg",
                     **phantom_options) -> Path:
    """The NIfTI phantom study, then the same images as DICOM and ``study_dicom.yaml``; returns that study file."""
    folder = Path(folder)
    study_file = _phantom_module().make_phantom_study(folder, shape, voxel_mm, seed, **phantom_options)
    document = yaml.safe_load(study_file.read_text())
    frame_of_reference, study_uid = uid("for", "phantom", seed), uid("study", "phantom", seed)
    for index, entry in enumerate(document["images"], start=1):
        image = nibabel.load(str(folder / entry["file"]))
        write_series(np.asarray(image.dataobj), image.affine, folder / f"dicom_spect_t{index}", modality="NM",
                     units=None, multiframe=True, frame_of_reference=frame_of_reference, study_uid=study_uid,
                     name=f"spect_t{index}", radiopharmaceutical={"Radiopharmaceutical": "Lu-177 DOTATATE",
                                                                  "RadionuclideHalfLife": _ds(6.647 * 86400)})
        entry["file"] = f"dicom_spect_t{index}"
    ct = nibabel.load(str(folder / document["ct"]["file"]))
    write_series(np.asarray(ct.dataobj), ct.affine, folder / "dicom_ct", modality="CT", units=None,
                 frame_of_reference=frame_of_reference, study_uid=study_uid, name="ct", intercept=-1024.0)
    document["ct"]["file"] = "dicom_ct"
    label_image = nibabel.load(str(folder / document["labels"]["file"]))
    label_map = np.asarray(label_image.dataobj).astype(int)
    names = {int(label): entry["name"] for label, entry in document["labels"]["regions"].items()}
    if labels == "seg":
        write_seg(label_map, names, label_image.affine, folder / "labels_seg.dcm", frame_of_reference=frame_of_reference,
                  study_uid=study_uid)
        document["labels"]["file"] = "labels_seg.dcm"
    else:
        contours = {name: run_contours(label_map == label, label_image.affine) for label, name in names.items()}
        write_rtstruct(contours, folder / "labels_rtstruct.dcm", frame_of_reference=frame_of_reference,
                       study_uid=study_uid)
        document["labels"]["file"] = "labels_rtstruct.dcm"
    target = folder / "study_dicom.yaml"
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--labels", choices=("seg", "rtstruct"), default="seg")
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 64, 48))
    parser.add_argument("--voxel-mm", type=float, default=4.8)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    print(make_dicom_study(arguments.out, tuple(arguments.shape), arguments.voxel_mm, arguments.seed, arguments.labels))


if __name__ == "__main__":
    main()
