"""`fastmri-regen synth` against independent h5py/numpy checks: the files must look like real
fastMRI files (SPEC 2.1) and reconstruct, by SPEC 3's formula in float64, to their own
reconstruction_rss. Run with Debian's /usr/bin/python3; FMR_BIN names the binary."""
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

import h5py
import numpy as np

BIN = os.environ.get("FMR_BIN") or os.path.join(os.environ.get("FMR_BUILD_DIR", "build"), "fastmri-regen")
NS = "{http://www.ismrm.org/ISMRMRD}"


def run(*args, check=True, preexec_fn=None):
    p = subprocess.run([BIN, "synth", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       preexec_fn=preexec_fn)
    if check and p.returncode != 0:
        raise AssertionError(f"synth {args} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def recon(k, h, w):
    """SPEC 3 in float64: fftshift(ifft2(ifftshift(k))) orthonormal, RSS over coils, crop."""
    k = np.asarray(k, np.complex128)
    if k.ndim == 3:
        k = k[:, None]
    x = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), axes=(-2, -1), norm="ortho"),
                        axes=(-2, -1))
    img = np.sqrt(np.sum(np.abs(x) ** 2, axis=1))
    H, W = img.shape[-2:]
    r0, c0 = (H - h) // 2, (W - w) // 2
    return img, img[:, r0:r0 + h, c0:c0 + w]


def nmse(ref, x):
    ref = np.asarray(ref, np.float64)
    return float(np.sum((ref - np.asarray(x, np.float64)) ** 2) / np.sum(ref ** 2))


def xml_text(root, path):
    e = root.find("/".join(NS + p for p in path.split("/")))
    return None if e is None else e.text


def xml_int(root, path):
    return int(xml_text(root, path))


class SynthTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fmr-synth-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def out(self, name):
        return os.path.join(self.tmp, name)

    def check_kspace_type(self, f):
        t = f["kspace"].id.get_type()
        self.assertIsInstance(t, h5py.h5t.TypeCompoundID)
        self.assertEqual(t.get_nmembers(), 2)
        self.assertEqual([t.get_member_name(i) for i in range(2)], [b"r", b"i"])
        for i in range(2):
            m = t.get_member_type(i)
            self.assertIsInstance(m, h5py.h5t.TypeFloatID)
            self.assertEqual(m.get_size(), 4)
            self.assertEqual(m.get_order(), h5py.h5t.ORDER_LE)
        self.assertEqual(t.get_member_offset(1), 4)
        self.assertEqual(f["kspace"].dtype, np.complex64)

    def check_header(self, f, H, W, h, w, slices, coils, anatomy):
        hdr = f["ismrmrd_header"]
        self.assertEqual(hdr.shape, ())
        raw = hdr[()]
        self.assertIsInstance(raw, bytes)
        root = ET.fromstring(raw)
        self.assertEqual(root.tag, NS + "ismrmrdHeader")
        self.assertEqual(xml_int(root, "encoding/encodedSpace/matrixSize/x"), H)
        self.assertEqual(xml_int(root, "encoding/encodedSpace/matrixSize/y"), W)
        self.assertEqual(xml_int(root, "encoding/encodedSpace/matrixSize/z"), 1)
        self.assertEqual(xml_int(root, "encoding/reconSpace/matrixSize/x"), h)
        self.assertEqual(xml_int(root, "encoding/reconSpace/matrixSize/y"), w)
        fov = [float(xml_text(root, f"encoding/reconSpace/fieldOfView_mm/{a}")) for a in "xyz"]
        efov = [float(xml_text(root, f"encoding/encodedSpace/fieldOfView_mm/{a}")) for a in "xyz"]
        self.assertAlmostEqual(fov[0] / h, fov[1] / w)  # square pixels
        self.assertAlmostEqual(efov[0] / H, fov[0] / h)  # same spacing in encoded space
        self.assertGreater(fov[2], 0)
        lim = "encoding/encodingLimits/kspace_encoding_step_1/"
        self.assertEqual(xml_int(root, lim + "minimum"), 0)
        self.assertEqual(xml_int(root, lim + "maximum"), W - 1)
        self.assertEqual(xml_int(root, lim + "center"), W // 2)
        self.assertEqual(xml_int(root, "encoding/encodingLimits/slice/maximum"), slices - 1)
        self.assertEqual(xml_text(root, "encoding/trajectory"), "cartesian")
        self.assertEqual(xml_int(root, "acquisitionSystemInformation/receiverChannels"), coils)
        self.assertEqual(xml_text(root, "acquisitionSystemInformation/systemVendor"), "SIEMENS")
        self.assertEqual(xml_text(root, "acquisitionSystemInformation/institutionName"), "NYU")
        self.assertAlmostEqual(float(xml_text(root, "acquisitionSystemInformation/systemFieldStrength_T")),
                               2.89362)
        self.assertEqual(xml_int(root, "experimentalConditions/H1resonanceFrequency_Hz"), 123251815)
        self.assertRegex(xml_text(root, "measurementInformation/measurementID"), r"^\d{5}_\d{8}_\d{8}_\d{1,4}$")
        self.assertRegex(xml_text(root, "measurementInformation/frameOfReferenceUID"), r"^[0-9]+(\.[0-9]+)+$")
        self.assertLessEqual(len(xml_text(root, "measurementInformation/frameOfReferenceUID")), 64)
        self.assertEqual(xml_text(root, "measurementInformation/patientPosition"),
                         "FFS" if anatomy == "knee" else "HFS")
        self.assertEqual(xml_text(root, "sequenceParameters/sequence_type"), "TurboSpinEcho")
        for p in ("TR", "TE", "flipAngle_deg", "echo_spacing"):
            self.assertGreater(float(xml_text(root, "sequenceParameters/" + p)), 0)
        return root

    def check_volume(self, path, slices, coils, H, W, h, w, anatomy="knee", singlecoil=False):
        with h5py.File(path, "r") as f:
            self.check_kspace_type(f)
            kshape = (slices, H, W) if singlecoil else (slices, coils, H, W)
            self.assertEqual(f["kspace"].shape, kshape)
            want = {"ismrmrd_header", "kspace", "reconstruction_rss"}
            if singlecoil:
                want.add("reconstruction_esc")
            self.assertEqual(set(f.keys()), want)
            rss = f["reconstruction_rss"]
            self.assertEqual(rss.dtype, np.dtype("<f4"))
            self.assertEqual(rss.shape, (slices, h, w))
            rss = rss[()]
            if singlecoil:
                np.testing.assert_array_equal(f["reconstruction_esc"][()], rss)
            root = self.check_header(f, H, W, h, w, slices, coils, anatomy)
            self.assertEqual(set(f.attrs.keys()), {"acquisition", "max", "norm", "patient_id"})
            self.assertEqual(f.attrs["max"], np.float64(rss.max()))
            self.assertAlmostEqual(f.attrs["norm"] / np.linalg.norm(rss.astype(np.float64)), 1.0, places=12)
            self.assertRegex(f.attrs["patient_id"], r"^[0-9a-f]{64}$")
            full, crop = recon(f["kspace"][()], h, w)
        e = nmse(rss, crop)
        self.assertLess(e, 1e-10, f"{path}: NMSE {e}")
        for s in range(slices):  # every slice holds an object above the noise, and slices differ
            self.assertGreater(rss[s].max(), 3 * rss[s].min())
        if slices > 1:
            self.assertGreater(nmse(rss[0], rss[-1]), 1e-4)
        return root, full, crop

    # ---- layouts ---------------------------------------------------------------------------------
    def test_multicoil(self):
        p = run("--out", self.out("mc"), "--names", "file1000001,file1000002", "--size", "64x48",
                "--frame", "32x32", "--coils", "3", "--slices", "3")
        self.assertEqual(len(p.stdout.strip().splitlines()), 2)
        for n in ("file1000001", "file1000002"):
            root, _, _ = self.check_volume(self.out(f"mc/{n}.h5"), 3, 3, 64, 48, 32, 32)
            self.assertEqual(xml_text(root, "measurementInformation/protocolName"), "COR PD FBK")
            with h5py.File(self.out(f"mc/{n}.h5"), "r") as f:
                self.assertEqual(f.attrs["acquisition"], "CORPD_FBK")
                self.assertEqual(f["ismrmrd_header"].id.get_type().get_class(), h5py.h5t.STRING)
        self.assertEqual(sorted(os.listdir(self.out("mc"))), ["file1000001.h5", "file1000002.h5"])

    def test_object_in_central_rows(self):
        # Without noise, nothing but the phantom, and it sits inside the central h x w frame.
        run("--out", self.out("c"), "--names", "file1000001", "--size", "64x48", "--frame", "32x40",
            "--coils", "2", "--slices", "2", "--noise", "0")
        with h5py.File(self.out("c/file1000001.h5"), "r") as f:
            full, crop = recon(f["kspace"][()], 32, 40)
        self.assertLess(np.sum(full ** 2) - np.sum(crop ** 2), 1e-10 * np.sum(full ** 2))

    def test_single_coil(self):
        run("--out", self.out("sc"), "--names", "file1000003", "--size", "40x36", "--frame", "20x20",
            "--single-coil", "--slices", "4")
        self.check_volume(self.out("sc/file1000003.h5"), 4, 1, 40, 36, 20, 20, singlecoil=True)

    def test_odd_sizes_brain(self):
        name = "file_brain_AXT2_200_6002428"
        run("--out", self.out("odd"), "--anatomy", "brain", "--names", name, "--size", "63x45",
            "--frame", "31x29", "--coils", "2", "--slices", "3")
        root, _, _ = self.check_volume(self.out(f"odd/{name}.h5"), 3, 2, 63, 45, 31, 29, anatomy="brain")
        with h5py.File(self.out(f"odd/{name}.h5"), "r") as f:
            self.assertEqual(f.attrs["acquisition"], "AXT2")
        self.assertEqual(xml_text(root, "measurementInformation/protocolName"), "AX T2")
        self.assertIsNone(root.find(NS + "sequenceParameters/" + NS + "TI"))

    def test_brain_flair_defaults_from_name(self):
        run("--out", self.out("b"), "--anatomy", "brain", "--names", "file_brain_AXFLAIR_200_6002425,other",
            "--size", "48x40", "--frame", "24x24", "--slices", "2")
        for n in ("file_brain_AXFLAIR_200_6002425", "other"):
            root, _, _ = self.check_volume(self.out(f"b/{n}.h5"), 2, 4, 48, 40, 24, 24, anatomy="brain")
            self.assertEqual(float(xml_text(root, "sequenceParameters/TI")), 2500)
            with h5py.File(self.out(f"b/{n}.h5"), "r") as f:
                self.assertEqual(f.attrs["acquisition"], "AXFLAIR")

    def test_undersampled(self):
        run("--out", self.out("u"), "--names", "file1000004", "--size", "64x50", "--frame", "32x32",
            "--coils", "2", "--slices", "2", "--undersampled")
        with h5py.File(self.out("u/file1000004.h5"), "r") as f:
            self.check_kspace_type(f)
            self.assertEqual(set(f.keys()), {"ismrmrd_header", "kspace", "mask"})
            mask = f["mask"][()]
            self.assertEqual(mask.dtype, np.bool_)  # h5py's enum bool
            self.assertEqual(mask.shape, (50,))
            k = f["kspace"][()]
            self.assertTrue(np.all(k[..., ~mask] == 0))
            self.assertTrue(np.all(np.abs(k[..., mask]).sum(axis=(0, 1, 2)) > 0))
            self.assertTrue(mask[25] and mask[24] and mask[26])  # centre lines
            self.assertLess(mask.sum(), 50 // 2)
            self.assertEqual(int(f.attrs["acceleration"]), 4)
            self.assertEqual(int(f.attrs["num_low_frequency"]), 4)
            self.assertNotIn("max", f.attrs)
            self.check_header(f, 64, 50, 32, 32, 2, 2, "knee")

    def test_chunked(self):
        run("--out", self.out("ch"), "--names", "file1000005", "--size", "64x48", "--frame", "32x32",
            "--coils", "3", "--slices", "3", "--chunked")
        path = self.out("ch/file1000005.h5")
        self.check_volume(path, 3, 3, 64, 48, 32, 32)
        with h5py.File(path, "r") as f:
            for name, chunk in (("kspace", (1, 3, 64, 48)), ("reconstruction_rss", (1, 32, 32))):
                self.assertEqual(f[name].chunks, chunk)
                self.assertEqual(f[name].compression, "gzip")
                self.assertEqual(f[name].compression_opts, 1)
                self.assertTrue(f[name].shuffle)
        # Same content as the contiguous file.
        run("--out", self.out("co"), "--names", "file1000005", "--size", "64x48", "--frame", "32x32",
            "--coils", "3", "--slices", "3")
        with h5py.File(path, "r") as a, h5py.File(self.out("co/file1000005.h5"), "r") as b:
            self.assertIsNone(b["kspace"].chunks)
            np.testing.assert_array_equal(a["kspace"][()], b["kspace"][()])

    # ---- determinism -----------------------------------------------------------------------------
    def test_deterministic(self):
        args = ["--names", "file1000001,file1000002", "--size", "32x24", "--frame", "16x16", "--slices", "2"]
        run("--out", self.out("d1"), *args)
        run("--out", self.out("d2"), *args)
        run("--out", self.out("d3"), *args, "--chunked")
        run("--out", self.out("d4"), *args, "--chunked")
        run("--out", self.out("s2"), *args, "--seed", "2")
        for n in ("file1000001", "file1000002"):
            self.assertEqual(sha256(self.out(f"d1/{n}.h5")), sha256(self.out(f"d2/{n}.h5")))
            self.assertEqual(sha256(self.out(f"d3/{n}.h5")), sha256(self.out(f"d4/{n}.h5")))
            self.assertNotEqual(sha256(self.out(f"d1/{n}.h5")), sha256(self.out(f"s2/{n}.h5")))
        with h5py.File(self.out("d1/file1000001.h5"), "r") as a, \
                h5py.File(self.out("d1/file1000002.h5"), "r") as b, \
                h5py.File(self.out("s2/file1000001.h5"), "r") as c:
            self.assertFalse(np.array_equal(a["kspace"][()], b["kspace"][()]))
            self.assertFalse(np.array_equal(a["kspace"][()], c["kspace"][()]))
            self.assertNotEqual(a.attrs["patient_id"], b.attrs["patient_id"])

    # ---- names, lists, slices, sub-folders --------------------------------------------------------
    def test_list_count_subdirs(self):
        lst = self.out("list.csv")
        with open(lst, "w", newline="") as f:
            f.write("fileA\r\n\r\nfileB\n  fileC  \nfileA\nfileD\n")
        p = run("--out", self.out("l"), "--list", lst, "--count", "3", "--subdirs", "--size", "16x16",
                "--frame", "8x8", "--slices", "1", "--coils", "1")
        self.assertEqual(len(p.stdout.strip().splitlines()), 3)
        found = sorted(os.path.relpath(os.path.join(d, n), self.out("l"))
                       for d, _, fs in os.walk(self.out("l")) for n in fs)
        self.assertEqual(found, ["batch0/fileA.h5", "batch0/fileC.h5", "batch1/fileB.h5"])

    def test_slices_from_csv(self):
        csv = self.out("ann.csv")
        with open(csv, "w") as f:
            f.write("file,slice,study_level,x,y,width,height,label\n"
                    "vol_a,7,No,10,10,5,5,Meniscus Tear\n"
                    "vol_a,3,No,1,1,2,2,Meniscus Tear\n"
                    "vol_b,0,Yes,,,,,Artifact\n")
        args = ["--names", "vol_a,vol_b,vol_c", "--slices-from", csv, "--size", "16x16", "--frame", "8x8",
                "--coils", "1"]
        run("--out", self.out("a"), *args)
        run("--out", self.out("b"), *args, "--slices", "6")
        for d, want in (("a", {"vol_a": 10, "vol_b": 4, "vol_c": 4}), ("b", {"vol_a": 10, "vol_b": 6, "vol_c": 6})):
            for n, s in want.items():
                with h5py.File(self.out(f"{d}/{n}.h5"), "r") as f:
                    self.assertEqual(f["kspace"].shape[0], s, f"{d}/{n}")

    def test_no_temporaries_left(self):
        run("--out", self.out("t"), "--names", "x1,x2", "--size", "16x16", "--frame", "8x8", "--slices", "1")
        self.assertEqual(sorted(os.listdir(self.out("t"))), ["x1.h5", "x2.h5"])

    # ---- errors ----------------------------------------------------------------------------------
    def test_bad_arguments_exit_2(self):
        o = self.out("bad")
        cases = [
            [],
            ["--names", "a"],
            ["--out", o],
            ["--out", o, "--names", "a", "--list", "x"],
            ["--out", o, "--names", "../etc"],
            ["--out", o, "--names", "a/b"],
            ["--out", o, "--names", "a,,b"],
            ["--out", o, "--names", "a\tb"],
            ["--out", o, "--names", "a", "--size", "0x5"],
            ["--out", o, "--names", "a", "--size", "64"],
            ["--out", o, "--names", "a", "--size", "64x48", "--frame", "65x48"],
            ["--out", o, "--names", "a", "--coils", "0"],
            ["--out", o, "--names", "a", "--single-coil", "--coils", "3"],
            ["--out", o, "--names", "a", "--noise", "-1"],
            ["--out", o, "--names", "a", "--noise", "nan"],
            ["--out", o, "--names", "a", "--slices", "x"],
            ["--out", o, "--names", "a", "--seed", "-3"],
            ["--out", o, "--names", "a", "--anatomy", "foot"],
            ["--out", o, "--names", "a", "--bogus"],
            ["--out", o, "--names", "a", "--count", "2"],
            ["--out", o, "--list", self.out("does-not-exist.csv")],
            ["--out", o, "--names", "a", "--slices-from", self.out("does-not-exist.csv")],
            ["--out", o, "--names", "a", "--acquisition", "AX<FLAIR"],
        ]
        for args in cases:
            p = run(*args, check=False)
            self.assertEqual(p.returncode, 2, f"{args}: {p.returncode}\n{p.stderr}")
            self.assertTrue(p.stderr.strip(), args)
        self.assertFalse(os.path.exists(o))
        self.assertEqual(run("--help").returncode, 0)

    def test_write_error_exit_1(self):
        blocker = self.out("file")
        with open(blocker, "w") as f:
            f.write("x")
        p = run("--out", os.path.join(blocker, "sub"), "--names", "a", "--size", "16x16", "--frame", "8x8",
                check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(blocker, p.stderr)

    def test_file_size_limit_fails_cleanly(self):
        # A volume that cannot fit fails before HDF5 writes (HDF5 1.10 crashes at exit after a
        # failed close); the small one is still written, and no partial file is left.
        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))
        p = run("--out", self.out("lim"), "--names", "big", "--size", "640x368", "--frame", "320x320",
                "--slices", "4", check=False, preexec_fn=limit)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("file size limit", p.stderr)
        p = run("--out", self.out("lim"), "--names", "small", "--size", "32x32", "--frame", "16x16",
                "--slices", "2", check=False, preexec_fn=limit)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.listdir(self.out("lim")), ["small.h5"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
