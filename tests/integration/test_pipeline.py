"""End to end: synthetic fastMRI volumes named after real fastMRI+ volumes -> `fastmri-regen run`
under 1, 2 and 3 MPI ranks, checked against independent numpy/h5py/pydicom oracles."""
import os
import shutil
import subprocess
import sys
import unittest

import h5py
import numpy as np
import pydicom

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

# Real names and what their rows exercise: y = -1 (file1001259), a box ending at 320 (file1000143),
# exact duplicates (file1001706), a zero-size box (file1002097), study-level only (file1001022),
# reviewed without findings (file1000033).
KNEE = ["file1001259", "file1000143", "file1001706", "file1002097", "file1001022", "file1000033"]
SINGLE = "file1000000"  # written single-coil
SIZE = ["--size", "352x336", "--frame", "320x320", "--coils", "2"]


class PipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-pipeline-")
        cls.data = os.path.join(cls.tmp, "data")
        ft.synth(cls.data, "knee", KNEE, *SIZE, "--subdirs", "--slices-from", ft.KNEE_CSV)
        ft.synth(os.path.join(cls.data, "single"), "knee", [SINGLE], "--size", "352x336",
                 "--frame", "320x320", "--single-coil", "--slices-from", ft.KNEE_CSV)
        cls.names = sorted(KNEE + [SINGLE])
        cls.rows = ft.read_rows(ft.KNEE_CSV)
        cls.vocab = ft.vocabulary(cls.rows)
        cls.out = os.path.join(cls.tmp, "out")
        cls.config = ft.write_config(os.path.join(cls.tmp, "run.yaml"), "knee", [cls.data],
                                     cls.names, cls.out)
        cls.serial = ft.pipeline(cls.config, 1)
        cls.manifest = ft.manifest(cls.out)
        cls.paths = {}
        for d, _, files in os.walk(cls.data):
            for f in files:
                cls.paths[f[:-3]] = os.path.join(d, f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def volume(self, name):
        return next(v for v in self.manifest["volumes"] if v["name"] == name)

    def dicom_stack(self, out, name):
        files = sorted(os.listdir(os.path.join(out, "dicom", name)))
        return [pydicom.dcmread(os.path.join(out, "dicom", name, f)) for f in files]

    def test_manifest_lists_every_volume_ok_with_true_hashes(self):
        m = self.manifest
        self.assertEqual(m["format"], "fastmri-regen-manifest/1")
        self.assertEqual([v["name"] for v in m["volumes"]], self.names)
        for v in m["volumes"]:
            self.assertEqual(v["status"], "ok", v.get("error"))
            self.assertIsNone(v["error"])
            self.assertTrue(v["reviewed"])
            kinds = [o["kind"] for o in v["outputs"]]
            self.assertEqual(kinds.count("dicom"), v["slices"])
            self.assertEqual(kinds.count("mask"), 1)
            for o in v["outputs"]:
                p = os.path.join(self.out, o["path"])
                self.assertEqual(os.path.getsize(p), o["bytes"])
                self.assertEqual(ft.sha256(p), o["sha256"], o["path"])
        self.assertEqual(m["annotations"]["vocabulary"], self.vocab)
        # Whole-CSV counts, against the csv module.
        ct = m["annotations"]["csv_totals"]
        self.assertEqual(ct["rows"], len(self.rows))
        self.assertEqual(ct["volumes"], len({r["file"] for r in self.rows}))
        self.assertEqual(ct["study_level"], sum(r["study_level"] == "Yes" for r in self.rows))
        self.assertEqual(ct["duplicates"], len(self.rows) - len({tuple(r.values()) for r in self.rows}))
        self.assertEqual(ct["trimmed_labels"], sum(r["label"] != r["label"].strip() for r in self.rows))
        self.assertEqual(m["totals"]["ok"], len(self.names))
        # No temporary file survives a run.
        for d, _, files in os.walk(self.out):
            self.assertFalse([f for f in files if f.endswith(".fmr-tmp")], d)

    def test_pixels_match_numpy_oracle_from_kspace(self):
        for name in self.names:
            with h5py.File(self.paths[name], "r") as f:
                ref_img = f["reconstruction_rss"] if "reconstruction_rss" in f else f["reconstruction_esc"]
                h, w = ref_img.shape[1:]
                ref = ft.recon_reference(ft.read_kspace(f), h, w)
            ref32 = ft.orient(ref.astype(np.float32))
            px_ref, p_ref, _ = ft.scale_reference(ref32)
            ds = self.dicom_stack(self.out, name)
            px = np.stack([d.pixel_array for d in ds]).astype(np.int32)
            self.assertEqual(px.shape, px_ref.shape)
            diff = np.abs(px - px_ref.astype(np.int32))
            self.assertLessEqual(int(diff.max()), 1, name)
            self.assertLessEqual(np.count_nonzero(diff) / diff.size, 1e-3, name)
            v = self.volume(name)
            self.assertAlmostEqual(v["scaling"]["p999"], float(p_ref), delta=1e-5 * float(p_ref))
            # The stored reconstruction is ground truth for the synthetic data.
            self.assertLess(v["nmse_vs_stored"], 1e-10)
            # Window from the pixels actually written, per SPEC 5.1.
            px16 = px.astype(np.int16)
            ww_px = 2.0 * (np.percentile(px16, 99.9) - np.percentile(px16, 0.1))
            self.assertAlmostEqual(float(ds[0].WindowWidth), ww_px, delta=1e-9 * max(1.0, ww_px) + 1e-6)
            self.assertAlmostEqual(float(ds[0].WindowCenter), ww_px / 2, delta=1e-6 + 1e-9 * ww_px)

    def test_dicom_attributes(self):
        name = "file1001259"
        ds = self.dicom_stack(self.out, name)
        v = self.volume(name)
        self.assertEqual(len(ds), v["slices"])
        for i, d in enumerate(ds):
            self.assertEqual(d.file_meta.TransferSyntaxUID, "1.2.840.10008.1.2.1")
            self.assertEqual(d.SOPClassUID, "1.2.840.10008.5.1.4.1.1.4")
            self.assertEqual(d.file_meta.MediaStorageSOPInstanceUID, d.SOPInstanceUID)
            self.assertEqual(int(d.InstanceNumber), i + 1)
            self.assertEqual((d.Rows, d.Columns), (320, 320))
            self.assertEqual(str(d.PatientName), name)
            self.assertEqual(d.PatientID, name)
            self.assertEqual((d.BitsAllocated, d.BitsStored, d.HighBit, d.PixelRepresentation),
                             (16, 12, 11, 1))
            self.assertEqual(d.PhotometricInterpretation, "MONOCHROME2")
            px = d.pixel_array
            self.assertEqual(int(d.SmallestImagePixelValue), int(px.min()))
            self.assertEqual(int(d.LargestImagePixelValue), int(px.max()))
            self.assertTrue(d.SOPInstanceUID.startswith("2.25."))
            self.assertLessEqual(len(d.SOPInstanceUID), 64)
        self.assertEqual(len({d.SOPInstanceUID for d in ds}), len(ds))
        self.assertEqual(len({d.SeriesInstanceUID for d in ds}), 1)
        self.assertEqual(len({d.FrameOfReferenceUID for d in ds}), 1)
        # dcmdump (DCMTK's independent parser) reads every file.
        p = ft.run(["dcmdump", "-q", os.path.join(self.out, "dicom", name, f"{name}_000.dcm")])
        self.assertIn("MRImageStorage", p.stdout)

    def test_masks_match_independent_rasterizer(self):
        for name in self.names:
            v = self.volume(name)
            with h5py.File(os.path.join(self.out, "masks", f"{name}.h5"), "r") as f:
                m = f["mask"][()]
                labels = [s.decode() if isinstance(s, bytes) else s for s in f["mask"].attrs["labels"]]
            self.assertEqual(labels, self.vocab)
            ref = ft.rasterize_reference(self.rows, name, v["slices"], 320, 320, self.vocab)
            self.assertEqual(m.dtype, ref.dtype)
            self.assertEqual(m.shape, ref.shape)
            np.testing.assert_array_equal(m, ref, err_msg=name)
        self.assertFalse(self.volume("file1000033")["labels"])  # reviewed, no findings
        self.assertTrue(np.any(ft.rasterize_reference(self.rows, "file1001259", 40, 320, 320,
                                                      self.vocab)[:, 0, :]))  # y = -1 clipped to row 0
        self.assertEqual(self.volume("file1001706")["annotation"]["duplicates"], 5)
        self.assertEqual(self.volume("file1001022")["study_labels"], ["artifact"])

    def test_rss_source_gives_identical_pixels(self):
        out = os.path.join(self.tmp, "out-rss")
        cfg = ft.write_config(os.path.join(self.tmp, "rss.yaml"), "knee", [self.data],
                              ["file1001259", SINGLE], out,
                              extra="recon:\n  source: reconstruction_rss\n")
        ft.pipeline(cfg, 1)
        for name in ["file1001259", SINGLE]:
            with h5py.File(self.paths[name], "r") as f:
                stored = f["reconstruction_rss"][()]
            px_ref, _, _ = ft.scale_reference(ft.orient(stored))
            px = np.stack([d.pixel_array for d in self.dicom_stack(out, name)])
            np.testing.assert_array_equal(px, px_ref, err_msg=name)

    def test_rank_counts_give_identical_outputs(self):
        ref = ft.tree_hashes(self.out)
        self.assertIn("manifest.json", ref)
        moved = os.path.join(self.tmp, "out-serial")
        shutil.move(self.out, moved)
        try:
            for n in (2, 3, 16):
                ft.pipeline(self.config, n)
                self.assertEqual(ft.tree_hashes(self.out), ref, f"-np {n}")
                shutil.rmtree(self.out)
        finally:
            shutil.rmtree(self.out, ignore_errors=True)
            shutil.move(moved, self.out)

    def test_missing_and_unreadable_volumes_do_not_stop_the_others(self):
        data2 = os.path.join(self.tmp, "data-bad")
        os.makedirs(data2, exist_ok=True)
        with open(os.path.join(data2, "file1000002.h5"), "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n" + os.urandom(4096))  # HDF5 signature, garbage after
        out = os.path.join(self.tmp, "out-bad")
        names = ["file1001259", "file1000002", "file1000003", "file1000033"]
        cfg = ft.write_config(os.path.join(self.tmp, "bad.yaml"), "knee", [self.data, data2],
                              names, out)
        for n in (1, 2):
            p = ft.pipeline(cfg, n, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            m = ft.manifest(out)
            st = {v["name"]: v for v in m["volumes"]}
            self.assertEqual(st["file1000003"]["status"], "missing")
            self.assertIn("file1000003", st["file1000003"]["error"])
            self.assertEqual(st["file1000002"]["status"], "failed")
            self.assertIn("file1000002.h5", st["file1000002"]["error"])
            self.assertEqual(st["file1000002"]["outputs"], [])
            for ok in ("file1001259", "file1000033"):
                self.assertEqual(st[ok]["status"], "ok")
                for o in st[ok]["outputs"]:
                    self.assertEqual(ft.sha256(os.path.join(out, o["path"])), o["sha256"])
            self.assertEqual(m["totals"], dict(m["totals"], ok=2, failed=1, missing=1))
            self.assertFalse(os.path.exists(os.path.join(out, "dicom", "file1000002")) and
                             os.listdir(os.path.join(out, "dicom", "file1000002")))
            shutil.rmtree(out)

    def test_undersampled_and_short_volumes(self):
        """A test-style (undersampled, no stored image) volume is reconstructed zero-filled and
        flagged; rows naming slices a volume does not have are reported per row, never dropped."""
        data = os.path.join(self.tmp, "data-edge")
        ft.synth(data, "knee", ["file1000000"], "--size", "352x336", "--frame", "320x320",
                 "--coils", "2", "--slices", "6", "--undersampled")
        ft.synth(data, "knee", ["file1001259"], "--size", "352x336", "--frame", "320x320",
                 "--coils", "2", "--slices", "12")
        out = os.path.join(self.tmp, "out-edge")
        cfg = ft.write_config(os.path.join(self.tmp, "edge.yaml"), "knee", [data],
                              ["file1000000", "file1001259"], out)
        ft.pipeline(cfg, 2)
        v = {x["name"]: x for x in ft.manifest(out)["volumes"]}
        u = v["file1000000"]
        self.assertEqual(u["status"], "ok", u["error"])
        self.assertTrue(u["undersampled"])
        self.assertTrue(u["zero_filled"])
        self.assertIsNone(u["nmse_vs_stored"])
        with h5py.File(os.path.join(data, "file1000000.h5"), "r") as f:
            self.assertNotIn("reconstruction_rss", f)
            root = ft.ET.fromstring(f["ismrmrd_header"][()])
            ns = {"m": "http://www.ismrm.org/ISMRMRD"}
            mx = int(root.find("m:encoding/m:reconSpace/m:matrixSize/m:x", ns).text)
            my = int(root.find("m:encoding/m:reconSpace/m:matrixSize/m:y", ns).text)
            ref = ft.recon_reference(ft.read_kspace(f), mx, my)  # zero-filled: masked lines are 0
        self.assertEqual(u["frame"], [mx, my])
        px_ref, _, _ = ft.scale_reference(ft.orient(ref.astype(np.float32)))
        px = np.stack([d.pixel_array for d in self.dicom_stack(out, "file1000000")]).astype(np.int32)
        diff = np.abs(px - px_ref.astype(np.int32))
        self.assertLessEqual(int(diff.max()), 1)
        self.assertLessEqual(np.count_nonzero(diff) / diff.size, 1e-3)

        short = v["file1001259"]
        expected_bad = [r for r in self.rows if r["file"] == "file1001259" and int(r["slice"]) >= 12]
        self.assertTrue(expected_bad)
        self.assertEqual(short["annotation"]["bad_slice"], len(expected_bad))
        self.assertEqual(len(short["annotation_problems"]), len(expected_bad))
        for msg in short["annotation_problems"]:
            self.assertIn("knee.csv:", msg)
            self.assertIn("slice", msg)

    def test_bad_config_is_a_startup_error_with_position(self):
        cfg = os.path.join(self.tmp, "broken.yaml")
        with open(cfg, "w") as f:
            f.write("anatomy: knee\ninput:\n  dirs: [x]\n  colour: red\n")
        for n in (1, 2):
            p = ft.pipeline(cfg, n, check=False)
            self.assertEqual(p.returncode, 2)
            self.assertIn("broken.yaml:4:3: unknown key 'input.colour'", p.stderr)


if __name__ == "__main__":
    unittest.main()
