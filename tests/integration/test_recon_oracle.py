"""`fastmri-regen recon` against a float64 numpy oracle of SPEC 3, on fastMRI-format files written
here with h5py (independently of the project's C code): multi-coil, single-coil, odd sizes,
chunked + gzip input, the reconSpace frame fallback, stored reconstructions as the source, flips,
undersampled k-space, and files that must fail cleanly. Run with Debian's /usr/bin/python3;
FMR_BIN names the binary."""
import os
import shutil
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

BIN = os.environ.get("FMR_BIN") or os.path.join(os.environ.get("FMR_BUILD_DIR", "build"),
                                                 "fastmri-regen")
EXIT_FAILED, EXIT_USAGE = 1, 2
NMSE_MAX = 1e-10  # SPEC 3
COMPLEX64 = np.dtype([("r", "<f4"), ("i", "<f4")])  # fastMRI's on-disk complex type


def oracle(k, h, w):
    """SPEC 3 in float64: fftshift(ifft2(ifftshift(k))) orthonormal per coil, RSS over coils
    (magnitude for single-coil), then crop rows/cols starting at (H-h)//2, (W-w)//2."""
    k = np.asarray(k, np.complex128)
    if k.ndim == 3:  # single-coil (slices, H, W)
        k = k[:, None]
    x = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), axes=(-2, -1), norm="ortho"),
                        axes=(-2, -1))
    img = np.sqrt(np.sum(np.abs(x) ** 2, axis=1))
    H, W = img.shape[-2:]
    r0, c0 = (H - h) // 2, (W - w) // 2
    return img[:, r0:r0 + h, c0:c0 + w]


def nmse(a, ref):
    a = np.asarray(a, np.float64)
    ref = np.asarray(ref, np.float64)
    return float(np.sum((a - ref) ** 2) / np.sum(ref ** 2))


def phantom_kspace(rng, slices, coils, H, W):
    """Smooth images (a few Gaussian blobs on an ellipse) seen through smooth complex coil
    sensitivities, plus a little noise, taken to k-space with fastMRI's centred orthonormal FFT.
    coils=0 gives single-coil (slices, H, W)."""
    y, x = np.mgrid[0:H, 0:W]
    y = (y - H / 2) / H
    x = (x - W / 2) / W
    nc = max(coils, 1)
    k = np.empty((slices, nc, H, W), np.complex128)
    for s in range(slices):
        img = 1.0 * ((y / 0.4) ** 2 + (x / 0.35) ** 2 < 1)
        for _ in range(4):
            cy, cx = rng.uniform(-0.25, 0.25, 2)
            sig, amp = rng.uniform(0.03, 0.1), rng.uniform(0.5, 2)
            img = img + amp * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sig ** 2))
        # soften the ellipse's edge with a Gaussian low-pass (no scipy on purpose)
        lowpass = np.exp(-40 * (np.fft.fftfreq(H)[:, None] ** 2 + np.fft.fftfreq(W)[None, :] ** 2))
        img = np.abs(np.fft.ifft2(np.fft.fft2(img) * lowpass))
        for c in range(nc):
            ang = 2 * np.pi * c / nc
            sens = (np.exp(-((y - 0.4 * np.sin(ang)) ** 2 + (x - 0.4 * np.cos(ang)) ** 2) / 0.2)
                    * np.exp(1j * (ang + 3 * x * y)))
            noise = rng.standard_normal((H, W)) + 1j * rng.standard_normal((H, W))
            xc = img * sens + 0.01 * noise
            k[s, c] = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(xc), norm="ortho"))
    k *= 1e-4  # fastMRI's k-space values are small
    return (k if coils else k[:, 0]).astype(np.complex64)


def as_compound(k):
    out = np.empty(k.shape, COMPLEX64)
    out["r"] = k.real
    out["i"] = k.imag
    return out


def header_xml(recon_x=None, recon_y=None):
    recon = ""
    if recon_x is not None:
        recon = (f"<reconSpace><matrixSize><x>{recon_x}</x><y>{recon_y}</y><z>1</z></matrixSize>"
                 "<fieldOfView_mm><x>140</x><y>140</y><z>4.5</z></fieldOfView_mm></reconSpace>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">'
            "<measurementInformation><protocolName>COR PD FBK</protocolName></measurementInformation>"
            f"<encoding><encodedSpace><matrixSize><x>640</x><y>368</y><z>1</z></matrixSize>"
            "<fieldOfView_mm><x>280</x><y>280</y><z>4.5</z></fieldOfView_mm></encodedSpace>"
            f"{recon}</encoding></ismrmrdHeader>")


def write_volume(path, k, rss_shape=None, esc=False, header=None, chunked=False, fixed_header=False,
                 mask=None):
    """A fastMRI-format file. The stored reconstruction (when asked for) is the oracle's own
    result at rss_shape, as in real files."""
    kw, rkw = {}, {}
    if chunked:
        kw = dict(chunks=(1,) + k.shape[1:], compression="gzip", shuffle=True)
        rkw = dict(chunks=True, compression="gzip", shuffle=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=as_compound(k), **kw)
        if rss_shape is not None:
            ref = oracle(k, *rss_shape).astype(np.float32)
            f.create_dataset("reconstruction_rss", data=ref, **rkw)
            if esc:
                f.create_dataset("reconstruction_esc", data=ref * np.float32(0.5), **rkw)
        if header is not None:
            f["ismrmrd_header"] = np.bytes_(header.encode()) if fixed_header else header
        if mask is not None:
            f["mask"] = mask
        f.attrs["acquisition"] = "CORPD_FBK"
        f.attrs["patient_id"] = "0123456789abcdef"
        f.attrs["max"] = 0.0005
        f.attrs["norm"] = 0.1


class ReconOracle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(BIN):
            raise unittest.SkipTest(f"no binary at {BIN} (set FMR_BIN)")
        cls.tmp = tempfile.mkdtemp(prefix="fmr_recon_oracle_")
        cls.rng = np.random.default_rng(20240611)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def recon(self, src, *options, expect=0):
        out = src.replace(".h5", "") + "_out" + "".join(o.replace("-", "_") for o in options) + ".h5"
        p = subprocess.run([BIN, "recon", *options, src, out], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, expect, f"recon {options} {src}: exit {p.returncode}\n{p.stderr}")
        return out, p

    def load(self, out):
        with h5py.File(out, "r") as f:
            d = f["reconstruction"]
            self.assertEqual(d.dtype, np.dtype("<f4"))
            return d[()], dict(d.attrs)

    def check_nmse(self, out, ref, label):
        img, attrs = self.load(out)
        self.assertEqual(img.shape, ref.shape, label)
        e = nmse(img, ref)
        print(f"{label}: NMSE {e:.3g}")
        self.assertLess(e, NMSE_MAX, label)
        return img, attrs

    def test_multicoil(self):
        k = phantom_kspace(self.rng, 3, 4, 64, 48)
        src = self.path("multicoil.h5")
        write_volume(src, k, rss_shape=(32, 32), header=header_xml(320, 320))
        out, _ = self.recon(src)
        img, attrs = self.check_nmse(out, oracle(k, 32, 32), "multicoil 3x4x64x48 -> 32x32")
        self.assertEqual(attrs["source"], "kspace")
        self.assertEqual(int(attrs["flip_ud"]), 0)
        self.assertEqual(int(attrs["flip_lr"]), 0)
        self.assertEqual(int(attrs["undersampled"]), 0)
        self.assertLess(float(attrs["nmse_vs_stored"]), NMSE_MAX)

        # the fastMRI+ frame is flipped; --flip-lr too
        out2, _ = self.recon(src, "--flip-ud", "--flip-lr")
        img2, attrs2 = self.load(out2)
        np.testing.assert_array_equal(img2, img[:, ::-1, ::-1])
        self.assertEqual(int(attrs2["flip_ud"]), 1)
        self.assertEqual(int(attrs2["flip_lr"]), 1)

        # FFTW_MEASURE may pick another algorithm: still within tolerance
        out3, _ = self.recon(src, "--fft-effort", "measure")
        self.check_nmse(out3, oracle(k, 32, 32), "multicoil, FFTW measure")

        # chunked + gzip + shuffle input is read transparently, to the same bits
        srcz = self.path("multicoil_gzip.h5")
        write_volume(srcz, k, rss_shape=(32, 32), header=header_xml(320, 320), chunked=True)
        outz, _ = self.recon(srcz)
        imgz, _ = self.load(outz)
        np.testing.assert_array_equal(imgz, img)

    def test_singlecoil(self):
        k = phantom_kspace(self.rng, 2, 0, 40, 36)
        src = self.path("singlecoil.h5")
        write_volume(src, k, rss_shape=(20, 20), esc=True, header=header_xml(320, 320),
                     fixed_header=True)
        out, _ = self.recon(src)
        self.check_nmse(out, oracle(k, 20, 20), "singlecoil 2x40x36 -> 20x20")

    def test_odd_sizes(self):
        k = phantom_kspace(self.rng, 2, 3, 63, 45)
        src = self.path("odd.h5")
        write_volume(src, k, rss_shape=(31, 29), header=header_xml(320, 320))
        out, _ = self.recon(src)
        img, _ = self.check_nmse(out, oracle(k, 31, 29), "odd 2x3x63x45 -> 31x29")
        # the wrong shift convention or crop offset would be far off, not a rounding away
        wrong = np.roll(oracle(k, 31, 29), 1, axis=(1, 2))
        self.assertGreater(nmse(img, wrong), 1e-4)

        k1 = phantom_kspace(self.rng, 1, 0, 33, 27)
        src1 = self.path("odd_single.h5")
        write_volume(src1, k1, rss_shape=(16, 14))
        out1, _ = self.recon(src1)
        self.check_nmse(out1, oracle(k1, 16, 14), "odd single-coil 1x33x27 -> 16x14")

    def test_reconspace_fallback(self):
        # no stored reconstruction: the frame is reconSpace x -> rows, y -> columns
        k = phantom_kspace(self.rng, 2, 2, 50, 40)
        src = self.path("fallback.h5")
        write_volume(src, k, header=header_xml(30, 21))
        out, _ = self.recon(src)
        self.check_nmse(out, oracle(k, 30, 21), "reconSpace 30x21 of 50x40")
        # ... clamped to the image when reconSpace is larger (fastMRI's usual 320 x 320 here)
        src2 = self.path("fallback_clamp.h5")
        write_volume(src2, k, header=header_xml(320, 320))
        out2, _ = self.recon(src2)
        self.check_nmse(out2, oracle(k, 50, 40), "reconSpace 320x320 clamped to 50x40")
        # neither a stored reconstruction nor reconSpace: a clean failure
        src3 = self.path("noframe.h5")
        write_volume(src3, k, header=header_xml())
        _, p = self.recon(src3, expect=EXIT_FAILED)
        self.assertIn(src3, p.stderr)
        self.assertIn("target frame", p.stderr)

    def test_stored_source(self):
        k = phantom_kspace(self.rng, 3, 2, 32, 24)
        src = self.path("stored.h5")
        write_volume(src, k, rss_shape=(16, 12), esc=True)
        with h5py.File(src, "r") as f:
            rss = f["reconstruction_rss"][()]
            esc = f["reconstruction_esc"][()]
        out, _ = self.recon(src, "--source", "reconstruction_rss")
        img, attrs = self.load(out)
        np.testing.assert_array_equal(img, rss)
        self.assertEqual(attrs["source"], "reconstruction_rss")
        out, _ = self.recon(src, "--source=reconstruction_esc", "--flip-ud")
        img, _ = self.load(out)
        np.testing.assert_array_equal(img, esc[:, ::-1, :])
        src2 = self.path("no_stored.h5")
        write_volume(src2, k, header=header_xml(16, 12))
        _, p = self.recon(src2, "--source", "reconstruction_rss", expect=EXIT_FAILED)
        self.assertIn(src2, p.stderr)

    def test_undersampled(self):
        k = phantom_kspace(self.rng, 2, 3, 48, 40)
        mask = np.zeros(40, bool)
        mask[::4] = True
        mask[16:24] = True
        src = self.path("undersampled.h5")
        write_volume(src, k * mask, header=header_xml(24, 24), mask=mask)
        out, _ = self.recon(src)
        _, attrs = self.check_nmse(out, oracle(k * mask, 24, 24), "undersampled zero-filled")
        self.assertEqual(int(attrs["undersampled"]), 1)

    def test_nan_fails_cleanly(self):
        k = phantom_kspace(self.rng, 3, 2, 32, 24)
        k[1, 1, 5, 7] = np.nan
        src = self.path("nan.h5")
        write_volume(src, k.astype(np.complex64), header=header_xml(16, 16))
        out, p = self.recon(src, expect=EXIT_FAILED)
        self.assertIn(src, p.stderr)
        self.assertIn("slice 1", p.stderr)
        self.assertIn("NaN", p.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("nan_out")], [])

    def test_bad_files_and_usage(self):
        src = self.path("not_hdf5.h5")
        with open(src, "w") as f:
            f.write("not HDF5\n")
        _, p = self.recon(src, expect=EXIT_FAILED)
        self.assertIn(src, p.stderr)
        src = self.path("no_kspace.h5")
        with h5py.File(src, "w") as f:
            f["reconstruction_rss"] = np.zeros((2, 4, 4), np.float32)
        _, p = self.recon(src, expect=EXIT_FAILED)
        self.assertIn("kspace", p.stderr)
        self.assertNotIn("HDF5-DIAG", p.stderr)  # HDF5's own error stack stays quiet
        hostile = self.path("hostile.h5")
        write_volume(hostile, phantom_kspace(self.rng, 1, 1, 8, 8), rss_shape=(4, 4),
                     header='<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                            '<ismrmrdHeader>&e;</ismrmrdHeader>')
        _, p = self.recon(hostile, expect=EXIT_FAILED)
        self.assertIn("DOCTYPE", p.stderr)
        for args in ([], ["only_one.h5"], ["--source", "bogus", "a.h5", "b.h5"],
                     ["--fft-effort", "exhaustive", "a.h5", "b.h5"], ["--nope", "a.h5", "b.h5"],
                     ["a.h5", "b.h5", "c.h5"]):
            p = subprocess.run([BIN, "recon", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            self.assertEqual(p.returncode, EXIT_USAGE, f"{args}: {p.stderr}")
        p = subprocess.run([BIN, "recon", "--help"], stdout=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--source", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
