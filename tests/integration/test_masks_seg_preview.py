"""Annotation outputs end to end (issue 4): a knee and a brain run on synthetic volumes named after 21
real fastMRI+ volumes, checking that the HDF5 masks, the DICOM Segmentations and the PNG contact
sheets agree with each other, with the images, and with the independent rasterizer of fmrtest.

Quirks exercised by the names: a box starting at y = -1 (file1001259), boxes ending at 320
(file1000143, file_brain_AXT1_202_6000306), exact duplicate rows (file1001706,
file_brain_AXFLAIR_203_6000890), zero-size boxes (file1002097, file_brain_AXT1_202_2020089),
study-level rows only (file1001022, file_brain_AXFLAIR_203_6000890), listed without rows
(file1000033, file1000045, file_brain_AXFLAIR_200_6002474), and with input.all_files a volume that
has rows but is not in the run's file list (not reviewed: no mask, SEG or sheet).

PNGs are decoded by a small pure-Python reader (zlib + filter reversal): Debian's minimal Python has
no PIL."""
import os
import shutil
import struct
import subprocess
import sys
import unittest
import zlib

import h5py
import numpy as np
import pydicom

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

KNEE = ["file1001259", "file1000143", "file1001706", "file1002097", "file1001022", "file1000033",
        "file1000045", "file1001403", "file1000351", "file1002012", "file1001369", "file1001773",
        "file1000969"]
BRAIN = ["file_brain_AXT1_202_2020089", "file_brain_AXFLAIR_203_6000890",
         "file_brain_AXT1_202_6000306", "file_brain_AXFLAIR_200_6002549",
         "file_brain_AXFLAIR_201_6002909", "file_brain_AXFLAIR_203_6000936",
         "file_brain_AXFLAIR_206_6000262", "file_brain_AXFLAIR_200_6002474"]
BRAIN_UNLISTED = "file_brain_AXFLAIR_201_6002912"  # has rows in brain.csv; not in this run's list
SIZE = ["--size", "336x328", "--frame", "320x320", "--coils", "2"]
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
# The preview palette (src/preview.c), pinned here: label k is drawn in PALETTE[k % 32].
PALETTE = [(255, 0, 0), (0, 60, 204), (186, 255, 89), (204, 71, 187), (0, 255, 212),
           (204, 110, 0), (131, 89, 255), (77, 204, 71), (255, 0, 85), (0, 128, 204),
           (241, 255, 89), (176, 71, 204), (0, 255, 127), (204, 42, 0), (89, 103, 255),
           (121, 204, 71), (255, 0, 171), (0, 196, 204), (255, 213, 89), (132, 71, 204),
           (0, 255, 42), (204, 0, 26), (89, 159, 255), (166, 204, 71), (254, 0, 255),
           (0, 204, 144), (255, 158, 89), (88, 71, 204), (43, 255, 0), (204, 0, 94),
           (89, 214, 255), (204, 198, 71)]


# ---- a PNG reader (RGB, 8 bits, not interlaced: what the previews are) -------------------------
def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, chunks, ihdr = 8, [], [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        typ, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(typ + body) & 0xFFFFFFFF == crc, (path, typ)
        chunks.append(typ.decode())
        if typ == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif typ == b"IDAT":
            idat.append(body)
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    assert (depth, ctype, interlace) == (8, 2, 0), ihdr
    raw = zlib.decompress(b"".join(idat))
    stride, bpp = 3 * w, 3
    assert len(raw) == h * (stride + 1)
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int64)
    for y in range(h):
        kind = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        if kind == 1:  # Sub: a running sum per channel
            line = np.cumsum(line.reshape(w, 3), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            line = (line + prev) % 256
        elif kind in (3, 4):  # Average, Paeth: sequential along the row
            cur, up = line.tolist(), prev.tolist()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    cur[i] = (cur[i] + (a + b) // 2) & 255
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            line = np.array(cur, np.int64)
        else:
            assert kind == 0, kind
        out[y] = line
        prev = line
    return chunks, out.reshape(h, w, 3)


def voi_grey(px, center, width):
    """DICOM linear VOI function onto 0..255, rounded half up (what the sheet shows)."""
    x = px.astype(np.float64)
    lo, hi = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    y = np.floor(((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0 + 0.5)
    y = np.clip(y, 0, 255)
    y[x <= lo] = 0
    y[x > hi] = 255
    return y.astype(np.int64)


def find_outline(img, colour, height, width):
    """Top-left corners of every height x width rectangle outline drawn in `colour`."""
    m = np.all(img == np.array(colour, np.uint8), axis=2)
    hits = []
    for y, x in zip(*np.nonzero(m)):
        if y + height > m.shape[0] or x + width > m.shape[1]:
            continue
        if (m[y, x:x + width].all() and m[y + height - 1, x:x + width].all()
                and m[y:y + height, x].all() and m[y:y + height, x + width - 1].all()):
            if height > 2 and width > 2 and m[y + 1:y + height - 1, x + 1:x + width - 1].all():
                continue  # a filled square: the legend's swatch
            hits.append((int(y), int(x)))
    return hits


class AnnotationOutputsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-seg-")
        cls.runs = {}
        specs = [("knee", ft.KNEE_CSV, KNEE, [], ""),
                 ("brain", ft.BRAIN_CSV, BRAIN, [BRAIN_UNLISTED], "  all_files: true\n")]
        for anatomy, csv_path, names, unlisted, input_extra in specs:
            data = os.path.join(cls.tmp, "data-" + anatomy)
            ft.synth(data, anatomy, names + unlisted, *SIZE, "--slices-from", csv_path)
            out = os.path.join(cls.tmp, "out-" + anatomy)
            lst = os.path.join(cls.tmp, anatomy + "_list.csv")
            with open(lst, "w") as f:
                f.write("\n".join(names) + "\n")
            cfg = os.path.join(cls.tmp, anatomy + ".yaml")
            with open(cfg, "w") as f:
                f.write(f"anatomy: {anatomy}\ninput:\n  dirs: [{data}]\n  file_list: {lst}\n"
                        f"  annotations: {csv_path}\n{input_extra}output:\n  dir: {out}\n")
            ft.pipeline(cfg, 1)
            rows = ft.read_rows(csv_path)
            cls.runs[anatomy] = dict(out=out, data=data, names=names, unlisted=unlisted, rows=rows,
                                     vocab=ft.vocabulary(rows), manifest=ft.manifest(out),
                                     config=cfg)

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("FMR_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers ----------------------------------------------------------------------------
    def record(self, run, name):
        return next(v for v in run["manifest"]["volumes"] if v["name"] == name)

    def reference(self, run, name, slices):
        return ft.rasterize_reference(run["rows"], name, slices, 320, 320, run["vocab"])

    def images(self, out, name):
        d = os.path.join(out, "dicom", name)
        ds = [pydicom.dcmread(os.path.join(d, f)) for f in sorted(os.listdir(d))]
        return {x.SOPInstanceUID: (int(x.InstanceNumber) - 1, x) for x in ds}, ds

    def check_seg(self, run, name, ref, image_frame_ref=None):
        """The SEG of `name` against the reference mask (in the image frame) and the images."""
        out, vocab = run["out"], run["vocab"]
        ref = ref if image_frame_ref is None else image_frame_ref
        path = os.path.join(out, "seg", name + ".dcm")
        p = subprocess.run(["dciodvfy", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        for line in p.stdout.splitlines():
            if line.startswith("Warning"):
                print(f"{name}: dciodvfy: {line}")
        self.assertFalse([ln for ln in p.stdout.splitlines() if ln.startswith("Error")],
                         f"{name}: dciodvfy:\n{p.stdout}")
        seg = pydicom.dcmread(path)
        by_uid, imgs = self.images(out, name)
        self.assertEqual(seg.SOPClassUID, SEG_STORAGE)
        self.assertEqual(seg.file_meta.MediaStorageSOPInstanceUID, seg.SOPInstanceUID)
        self.assertEqual(seg.Modality, "SEG")
        self.assertEqual(seg.SegmentationType, "BINARY")
        self.assertEqual(seg.FrameOfReferenceUID, imgs[0].FrameOfReferenceUID)
        self.assertEqual(seg.StudyInstanceUID, imgs[0].StudyInstanceUID)
        self.assertEqual(seg.PatientID, imgs[0].PatientID)
        self.assertNotEqual(seg.SeriesInstanceUID, imgs[0].SeriesInstanceUID)
        self.assertEqual(seg.ContentDate, imgs[0].ContentDate)
        self.assertEqual((seg.Rows, seg.Columns), (imgs[0].Rows, imgs[0].Columns))
        # Segments: the labels with pixels, in vocabulary order, numbered from 1.
        present = [k for k in range(len(vocab)) if np.any((ref >> ref.dtype.type(k)) & 1)]
        self.assertEqual([int(s.SegmentNumber) for s in seg.SegmentSequence],
                         list(range(1, len(present) + 1)))
        self.assertEqual([s.SegmentLabel for s in seg.SegmentSequence], [vocab[k] for k in present])
        for s in seg.SegmentSequence:
            self.assertEqual(s.SegmentAlgorithmType, "MANUAL")
            self.assertTrue(s.SegmentedPropertyCategoryCodeSequence[0].CodeValue)
            self.assertTrue(s.SegmentedPropertyTypeCodeSequence[0].CodeMeaning)
        # Shared geometry equals the images'.
        shared = seg.SharedFunctionalGroupsSequence[0]
        self.assertEqual(list(shared.PlaneOrientationSequence[0].ImageOrientationPatient),
                         list(imgs[0].ImageOrientationPatient))
        self.assertEqual(list(shared.PixelMeasuresSequence[0].PixelSpacing),
                         list(imgs[0].PixelSpacing))
        self.assertEqual(shared.PixelMeasuresSequence[0].SliceThickness, imgs[0].SliceThickness)
        # Frames: exactly the (segment, slice) pairs with pixels, each equal to bit k of the mask.
        px = seg.pixel_array
        nframes = int(seg.NumberOfFrames)
        px = px.reshape(nframes, seg.Rows, seg.Columns)
        got = []
        for i, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
            number = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
            src = fg.DerivationImageSequence[0].SourceImageSequence[0]
            self.assertEqual(src.ReferencedSOPClassUID, MR_IMAGE_STORAGE)
            self.assertIn(src.ReferencedSOPInstanceUID, by_uid)
            sl, img = by_uid[src.ReferencedSOPInstanceUID]
            self.assertEqual(list(fg.PlanePositionSequence[0].ImagePositionPatient),
                             list(img.ImagePositionPatient))
            self.assertEqual(list(fg.FrameContentSequence[0].DimensionIndexValues),
                             [number, sl + 1])
            k = present[number - 1]
            want = ((ref[sl] >> ref.dtype.type(k)) & 1).astype(np.uint8)
            np.testing.assert_array_equal(px[i], want, err_msg=f"{name} frame {i}")
            got.append((number, sl))
        expect = [(n + 1, sl) for n, k in enumerate(present) for sl in range(ref.shape[0])
                  if np.any((ref[sl] >> ref.dtype.type(k)) & 1)]
        self.assertEqual(got, expect, name)
        # Every referenced instance is an image of the series, and every frame's source is listed.
        refd = seg.ReferencedSeriesSequence[0]
        self.assertEqual(refd.SeriesInstanceUID, imgs[0].SeriesInstanceUID)
        listed = {r.ReferencedSOPInstanceUID for r in refd.ReferencedInstanceSequence}
        self.assertTrue(listed <= set(by_uid))
        self.assertEqual(listed, {imgs[sl].SOPInstanceUID for _, sl in got})
        overlap = any(bin(int(v)).count("1") > 1 for v in np.unique(ref))
        self.assertEqual(seg[0x00620013].value, "YES" if overlap else "NO")  # SegmentsOverlap

    def check_preview_box(self, run, name, image_frame_box):
        """Decode the sheet, find the known box's outline in its label's colour, check its interior
        is grey, and that the tile around it shows the DICOM slice in the DICOM's orientation."""
        sl, r0, c0, r1, c1, k = image_frame_box
        chunks, img = read_png(os.path.join(run["out"], "preview", name + ".png"))
        self.assertEqual(chunks[0], "IHDR")
        self.assertNotIn("tIME", chunks)
        hits = find_outline(img, PALETTE[k % 32], r1 - r0 + 1, c1 - c0 + 1)
        self.assertEqual(len(hits), 1, f"{name}: outline of label {k} on slice {sl}")
        y, x = hits[0]
        inner = img[y + 1:y + r1 - r0, x + 1:x + c1 - c0].astype(int)
        self.assertTrue(np.all(inner[..., 0] == inner[..., 1]) and
                        np.all(inner[..., 1] == inner[..., 2]), "interior is not grey")
        self.assertFalse(np.any(np.all(inner == np.array(PALETTE[k % 32]), axis=2)))
        # The tile: its origin is the outline's corner minus the box's position in the image.
        ty, tx = y - r0, x - c0
        _, imgs = self.images(run["out"], name)
        d = imgs[sl]
        grey = voi_grey(d.pixel_array, float(d.WindowCenter), float(d.WindowWidth))
        tile = img[ty:ty + d.Rows, tx:tx + d.Columns].astype(np.int64)
        is_grey = (tile[..., 0] == tile[..., 1]) & (tile[..., 1] == tile[..., 2])
        self.assertGreater(is_grey.mean(), 0.97)
        self.assertLessEqual(int(np.abs(tile[..., 0][is_grey] - grey[is_grey]).max()), 1)

    # ---- tests ------------------------------------------------------------------------------
    def test_masks_seg_preview_agree(self):
        for anatomy, run in self.runs.items():
            for name in run["names"]:
                with self.subTest(volume=name):
                    v = self.record(run, name)
                    self.assertEqual(v["status"], "ok", v.get("error"))
                    self.assertTrue(v["reviewed"])
                    with h5py.File(os.path.join(run["out"], "masks", name + ".h5"), "r") as f:
                        mask = f["mask"][()]
                        labels = [s.decode() if isinstance(s, bytes) else s
                                  for s in f["mask"].attrs["labels"]]
                        self.assertEqual(labels, run["vocab"])
                        stored = f["mask"].id.get_num_chunks()
                    ref = self.reference(run, name, v["slices"])
                    np.testing.assert_array_equal(mask, ref, err_msg=name)
                    # Only the labelled slices' chunks are stored; the rest read as fill 0.
                    self.assertEqual(stored, int(ref.reshape(ref.shape[0], -1).any(1).sum()), name)
                    # The annotation kinds (the ML files, recon/ and nifti/, are it.ml_*'s).
                    kinds = {o["kind"]: o["path"] for o in v["outputs"]
                             if o["kind"] in ("mask", "seg", "preview")}
                    seg = os.path.join(run["out"], "seg", name + ".dcm")
                    png = os.path.join(run["out"], "preview", name + ".png")
                    if ref.any():
                        self.assertEqual(kinds, {"mask": f"masks/{name}.h5",
                                                 "seg": f"seg/{name}.dcm",
                                                 "preview": f"preview/{name}.png"})
                        self.check_seg(run, name, ref)
                        for o in v["outputs"]:
                            if o["kind"] in ("seg", "preview"):
                                self.assertEqual(ft.sha256(os.path.join(run["out"], o["path"])),
                                                 o["sha256"])
                    else:  # reviewed, no findings: all-zero mask, no SEG, no sheet
                        self.assertEqual(kinds, {"mask": f"masks/{name}.h5"})
                        self.assertFalse(os.path.exists(seg) or os.path.exists(png))

    def test_quirk_volumes(self):
        knee, brain = self.runs["knee"], self.runs["brain"]
        for run, name in [(knee, "file1000033"), (knee, "file1000045"), (knee, "file1001022"),
                          (brain, "file_brain_AXFLAIR_200_6002474"),
                          (brain, "file_brain_AXFLAIR_203_6000890")]:
            v = self.record(run, name)
            self.assertFalse(any(o["kind"] in ("seg", "preview") for o in v["outputs"]), name)
        self.assertEqual(self.record(knee, "file1001022")["study_labels"], ["artifact"])
        self.assertGreater(self.record(knee, "file1001706")["annotation"]["duplicates"], 0)
        self.assertGreater(self.record(knee, "file1002097")["annotation"]["degenerate"], 0)
        self.assertGreater(
            self.record(brain, "file_brain_AXT1_202_2020089")["annotation"]["degenerate"], 0)
        # y = -1 is clipped to row 0; boxes ending at 320 reach the last row or column.
        with h5py.File(os.path.join(knee["out"], "masks", "file1001259.h5"), "r") as f:
            self.assertTrue(f["mask"][:, 0, :].any())
        for run, name in [(knee, "file1000143"), (brain, "file_brain_AXT1_202_6000306")]:
            with h5py.File(os.path.join(run["out"], "masks", name + ".h5"), "r") as f:
                m = f["mask"][()]
                self.assertTrue(m[:, -1, :].any() or m[:, :, -1].any(), name)

    def test_unlisted_volume_is_not_reviewed(self):
        run = self.runs["brain"]
        v = self.record(run, BRAIN_UNLISTED)
        self.assertEqual(v["status"], "ok", v.get("error"))
        self.assertFalse(v["reviewed"])
        self.assertTrue(any(r["file"] == BRAIN_UNLISTED for r in run["rows"]))  # it has rows
        # Images, and its rows for boxes.csv (recon/); no annotation outputs.
        self.assertEqual({o["kind"] for o in v["outputs"]}, {"dicom", "recon"})
        for sub, ext in (("masks", ".h5"), ("seg", ".dcm"), ("preview", ".png")):
            self.assertFalse(os.path.exists(os.path.join(run["out"], sub, BRAIN_UNLISTED + ext)))

    def test_preview_outlines_known_boxes(self):
        # One box alone on its slice, per anatomy: (volume, slice, x, y, width, height, label).
        for anatomy, name in (("knee", "file1002012"), ("brain", "file_brain_AXFLAIR_201_6002909")):
            run = self.runs[anatomy]
            boxes = [r for r in run["rows"] if r["file"] == name and r["study_level"] != "Yes"]
            per_slice = {}
            for r in boxes:
                per_slice.setdefault(int(r["slice"]), []).append(r)
            sl, (r,) = next((s, b) for s, b in sorted(per_slice.items()) if len(b) == 1)
            x, y, w, h = (int(r[k]) for k in ("x", "y", "width", "height"))
            r0, c0 = max(y, 0), max(x, 0)
            r1, c1 = min(y + h, 320) - 1, min(x + w, 320) - 1
            k = run["vocab"].index(r["label"].strip())
            with self.subTest(volume=name):
                self.check_preview_box(run, name, (sl, r0, c0, r1, c1, k))

    def test_flipped_columns_and_native_masks(self):
        """flip_left_right and mask_frame native: the HDF5 mask in fastMRI's frame, the SEG and the
        sheet in the (column-flipped) frame of the images."""
        run = self.runs["knee"]
        names = ["file1002012", "file1001369"]
        out = os.path.join(self.tmp, "out-flip")
        cfg = os.path.join(self.tmp, "flip.yaml")
        lst = os.path.join(self.tmp, "flip_list.csv")
        with open(lst, "w") as f:
            f.write("\n".join(names) + "\n")
        with open(cfg, "w") as f:
            f.write(f"anatomy: knee\ninput:\n  dirs: [{run['data']}]\n  file_list: {lst}\n"
                    f"  annotations: {ft.KNEE_CSV}\noutput:\n  dir: {out}\n  mask_frame: native\n"
                    f"recon:\n  flip_left_right: true\n")
        ft.pipeline(cfg, 1)
        flipped = dict(run, out=out, manifest=ft.manifest(out))
        for name in names:
            v = self.record(flipped, name)
            ref = self.reference(run, name, v["slices"])  # the fastMRI+ frame
            with h5py.File(os.path.join(out, "masks", name + ".h5"), "r") as f:
                np.testing.assert_array_equal(f["mask"][()], ref[:, ::-1, :], err_msg=name)
                self.assertEqual(f["mask"].attrs["frame"], "native")
            self.check_seg(flipped, name, ref, image_frame_ref=np.ascontiguousarray(ref[:, :, ::-1]))
        # The known box, mirrored left/right in the sheet.
        name = "file1002012"
        r = next(r for r in run["rows"] if r["file"] == name and r["study_level"] != "Yes")
        x, y, w, h = (int(r[k]) for k in ("x", "y", "width", "height"))
        c0, c1 = max(x, 0), min(x + w, 320) - 1
        self.check_preview_box(flipped, name, (int(r["slice"]), max(y, 0), 319 - c1,
                                               min(y + h, 320) - 1, 319 - c0,
                                               run["vocab"].index(r["label"].strip())))

    def test_seg_codes_override(self):
        """output.seg_codes replaces the built-in table; a missing or malformed table is a start-up
        error naming the file, before anything is written."""
        run = self.runs["knee"]
        name, empty = "file1002012", "file1000033"
        label = next(r["label"].strip() for r in run["rows"]
                     if r["file"] == name and r["study_level"] != "Yes")
        codes = os.path.join(self.tmp, "codes.csv")
        with open(codes, "w") as f:
            f.write("anatomy,label,category_value,category_scheme,category_meaning,type_value,"
                    "type_scheme,type_meaning,basis,note\n"
                    "*,*,49755003,SCT,Morphologically Altered Structure,52988006,SCT,Lesion,"
                    "fallback,\n"
                    f"knee,\"{label}\",C1,99TEST,Test category,T1,99TEST,Test type,exact,\n")
        lst = os.path.join(self.tmp, "codes_list.csv")
        with open(lst, "w") as f:
            f.write(f"{name}\n{empty}\n")
        bad = os.path.join(self.tmp, "bad-codes.csv")
        with open(bad, "w") as f:
            f.write("anatomy,label,category_value\n*,*,1\n")
        for table, ok in ((codes, True), (os.path.join(self.tmp, "no-such-codes.csv"), False),
                          (bad, False)):
            tag = os.path.splitext(os.path.basename(table))[0]
            out = os.path.join(self.tmp, "out-codes-" + tag)
            cfg = os.path.join(self.tmp, f"codes-{tag}.yaml")
            with open(cfg, "w") as f:
                f.write(f"anatomy: knee\ninput:\n  dirs: [{run['data']}]\n  file_list: {lst}\n"
                        f"  annotations: {ft.KNEE_CSV}\noutput:\n  dir: {out}\n"
                        f"  seg_codes: {table}\n")
            p = ft.pipeline(cfg, 1, check=False)
            if ok:
                v = {v["name"]: v for v in ft.manifest(out)["volumes"]}
                self.assertEqual(v[empty]["status"], "ok")
                self.assertEqual(p.returncode, 0, p.stderr)
                seg = pydicom.dcmread(os.path.join(out, "seg", name + ".dcm"))
                item = seg.SegmentSequence[0]
                self.assertEqual(item.SegmentLabel, label)
                self.assertEqual(item.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator,
                                 "99TEST")
                self.assertEqual(item.SegmentedPropertyCategoryCodeSequence[0].CodeValue, "C1")
            else:
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(os.path.basename(table), p.stderr)
                self.assertFalse(os.path.exists(out))

    def test_rerun_gives_identical_bytes(self):
        """Reruns reuse the recorded outputs; a fresh run into another directory gives the same
        SEG and PNG bytes (no clock, no random UID)."""
        run = self.runs["knee"]
        out2 = os.path.join(self.tmp, "out-knee-again")
        cfg2 = os.path.join(self.tmp, "knee-again.yaml")
        lst = os.path.join(self.tmp, "again_list.csv")
        names = ["file1001259", "file1002012"]
        with open(lst, "w") as f:
            f.write("\n".join(names) + "\n")
        with open(cfg2, "w") as f:
            f.write(f"anatomy: knee\ninput:\n  dirs: [{run['data']}]\n  file_list: {lst}\n"
                    f"  annotations: {ft.KNEE_CSV}\noutput:\n  dir: {out2}\n")
        ft.pipeline(cfg2, 2)
        for name in names:
            for rel in (f"seg/{name}.dcm", f"preview/{name}.png", f"masks/{name}.h5"):
                self.assertEqual(ft.sha256(os.path.join(out2, rel)),
                                 ft.sha256(os.path.join(run["out"], rel)), rel)


if __name__ == "__main__":
    unittest.main(verbosity=2)
