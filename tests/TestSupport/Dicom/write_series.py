#!/usr/bin/python3
"""Writes a CT-like DICOM series from real anatomy (Colin27, Debian mricron-data) with pydicom.

usage: write_series.py OUT_DIR [--syntax implicit|explicit|big] [--oblique] [--shuffle]
         [--extra-series] [--unsigned] [--slope S]
         [--drop-position] [--gap] [--tilt] [--mixed-orientation] [--mixed-size] [--truncate] [--compressed]

The crop of Colin27 (64 columns x 72 rows x 24 slices) becomes int16 values v*6 - 1000 ("HU").
Pixel spacing 0.8 mm between rows and 0.7 mm between columns, 2.5 mm between slices, so that
swapped axes show. The refusal options each break one thing the reader must refuse.
"""
import gzip, math, os, random, sys
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid, ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, CTImageStorage

args = sys.argv[1:]
out = args[0]
flag = lambda name: name in args
def option(name, default):
    return args[args.index(name) + 1] if name in args else default

raw = gzip.open("/usr/share/mricron/templates/ch2.nii.gz").read()
colin = np.frombuffer(raw[352:], np.uint8).reshape(181, 217, 181)  # (z, y, x)
crop = colin[70:94, 80:152, 58:122].astype(np.int32) * 6 - 1000     # 24 slices, 72 rows, 64 columns
syntax = {"implicit": ImplicitVRLittleEndian, "explicit": ExplicitVRLittleEndian, "big": ExplicitVRBigEndian}[option("--syntax", "explicit")]
if flag("--compressed"): syntax = "1.2.840.10008.1.2.4.70"
slope = float(option("--slope", "1"))

def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]); ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx

r = rotation(0.25, -0.15, 0.3) if flag("--oblique") else np.eye(3)
row_dir, col_dir = r @ np.array([1.0, 0, 0]), r @ np.array([0, 1.0, 0])
normal = np.cross(row_dir, col_dir)
origin = np.array([-30.5, -60.25, 12.0])
study, series, frame = generate_uid(), generate_uid(), generate_uid()

def save(path, ds, ts):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ts
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.is_little_endian = ts != ExplicitVRBigEndian
    ds.is_implicit_VR = ts == ImplicitVRLittleEndian
    ds.save_as(path, write_like_original=False)

def slice_dataset(pixels, position, orientation, number, series_uid, series_number, description):
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20260101", "101500", "A42"
    ds.Modality, ds.SeriesDescription, ds.StudyDescription = "CT", description, "ABDOMEN"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Colin^Twentyseven", "C27", "19700101", "M"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series_uid, frame
    ds.SeriesNumber, ds.InstanceNumber = series_number, number
    if position is not None: ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in orientation]
    ds.PixelSpacing = ["0.8", "0.7"]
    ds.SliceThickness = "2.5"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    unsigned = flag("--unsigned")
    ds.PixelRepresentation = 0 if unsigned else 1
    stored = np.round((pixels + (1024 if unsigned else 0)) / slope).astype(np.uint16 if unsigned else np.int16)
    ds.RescaleIntercept, ds.RescaleSlope = ("-1024" if unsigned else "0"), f"{slope:g}"
    data = stored.astype(stored.dtype.newbyteorder(">" if syntax == ExplicitVRBigEndian else "<")).tobytes()
    if flag("--compressed"):
        ds.PixelData = encapsulate([data])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    else:
        ds.PixelData = data
        ds["PixelData"].VR = "OW"
    return ds

os.makedirs(out, exist_ok=True)
n = crop.shape[0]
keep = [k for k in range(n) if not (flag("--gap") and k == n // 2)]
names = [f"slice_{k:03d}.dcm" for k in range(n)]
if flag("--shuffle"):
    random.seed(7)
    names = [f"{random.getrandbits(48):012x}" for _ in range(n)]
for k in keep:
    position = origin + k * 2.5 * normal
    if flag("--tilt"): position = position + k * 0.6 * col_dir
    orientation = list(row_dir) + list(col_dir)
    if flag("--mixed-orientation") and k == 5:
        rr = rotation(0, 0, 0.05) @ r
        orientation = list(rr @ np.array([1.0, 0, 0])) + list(rr @ np.array([0, 1.0, 0]))
    pixels = crop[k]
    if flag("--mixed-size") and k == 7: pixels = pixels[:-2]
    number = (n - k) if flag("--shuffle") else k + 1
    ds = slice_dataset(pixels, None if (flag("--drop-position") and k == 3) else position, orientation, number, series, 2, "colin axial")
    save(os.path.join(out, names[k]), ds, syntax)
if flag("--truncate"):
    path = os.path.join(out, names[keep[-1]])
    size = os.path.getsize(path)
    with open(path, "r+b") as f: f.truncate(size - 100)
if flag("--extra-series"):
    scout = generate_uid()
    for k in range(3):
        ds = slice_dataset(colin[90 + k, 60:92, 60:92].astype(np.int32) * 6 - 1000, np.array([0.0, 0.0, 40.0 + 5 * k]), [1, 0, 0, 0, 1, 0], k + 1, scout, 7, "localizer")
        save(os.path.join(out, f"zz_scout_{k}.dcm"), ds, syntax)
print(series)
