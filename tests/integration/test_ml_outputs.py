"""ML-ready outputs (SPEC 11, issue 10) against independent oracles.

tests/mpi/fmr_ml_tool takes synthetic volumes through the library's reconstruction, scaling, DICOM
writer and rasterizer and writes the NIfTI pair and recon/<name>.h5 per volume; its `build` runs
the collective dataset.h5 + boxes.csv step under mpirun (what the run's dataset phase does; it.ml_run
checks the files of a real `run`).
Checked here:
- dataset.h5 byte-identical for 1, 2 and 3 ranks, after a SIGKILL mid-build and over a stale
  temporary or a truncated dataset.h5; every reconstruction against a float64 numpy
  implementation of SPEC 3-4 (NMSE < 1e-10), every mask and /slices against fmrtest's rasterizer.
- boxes.csv against a computation from the CSV rows (all frames, flags, order) with the
  millimetres from the DICOM files' ImagePositionPatient/ImageOrientationPatient/PixelSpacing
  read by pydicom, and the boxes against the independent masks in both frames.
- NIfTI pairs: the same data array and affine (1e-4) as dcm2niix + nibabel on our DICOM series;
  the mask on the same grid; byte-identical rewrites; datalist.json in MONAI's form.
A knee run (flip_up_down) and a brain run (flip_left_right, no up/down flip) cover the frames."""
import csv
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

TOOL = os.environ.get("FMR_ML_TOOL", "")
KNEE = ["file1001259", "file1001706", "file1000033", "file1002097"]
KNEE_REVIEWED = ["file1001259", "file1001706", "file1000033"]  # file1002097: rows, not reviewed
BRAIN = ["file_brain_AXT1_202_6000306", "file_brain_AXFLAIR_203_6000890"]
# Rows a real CSV lacks: labels needing quotes, a duplicate, a study-level row, a bad slice.
EXTRA = ('file1001706,12,No,40,50,20,10,"Odd, ""quoted"" label"\n'
         'file1001706,12,No,40,50,20,10,"Odd, ""quoted"" label"\n'
         "file1001706,3,Yes,,,,,Study level thing\n"
         "file1001706,99,No,1,1,5,5,Meniscus Tear\n"
         "file1001706,4,No,300,310,40,40,  Spaced label  \n")
RUNS = {"knee": dict(names=KNEE, reviewed=KNEE_REVIEWED, flips=(1, 0), slices="30"),
        "brain": dict(names=BRAIN, reviewed=BRAIN, flips=(0, 1), slices="16")}


def sha(p):
    return ft.sha256(p)


def check_boxes_rows(tc, got, want, anatomy):
    """boxes.csv rows (csv.DictReader) against MlOutputsTest.oracle_rows' (also it.ml_run's)."""
    tc.assertEqual(len(got), len(want), anatomy)
    for g, w in zip(got, want):
        ctx = f"{anatomy} {w['volume']} line {w['csv_line']}"
        for k in ("volume", "slice", "csv_line", "label", "label_bit", "study_level",
                  "duplicate", "bad_slice", "clipped", "degenerate", "outside"):
            tc.assertEqual(g[k], str(w[k]), f"{ctx}: {k}")
        for k in ("x", "y", "width", "height"):
            tc.assertEqual(g[k], "" if w["study_level"] else str(w[k]), f"{ctx}: {k}")
        b = w["box"]
        img = [g[f"image_{k}"] for k in ("x", "y", "width", "height")]
        nat = [g[f"native_{k}"] for k in ("x", "y", "width", "height")]
        if b is None:
            tc.assertEqual(img + nat, [""] * 8, ctx)
            continue
        tc.assertEqual([int(v) for v in img], list(b["image"]), ctx)
        tc.assertEqual([int(v) for v in nat], list(b["native"]), ctx)
        np.testing.assert_allclose([float(g[f"mm0_{a}"]) for a in "xyz"], b["mm0"],
                                   atol=1e-3, err_msg=ctx)
        np.testing.assert_allclose([float(g[f"mm1_{a}"]) for a in "xyz"], b["mm1"],
                                   atol=1e-3, err_msg=ctx)


class MlOutputsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not TOOL or not os.path.exists(TOOL):
            raise AssertionError("FMR_ML_TOOL not set: run through ctest")
        if not shutil.which("dcm2niix"):
            raise AssertionError("dcm2niix not found: scripts/install-deps.sh --test")
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-ml-")
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        cls.data, cls.csv, cls.out = {}, {}, {}
        for anatomy, r in RUNS.items():
            data = os.path.join(cls.tmp, "data-" + anatomy)
            ft.synth(data, anatomy, r["names"], "--size", "336x328", "--frame", "320x320",
                     "--coils", "2", "--slices", r["slices"])
            src = ft.KNEE_CSV if anatomy == "knee" else ft.BRAIN_CSV
            path = os.path.join(cls.tmp, anatomy + ".csv")
            with open(src, newline="") as f:
                text = f.read()
            with open(path, "w", newline="") as f:
                f.write(text if text.endswith("\n") else text + "\n")
                if anatomy == "knee":
                    f.write(EXTRA)
            cls.data[anatomy], cls.csv[anatomy] = data, path
            cls.out[anatomy] = os.path.join(cls.tmp, "out-" + anatomy)
            for name in r["names"]:
                cls.volume(anatomy, name, cls.out[anatomy])
            cls.build(anatomy, 1)

    @classmethod
    def volume(cls, anatomy, name, out):
        r = RUNS[anatomy]
        ft.run([TOOL, "volume", out, cls.csv[anatomy], anatomy, str(r["flips"][0]),
                str(r["flips"][1]), "1" if name in r["reviewed"] else "0",
                os.path.join(cls.data[anatomy], name + ".h5")])

    @classmethod
    def build_args(cls, anatomy, ranks, out=None):
        r = RUNS[anatomy]
        return [ft.MPIEXEC, "--oversubscribe", "-np", str(ranks), TOOL, "build",
                out or cls.out[anatomy],
                cls.csv[anatomy], anatomy, str(r["flips"][0]), str(r["flips"][1]),
                ",".join(r["reviewed"])] + [os.path.join(cls.data[anatomy], n + ".h5")
                                            for n in sorted(r["names"])]

    @classmethod
    def build(cls, anatomy, ranks):
        ft.run(cls.build_args(anatomy, ranks), timeout=600)

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("FMR_KEEP_TMP"):
            print("kept", cls.tmp, file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers -----------------------------------------------------------------------------
    def rows(self, anatomy):
        with open(self.csv[anatomy], newline="") as f:
            return list(csv.DictReader(f))

    def dicoms(self, anatomy, name):
        d = os.path.join(self.out[anatomy], "dicom", name)
        return [pydicom.dcmread(os.path.join(d, f)) for f in sorted(os.listdir(d))]

    def reference_mask(self, anatomy, name, slices):
        rows = self.rows(anatomy)
        m = ft.rasterize_reference(rows, name, slices, 320, 320, ft.vocabulary(rows))
        fud, flr = RUNS[anatomy]["flips"]
        # fastMRI+ frame -> image frame: rows differ by !flip_up_down, columns by flip_left_right.
        return ft.orient(m, not fud, flr)

    # ---- dataset.h5 --------------------------------------------------------------------------
    def test_dataset_identical_for_1_2_3_ranks_kill_and_stale_files(self):
        anatomy = "knee"
        path = os.path.join(self.out[anatomy], "dataset.h5")
        first, csv_sha = sha(path), sha(os.path.join(self.out[anatomy], "boxes.csv"))
        for ranks in (2, 3):
            self.build(anatomy, ranks)
            self.assertEqual(sha(path), first, f"{ranks} ranks")
            self.assertEqual(sha(os.path.join(self.out[anatomy], "boxes.csv")), csv_sha)
        # A SIGKILL somewhere in the build, then a rerun.
        p = subprocess.Popen(self.build_args(anatomy, 2), env=ft.env(), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.6)
        ft.kill_run(p)
        # Debris a killed run may leave: a stale temporary and a truncated final file.
        with open(path + ".fmr-tmp", "wb") as f:
            f.write(b"\x89HDF garbage")
        with open(path, "r+b") as f:
            f.truncate(4096)
        self.build(anatomy, 3)
        self.assertEqual(sha(path), first, "after kill + rerun")
        self.assertFalse(os.path.exists(path + ".fmr-tmp"))
        print(f"\ndataset.h5 {os.path.getsize(path)} bytes, sha256 {first[:16]}... for 1/2/3 ranks "
              "and after kill + rerun", file=sys.stderr)

    def test_unreadable_volume_file_fails_every_rank_and_leaves_nothing(self):
        out = os.path.join(self.tmp, "broken")
        shutil.copytree(self.out["brain"], out)
        for f in ("dataset.h5", "boxes.csv"):
            os.unlink(os.path.join(out, f))
        # The second volume (copied by rank 1 of 2) no longer has the recorded shape: rank 0 reads
        # its tables fine and only rank 1 fails, in the independent copy phase.
        with h5py.File(os.path.join(out, "recon", sorted(BRAIN)[1] + ".h5"), "r+") as f:
            del f["reconstruction"]
            f["reconstruction"] = np.zeros((2, 2, 2), np.float32)
        p = ft.run(self.build_args("brain", 2, out), check=False, timeout=600)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(sorted(BRAIN)[1], p.stderr)
        left = sorted(os.listdir(out))
        self.assertNotIn("dataset.h5", left)
        self.assertFalse([f for f in left if f.endswith(".fmr-tmp")], left)

    def test_dataset_contents_against_numpy(self):
        for anatomy, r in RUNS.items():
            rows = self.rows(anatomy)
            vocab = ft.vocabulary(rows)
            fud, flr = r["flips"]
            with h5py.File(os.path.join(self.out[anatomy], "dataset.h5"), "r") as f:
                self.assertEqual(list(f.attrs["vocabulary"]), vocab)
                self.assertEqual(f.attrs["format"], "fastmri-regen-dataset/1")
                self.assertEqual(sorted(f["volumes"]), sorted(r["names"]))
                slices_tab = f["slices"][()]
                boxes_tab = f["boxes"][()]
                order = sorted(r["names"])
                for vi, name in enumerate(order):
                    g = f["volumes"][name]
                    with h5py.File(os.path.join(self.data[anatomy], name + ".h5"), "r") as src:
                        ks = ft.read_kspace(src)
                    ref = ft.orient(ft.recon_reference(ks, 320, 320), fud, flr)
                    rec = g["reconstruction"][()]
                    self.assertEqual(rec.dtype, np.float32)
                    self.assertEqual(rec.shape, ref.shape)
                    self.assertLess(ft.nmse(ref, rec), 1e-10, name)
                    ds = self.dicoms(anatomy, name)
                    self.assertEqual(g.attrs["series_uid"], ds[0].SeriesInstanceUID)
                    self.assertEqual(list(g.attrs["frame"]), [320, 320])
                    self.assertEqual(list(g.attrs["kspace_shape"]), list(ks.shape))
                    self.assertEqual(g.attrs["input"], name + ".h5")
                    self.assertEqual(bool(g.attrs["reviewed"]), name in r["reviewed"])
                    self.assertTrue(np.isfinite(g.attrs["nmse_vs_stored"]))
                    self.assertEqual(g["reconstruction"].id.get_create_plist().get_layout(),
                                     h5py.h5d.CONTIGUOUS)
                    mine = slices_tab[slices_tab["volume_index"] == vi]
                    self.assertEqual(list(mine["slice"]), list(range(rec.shape[0])))
                    self.assertTrue(all(v.decode() == name for v in mine["volume"]))
                    if name in r["reviewed"]:
                        want = self.reference_mask(anatomy, name, rec.shape[0])
                        np.testing.assert_array_equal(g["mask"][()], want, err_msg=name)
                        bits = np.bitwise_or.reduce(want.reshape(want.shape[0], -1), axis=1)
                        np.testing.assert_array_equal(mine["label_bits"], bits.astype(np.uint64))
                        # recon/<name>.h5 keeps the labelled slices' chunks only (fill 0 for the
                        # rest), and dataset.h5 gets the same pixels from it.
                        with h5py.File(os.path.join(self.out[anatomy], "recon", name + ".h5"),
                                       "r") as pv:
                            np.testing.assert_array_equal(pv["mask"][()], want, err_msg=name)
                            self.assertEqual(pv["mask"].id.get_num_chunks(),
                                             int((bits != 0).sum()), name)
                    else:
                        self.assertNotIn("mask", g)
                        self.assertTrue((mine["label_bits"] == 0).all())
                    b = boxes_tab[boxes_tab["volume"] == name.encode()]
                    drawn = b[(b["has_box"] == 1) & (b["duplicate"] == 0)]
                    counts = np.bincount(drawn["slice"], minlength=rec.shape[0])[:rec.shape[0]]
                    np.testing.assert_array_equal(mine["boxes"], counts, err_msg=name)
            with open(os.path.join(self.out[anatomy], "boxes.csv"), newline="") as fh:
                self.assertEqual(len(list(csv.DictReader(fh))), len(boxes_tab))

    # ---- boxes.csv ---------------------------------------------------------------------------
    def oracle_rows(self, anatomy, name, slices):
        """From the CSV alone (SPEC 4, 6, 11) and the DICOM geometry read by pydicom."""
        fud, flr = RUNS[anatomy]["flips"]
        H = W = 320
        vocab = ft.vocabulary(self.rows(anatomy))
        ds = {int(d.InstanceNumber) - 1: d for d in self.dicoms(anatomy, name)}
        out, seen = [], set()
        with open(self.csv[anatomy], newline="") as f:
            reader = csv.reader(f)
            next(reader)
            for rec in reader:
                line = reader.line_num
                if not rec or rec[0] != name:
                    continue
                key = tuple(rec)
                dup = key in seen
                seen.add(key)
                study = rec[2].strip().lower() == "yes"
                s = int(rec[1])
                label = rec[7].strip()
                row = {"volume": name, "slice": s, "csv_line": line, "label": label,
                       "label_bit": vocab.index(label), "study_level": int(study),
                       "duplicate": int(dup), "bad_slice": int(not 0 <= s < slices),
                       "clipped": 0, "degenerate": 0, "outside": 0, "box": None}
                if not study:
                    x, y, w, h = (int(v) for v in rec[3:7])
                    row.update(x=x, y=y, width=w, height=h)
                    if w <= 0 or h <= 0:
                        row["degenerate"] = 1
                    else:
                        row["clipped"] = int(x < 0 or y < 0 or x + w > W or y + h > H)
                        c0, c1, r0, r1 = max(x, 0), min(x + w, W), max(y, 0), min(y + h, H)
                        if c1 <= c0 or r1 <= r0:
                            row["outside"] = 1
                        elif not row["bad_slice"]:
                            ir = (r0, r1) if fud else (H - r1, H - r0)
                            ic = (W - c1, W - c0) if flr else (c0, c1)
                            d = ds[s]
                            ipp = np.array([float(v) for v in d.ImagePositionPatient])
                            iop = np.array([float(v) for v in d.ImageOrientationPatient])
                            dr, dc = (float(v) for v in d.PixelSpacing)

                            def mm(rr, cc):
                                return ipp + iop[:3] * dc * cc + iop[3:] * dr * rr
                            row["box"] = dict(image=(ic[0], ir[0], ic[1] - ic[0], ir[1] - ir[0]),
                                              native=(c0, H - r1, c1 - c0, r1 - r0),
                                              mm0=mm(ir[0] - 0.5, ic[0] - 0.5),
                                              mm1=mm(ir[1] - 0.5, ic[1] - 0.5))
                out.append(row)
        out.sort(key=lambda r: (r["slice"], r["csv_line"]))
        return out

    def test_boxes_csv_against_the_csv_rows_and_dicom_geometry(self):
        for anatomy, r in RUNS.items():
            with open(os.path.join(self.out[anatomy], "boxes.csv"), "rb") as fh:
                raw = fh.read()
            self.assertIn(b"\r\n", raw)
            got = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
            if anatomy == "knee":
                self.assertIn(b'"Odd, ""quoted"" label"', raw)
                print("\nboxes.csv (first rows):\n" + "\n".join(raw.decode().splitlines()[:4]),
                      file=sys.stderr)
            want = []
            for name in sorted(r["names"]):
                want += self.oracle_rows(anatomy, name, int(RUNS[anatomy]["slices"]))
            check_boxes_rows(self, got, want, anatomy)

    def test_boxes_cover_their_label_in_the_independent_masks(self):
        for anatomy, r in RUNS.items():
            with open(os.path.join(self.out[anatomy], "boxes.csv"), newline="") as fh:
                got = list(csv.DictReader(fh))
            slices = int(r["slices"])
            for name in r["reviewed"]:
                img = self.reference_mask(anatomy, name, slices)
                fud, flr = r["flips"]
                plus = ft.orient(img, not fud, flr)  # back to the fastMRI+ frame (self-inverse)
                native = ft.orient(plus, True, False)  # fastMRI's arrays: fastMRI+ rows flipped
                for g in got:
                    if g["volume"] != name or g["image_x"] == "":
                        continue
                    bit = np.uint64(1) << np.uint64(int(g["label_bit"]))
                    s = int(g["slice"])
                    for frame, m in (("image", img), ("native", native)):
                        x, y, w, h = (int(g[f"{frame}_{k}"]) for k in ("x", "y", "width", "height"))
                        region = m[s, y:y + h, x:x + w].astype(np.uint64)
                        self.assertTrue(((region & bit) != 0).all(), f"{name} {frame} {g}")

    # ---- NIfTI -------------------------------------------------------------------------------
    def test_nifti_matches_dcm2niix_and_masks(self):
        for anatomy, r in RUNS.items():
            for name in r["names"]:
                nii_dir = os.path.join(self.tmp, "dcm2niix", anatomy, name)
                os.makedirs(nii_dir)
                ft.run(["dcm2niix", "-z", "n", "-b", "n", "-o", nii_dir, "-f", "ref",
                        os.path.join(self.out[anatomy], "dicom", name)])
                ref = nibabel.load(os.path.join(nii_dir, "ref.nii"))
                ours = nibabel.load(os.path.join(self.out[anatomy], "nifti", name + ".nii.gz"))
                self.assertEqual(ours.get_data_dtype(), np.int16)
                np.testing.assert_array_equal(np.asarray(ours.dataobj), np.asarray(ref.dataobj),
                                              err_msg=name)
                np.testing.assert_allclose(ours.affine, ref.affine, atol=1e-4, err_msg=name)
                mpath = os.path.join(self.out[anatomy], "nifti", name + "_mask.nii.gz")
                if name not in r["reviewed"]:
                    self.assertFalse(os.path.exists(mpath))
                    continue
                m = nibabel.load(mpath)
                np.testing.assert_allclose(m.affine, ref.affine, atol=1e-4)
                want = self.reference_mask(anatomy, name, int(r["slices"]))
                # NIfTI (i, j, k) = (column, rows from the bottom, slice), as the image.
                got = np.asarray(m.dataobj)[:, ::-1, :].transpose(2, 1, 0)
                np.testing.assert_array_equal(got, want, err_msg=name)

    def test_rewrites_are_byte_identical(self):
        other = os.path.join(self.tmp, "again")
        name = "file1001706"
        self.volume("knee", name, other)
        for rel in (f"nifti/{name}.nii.gz", f"nifti/{name}_mask.nii.gz", f"recon/{name}.h5"):
            self.assertEqual(sha(os.path.join(other, rel)),
                             sha(os.path.join(self.out["knee"], rel)), rel)

    def test_datalist_is_monai_form(self):
        for anatomy, r in RUNS.items():
            with open(os.path.join(self.out[anatomy], "datalist.json")) as f:
                dl = json.load(f)
            want = [{"image": f"nifti/{n}.nii.gz", "label": f"nifti/{n}_mask.nii.gz"}
                    for n in sorted(r["reviewed"])]
            self.assertEqual(dl, {"training": want})
            for e in dl["training"]:
                for k in ("image", "label"):
                    self.assertTrue(os.path.exists(os.path.join(self.out[anatomy], e[k])))


if __name__ == "__main__":
    unittest.main(verbosity=2)
