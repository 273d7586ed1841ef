#!/usr/bin/python3
"""The Python path the pipeline replaces, for bench/run.sh: fastMRI's reconstruction in numpy (h5py
reads, x = fftshift(ifft2(ifftshift(k))) orthonormal, RSS over coils, centre crop), the flip, the
SPEC 5.1 int16 scaling of the original labelling conversion, and one DICOM file per slice written
with pydicom, as that script did.

    python_path.py VOLUME.h5 OUTDIR
"""
import os
import sys

import h5py
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def main():
    src, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    with h5py.File(src, "r") as f:
        ks = f["kspace"]
        h, w = f["reconstruction_rss"].shape[-2:] if "reconstruction_rss" in f else (320, 320)
        imgs = []
        for s in range(ks.shape[0]):
            k = ks[s]
            if k.dtype.names:
                k = k["r"] + 1j * k["i"]
            if k.ndim == 2:
                k = k[None]
            x = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), axes=(-2, -1),
                                             norm="ortho"), axes=(-2, -1))
            img = np.sqrt(np.sum(np.abs(x) ** 2, axis=0)).astype(np.float32)
            H, W = img.shape
            r0, c0 = (H - h) // 2, (W - w) // 2
            imgs.append(img[r0:r0 + h, c0:c0 + w][::-1, :])
    v = np.stack(imgs)
    p = np.percentile(v, 99.9)
    s32 = np.float32(1024.0 / p)
    px = np.trunc(np.clip(s32 * v, np.float32(0), np.float32(1024))).astype(np.int16)
    ww = 2.0 * (np.percentile(px, 99.9) - np.percentile(px, 0.1))
    study, series = generate_uid(), generate_uid()
    for i in range(px.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality = "MR"
        ds.PatientID = os.path.basename(src)
        ds.InstanceNumber = i + 1
        ds.Rows, ds.Columns = px.shape[1], px.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.WindowCenter, ds.WindowWidth = ww / 2, ww
        ds.PixelData = px[i].tobytes()
        ds.save_as(os.path.join(outdir, "%03d.dcm" % i), write_like_original=False)


if __name__ == "__main__":
    main()
