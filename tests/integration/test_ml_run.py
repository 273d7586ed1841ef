"""The ML-ready outputs (SPEC 11, issue 10) as `fastmri-regen run` makes them, against independent
oracles: dataset.h5 byte-identical for 1, 2 and 3 ranks and after a SIGKILL of the run + rerun;
every reconstruction against fmrtest's float64 numpy implementation of SPEC 3-4 (NMSE < 1e-10),
every mask against fmrtest's rasterizer; boxes.csv against it.ml_outputs' computation from the CSV
rows and the DICOM geometry (pydicom); the NIfTI image against dcm2niix + nibabel; the manifest
lists dataset.h5, boxes.csv and datalist.json with their SHA-256 (hashlib), `verify` passes and
flags a changed dataset.h5; with output.dataset off, boxes.csv alone. Small: three knee volumes (two reviewed, one only in input.all_files)."""
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

import h5py
import nibabel
import numpy as np
import pydicom

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402
import test_ml_outputs as mlo  # noqa: E402  (its box oracle; its test class is not collected)

NAMES = ["file1001259", "file1001706", "file1002097"]
REVIEWED = ["file1001259", "file1001706"]
SLICES = 30
H = W = 320
RUN_FILES = {"dataset.h5": "dataset", "boxes.csv": "boxes", "datalist.json": "datalist"}


def hashlib_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class MlRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-mlrun-")
        cls.data = os.path.join(cls.tmp, "data")
        ft.synth(cls.data, "knee", NAMES, "--size", "336x328", "--frame", f"{H}x{W}", "--coils",
                 "2", "--slices", str(SLICES))
        cls.out = os.path.join(cls.tmp, "out")
        cls.cfg = ft.write_config(os.path.join(cls.tmp, "run.yaml"), "knee", [cls.data], REVIEWED,
                                  cls.out, extra="  nifti: true\n")
        with open(cls.cfg) as f:
            text = f.read()
        with open(cls.cfg, "w") as f:
            f.write(text.replace("  annotations:", "  all_files: true\n  annotations:"))
        # The reference output: one rank, from scratch; kept aside for every comparison.
        ft.pipeline(cls.cfg, 1)
        cls.ref = os.path.join(cls.tmp, "ref")
        shutil.copytree(cls.out, cls.ref, symlinks=True)
        cls.csv_rows = ft.read_rows(ft.KNEE_CSV)

    tearDownClass = classmethod(mlo.MlOutputsTest.tearDownClass.__func__)  # FMR_KEEP_TMP keeps it

    # What it.ml_outputs' oracle reads (MlOutputsTest.oracle_rows uses self.csv, rows, dicoms).
    csv = {"knee": ft.KNEE_CSV}

    def rows(self, anatomy):
        return self.csv_rows

    def dicoms(self, anatomy, name):
        d = os.path.join(self.ref, "dicom", name)
        return [pydicom.dcmread(os.path.join(d, f)) for f in sorted(os.listdir(d))]

    oracle_rows = mlo.MlOutputsTest.oracle_rows

    def fresh_run(self, ranks):
        shutil.rmtree(self.out, ignore_errors=True)
        return ft.pipeline(self.cfg, ranks)

    def test_identical_for_1_2_3_ranks_and_after_kill_and_rerun(self):
        want = {f: hashlib_sha(os.path.join(self.ref, f)) for f in RUN_FILES}
        for ranks in (2, 3):
            self.fresh_run(ranks)
            for f in RUN_FILES:
                self.assertEqual(hashlib_sha(os.path.join(self.out, f)), want[f], f"{f}, {ranks} ranks")
        # SIGKILL of the whole run part-way, then the same command: the rerun reuses the
        # per-volume files it can and rebuilds dataset.h5 from them.
        shutil.rmtree(self.out)
        args = [ft.MPIEXEC, "--oversubscribe", "-np", "2", ft.BIN, "run", self.cfg]
        p = subprocess.Popen(args, env=ft.env(), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        ft.kill_run(p)
        killed_early = not os.path.exists(os.path.join(self.out, "manifest.json"))
        # Debris of a build killed at its end: a stale temporary and a truncated dataset.h5.
        os.makedirs(self.out, exist_ok=True)
        if os.path.exists(os.path.join(self.out, ".fmr")):
            with open(os.path.join(self.out, "dataset.h5.fmr-tmp"), "wb") as f:
                f.write(b"\x89HDF garbage")
            with open(os.path.join(self.out, "dataset.h5"), "wb") as f:
                f.write(b"\x89HDF\r\n\x1a\n truncated")
        ft.pipeline(self.cfg, 2)
        for f in RUN_FILES:
            self.assertEqual(hashlib_sha(os.path.join(self.out, f)), want[f], f"{f} after kill")
        self.assertFalse(os.path.exists(os.path.join(self.out, "dataset.h5.fmr-tmp")))
        # A rerun over a complete output reuses every volume and still rebuilds the same file.
        p = ft.pipeline(self.cfg, 3)
        self.assertIn("reused", p.stderr)
        for f in RUN_FILES:
            self.assertEqual(hashlib_sha(os.path.join(self.out, f)), want[f], f"{f} on rerun")
        print(f"\ndataset.h5 {os.path.getsize(os.path.join(self.out, 'dataset.h5'))} bytes, sha256 "
              f"{want['dataset.h5'][:16]}... for 1/2/3 ranks, after SIGKILL + rerun "
              f"(killed before the manifest: {killed_early}) and on a reusing rerun",
              file=sys.stderr)

    def test_dataset_against_numpy(self):
        vocab = ft.vocabulary(self.csv_rows)
        with h5py.File(os.path.join(self.ref, "dataset.h5"), "r") as f:
            self.assertEqual(sorted(f["volumes"]), sorted(NAMES))
            self.assertEqual(list(f.attrs["vocabulary"]), vocab)
            self.assertEqual(f.attrs["config_sha256"], hashlib_sha(self.cfg))
            slices_tab = f["slices"][()]
            self.assertEqual(len(slices_tab), SLICES * len(NAMES))
            for vi, name in enumerate(sorted(NAMES)):
                g = f["volumes"][name]
                with h5py.File(os.path.join(self.data, name + ".h5"), "r") as src:
                    ks = ft.read_kspace(src)
                ref = ft.orient(ft.recon_reference(ks, H, W), True, False)
                rec = g["reconstruction"][()]
                self.assertEqual(rec.dtype, np.float32)
                self.assertLess(ft.nmse(ref, rec), 1e-10, name)
                self.assertEqual(g.attrs["series_uid"], self.dicoms("knee", name)[0].SeriesInstanceUID)
                self.assertEqual(list(g.attrs["kspace_shape"]), list(ks.shape))
                self.assertEqual(bool(g.attrs["reviewed"]), name in REVIEWED)
                mine = slices_tab[slices_tab["volume_index"] == vi]
                if name in REVIEWED:
                    m = ft.rasterize_reference(self.csv_rows, name, SLICES, H, W, vocab)
                    want = ft.orient(m, False, False)  # fastMRI+ frame = image frame (flip_ud)
                    self.assertTrue(want.any(), name)
                    np.testing.assert_array_equal(g["mask"][()], want, err_msg=name)
                    bits = np.bitwise_or.reduce(want.reshape(SLICES, -1), axis=1)
                    np.testing.assert_array_equal(mine["label_bits"], bits.astype(np.uint64))
                else:
                    self.assertNotIn("mask", g)

    def test_boxes_csv_against_the_csv_rows_and_dicom_geometry(self):
        with open(os.path.join(self.ref, "boxes.csv"), "rb") as fh:
            raw = fh.read()
        got = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
        want = []
        for name in sorted(NAMES):
            want += self.oracle_rows("knee", name, SLICES)
        self.assertGreater(sum(1 for w in want if w["box"]), 10)
        mlo.check_boxes_rows(self, got, want, "knee")
        print("\nboxes.csv of a run (first rows):\n" + "\n".join(raw.decode().splitlines()[:4]),
              file=sys.stderr)

    def test_nifti_matches_dcm2niix(self):
        if not shutil.which("dcm2niix"):
            raise AssertionError("dcm2niix not found: scripts/install-deps.sh --test")
        name = REVIEWED[1]
        d = os.path.join(self.tmp, "dcm2niix")
        os.makedirs(d, exist_ok=True)
        ft.run(["dcm2niix", "-z", "n", "-b", "n", "-o", d, "-f", "ref",
                os.path.join(self.ref, "dicom", name)])
        ref = nibabel.load(os.path.join(d, "ref.nii"))
        ours = nibabel.load(os.path.join(self.ref, "nifti", name + ".nii.gz"))
        np.testing.assert_array_equal(np.asarray(ours.dataobj), np.asarray(ref.dataobj))
        np.testing.assert_allclose(ours.affine, ref.affine, atol=1e-4)
        m = nibabel.load(os.path.join(self.ref, "nifti", name + "_mask.nii.gz"))
        vocab = ft.vocabulary(self.csv_rows)
        want = ft.rasterize_reference(self.csv_rows, name, SLICES, H, W, vocab)
        np.testing.assert_array_equal(np.asarray(m.dataobj)[:, ::-1, :].transpose(2, 1, 0), want)
        self.assertFalse(os.path.exists(os.path.join(self.ref, "nifti", "file1002097_mask.nii.gz")))
        with open(os.path.join(self.ref, "datalist.json")) as f:
            self.assertEqual(json.load(f), {"training": [
                {"image": f"nifti/{n}.nii.gz", "label": f"nifti/{n}_mask.nii.gz"}
                for n in sorted(REVIEWED)]})

    def test_manifest_and_verify(self):
        out = os.path.join(self.tmp, "verify")
        shutil.copytree(self.ref, out, symlinks=True)
        m = ft.manifest(out)
        listed = {o["path"]: o for o in m["outputs"]}
        self.assertEqual(sorted(listed), sorted(RUN_FILES))
        for rel, kind in RUN_FILES.items():
            p = os.path.join(out, rel)
            self.assertEqual(listed[rel]["kind"], kind)
            self.assertEqual(listed[rel]["sha256"], hashlib_sha(p))
            self.assertEqual(listed[rel]["bytes"], os.path.getsize(p))
        with open(os.path.join(out, "manifest-sha256.txt")) as f:
            sums = dict(reversed(line.rstrip("\n").split("  ", 1)) for line in f)
        for rel in RUN_FILES:
            self.assertEqual(sums[rel], hashlib_sha(os.path.join(out, rel)))
        self.assertEqual(m["config"]["settings"]["output"]["dataset"], True)
        self.assertEqual(m["config"]["settings"]["output"]["nifti"], True)
        kinds = {o["kind"] for v in m["volumes"] for o in v["outputs"]}
        self.assertTrue({"recon", "nifti", "nifti_mask"} <= kinds, kinds)
        p = ft.run([ft.BIN, "verify", out], check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("unexpected:", p.stdout)
        # One changed byte in dataset.h5.
        path = os.path.join(out, "dataset.h5")
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) - 1)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0xFF]))
        p = ft.run([ft.BIN, "verify", "--json", out], check=False)
        self.assertNotEqual(p.returncode, 0)
        problems = json.loads(p.stdout)["problems"]
        self.assertIn(("dataset.h5", "changed"), [(x["path"], x["problem"]) for x in problems])

    def test_boxes_only(self):
        """output.dataset off, output.boxes on: the same boxes.csv; recon/ files hold no image
        and no mask (boxes.csv needs neither)."""
        out = os.path.join(self.tmp, "boxes-only")
        cfg = ft.write_config(os.path.join(self.tmp, "boxes-only.yaml"), "knee", [self.data],
                              REVIEWED, out, extra="  dataset: false\n")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("  annotations:", "  all_files: true\n  annotations:"))
        ft.pipeline(cfg, 2)
        self.assertFalse(os.path.exists(os.path.join(out, "dataset.h5")))
        self.assertEqual(hashlib_sha(os.path.join(out, "boxes.csv")),
                         hashlib_sha(os.path.join(self.ref, "boxes.csv")))
        self.assertEqual([o["path"] for o in ft.manifest(out)["outputs"]], ["boxes.csv"])
        for name in NAMES:
            with h5py.File(os.path.join(out, "recon", name + ".h5"), "r") as f:
                self.assertNotIn("reconstruction", f)
                self.assertNotIn("mask", f)
                self.assertIn("boxes", f)
        self.assertEqual(ft.run([ft.BIN, "verify", out], check=False).returncode, 0)

    def test_switches_off(self):
        out = os.path.join(self.tmp, "off")
        cfg = ft.write_config(os.path.join(self.tmp, "off.yaml"), "knee", [self.data], REVIEWED,
                              out, extra="  dataset: false\n  boxes: false\n")
        ft.pipeline(cfg, 1)
        for rel in ("dataset.h5", "boxes.csv", "datalist.json", "recon", "nifti"):
            self.assertFalse(os.path.exists(os.path.join(out, rel)), rel)
        self.assertEqual(ft.manifest(out)["outputs"], [])
        # The listed kinds' bytes do not depend on the ML switches.
        for rel in ("dicom/file1001706/file1001706_012.dcm", "masks/file1001706.h5"):
            self.assertEqual(hashlib_sha(os.path.join(out, rel)),
                             hashlib_sha(os.path.join(self.ref, rel)), rel)


if __name__ == "__main__":
    unittest.main(verbosity=2)
