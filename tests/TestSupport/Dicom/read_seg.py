#!/usr/bin/python3
"""Reads a DICOM SEG with pydicom: frames.npy (frames, rows, columns) uint8 and seg.json describing
each segment and each frame (segment number, referenced source SOP instance, image position).

usage: read_seg.py SEG.dcm OUT_DIR
"""
import json, os, sys
import numpy as np
import pydicom

ds = pydicom.dcmread(sys.argv[1])
out = sys.argv[2]
os.makedirs(out, exist_ok=True)
frames = ds.pixel_array.astype(np.uint8)
if frames.ndim == 2: frames = frames[None]
np.save(os.path.join(out, "frames.npy"), frames)
segments = [{
    "number": int(s.SegmentNumber), "label": str(s.SegmentLabel), "description": str(s.SegmentDescription),
    "category": str(s.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning),
    "type": str(s.SegmentedPropertyTypeCodeSequence[0].CodeValue) + " " + str(s.SegmentedPropertyTypeCodeSequence[0].CodeMeaning),
    "lab": [int(v) for v in s.RecommendedDisplayCIELabValue],
} for s in ds.SegmentSequence]
per_frame = [{
    "segment": int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber),
    "source": str(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID),
    "position": [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient],
} for f in ds.PerFrameFunctionalGroupsSequence]
shared = ds.SharedFunctionalGroupsSequence[0]
json.dump({
    "sopClass": str(ds.SOPClassUID), "modality": str(ds.Modality), "patientName": str(ds.PatientName), "patientId": str(ds.PatientID),
    "study": str(ds.StudyInstanceUID), "frameOfReference": str(ds.FrameOfReferenceUID),
    "referencedSeries": str(ds.ReferencedSeriesSequence[0].SeriesInstanceUID),
    "orientation": [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
    "pixelSpacing": [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing],
    "segments": segments, "frames": per_frame,
}, open(os.path.join(out, "seg.json"), "w"))
