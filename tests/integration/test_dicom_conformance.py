"""DICOM conformance end to end (issue 3, SPEC 5.2): synthetic fastMRI volumes -> `fastmri-regen run`
-> the standard's validators and the tools users run, on every file the pipeline writes.

Volumes: knee multi-coil, knee single-coil, a knee whose header has what real fastMRI knee headers
carry and synth leaves out (TI 100 ms on a non-inversion-recovery protocol) plus an ISMRMRD >= 1.4
echoTrainLength, brain AXFLAIR and AXT1 multi-coil, and three sparse headers: a minimal ISMRMRD
document (non-square frame, anisotropic pixels, no `acquisition` root attribute), one without
reconSpace, and one whose reconSpace has no field of view at all.

- dciodvfy (dicom3tools) on every image: no line starting "Error"; every "Warning" is in ALLOWED,
  which mirrors README "DICOM conformance" (each with its reason).
- dcentvfy (dicom3tools) per series and over a whole run: no output at all.
- dcm2niix per volume folder: exactly one 3-D NIfTI, columns x rows x slices voxels, voxel size from
  the header, every voxel where the DICOM geometry puts it, no warning outside DCM2NIIX_TOLERATED.
- Header mapping: every mapped attribute checked against the volume's ISMRMRD XML (parsed here with
  xml.etree, independently of src/header.c), with units; every element of every file checked
  against its VR's rules (DS <= 16 characters, IS, UI, CS, ...).
- Deterministic UIDs (2.25 or a configured root) and dates (config, SOURCE_DATE_EPOCH); two runs,
  and 1 vs 3 ranks, give byte-identical DICOM files.
The validators are Debian packages (dicom3tools, dcm2niix, python3-nibabel: scripts/install-deps.sh
--test); a missing one fails the test rather than skipping it."""
import datetime
import hashlib
import os
import re
import shutil
import sys
import unittest
import xml.etree.ElementTree as ET

import h5py
import nibabel
import numpy as np
import pydicom

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

NS = "{http://www.ismrm.org/ISMRMRD}"
SIZE = ["--size", "336x328", "--frame", "320x320", "--coils", "2", "--slices", "6"]
KNEE_MULTI, KNEE_SINGLE, KNEE_RICH = "file9000001", "file9000002", "file9000003"
SPARSE_MIN, SPARSE_NO_RECON, SPARSE_NO_FOV = "file9000004", "file9000005", "file9000006"
KNEE = [KNEE_MULTI, KNEE_SINGLE, KNEE_RICH, SPARSE_MIN, SPARSE_NO_RECON, SPARSE_NO_FOV]
FLAIR, T1 = "file_brain_AXFLAIR_900_6000001", "file_brain_AXT1_900_6000002"
BRAIN = [FLAIR, T1]
CONFIG_DATE, CONFIG_TIME = "20210315", "101112"
UID_ROOT = "1.2.826.0.1.3680043.10.1234"
ETL = 11

# dciodvfy warnings that remain, with the reason (README "DICOM conformance"): (regex, applies to).
ALLOWED = [
    # SPEC 5.2: PatientName is exactly the volume name; dciodvfy prefers "name^" (family-name form).
    (re.compile(r"^Warning - Value dubious for this VR - \(0x0010,0x0010\) PN Patient's Name .*"
                r" - Retired Person Name form$"), lambda anatomy: True),
    # Laterality is Type 2C for a paired body part; fastMRI does not say which knee.
    (re.compile(r"^Warning - is only permitted to be empty when actually unknown; .*"
                r"attribute <Laterality>$"), lambda anatomy: anatomy == "knee"),
]

# dcm2niix warnings that are about the source data, not the geometry: (prefix, applies when).
DCM2NIIX_TOLERATED = [
    # Its Siemens slice-timing heuristic needs the vendor's private CSA header, which a regenerated
    # image cannot have; it fires for any multi-slice 2-D series whose Manufacturer says Siemens.
    ("Warning: Siemens MoCo? Bogus slice timing",
     lambda ds: str(ds.get("Manufacturer", "")).upper().startswith("SIEMENS")),
    # The header had no protocolName / systemVendor: the attribute is empty, as SPEC 2.1 says.
    ("Warning: Empty protocol name", lambda ds: not ds.get("ProtocolName")),
    ("Warning: Unable to determine manufacturer", lambda ds: not ds.get("Manufacturer")),
]

UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
DS_RE = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
IS_RE = re.compile(r"^[+-]?[0-9]+$")
CS_RE = re.compile(r"^[A-Z0-9 _]*$")
TM_RE = re.compile(r"^([01][0-9]|2[0-3])([0-5][0-9]([0-5][0-9](\.[0-9]{1,6})?)?)?$")
TEXT_MAX = {"SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "PN": 64, "AE": 16}
GENERATED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")


# ---- the sparse and enriched headers ----------------------------------------------------------------
def space(tag, mx, my, mz, fov=None):
    s = f"<{tag}><matrixSize><x>{mx}</x><y>{my}</y><z>{mz}</z></matrixSize>"
    if fov:
        s += "<fieldOfView_mm><x>%s</x><y>%s</y><z>%s</z></fieldOfView_mm>" % fov
    return s + f"</{tag}>"


def doc(*parts):
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">'
            + "".join(parts) + "</ismrmrdHeader>")


LIMITS = ("<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>327</maximum>"
          "<center>164</center></kspace_encoding_step_1></encodingLimits>")
SPARSE_HEADERS = {
    # Every element the ISMRMRD schema requires and nothing optional: no measurementInformation,
    # acquisitionSystemInformation or sequenceParameters. A 320 x 304 frame of 0.5 x 0.4375 mm
    # pixels, 4 mm slices: a rows/columns swap in PixelSpacing or NIfTI shows.
    SPARSE_MIN: doc("<experimentalConditions><H1resonanceFrequency_Hz>63676408</H1resonanceFrequency_Hz>"
                    "</experimentalConditions><encoding>",
                    space("encodedSpace", 336, 328, 1, ("168", "143.5", "4")),
                    space("reconSpace", 320, 304, 1, ("160", "133", "4")),
                    LIMITS, "<trajectory>cartesian</trajectory></encoding>"),
    SPARSE_NO_RECON: doc("<encoding>", space("encodedSpace", 336, 328, 1, ("147", "143.5", "3")),
                         "<trajectory>cartesian</trajectory></encoding>"),
    SPARSE_NO_FOV: doc("<encoding>", space("reconSpace", 320, 320, 1), "</encoding>"),
}


def enrich_knee(xml):
    """What real fastMRI knee headers carry and synth leaves out (TI 100 ms on a PD TSE), plus the
    ISMRMRD >= 1.4 encoding/echoTrainLength."""
    assert "<TE>" in xml and "</encoding>" in xml
    xml = re.sub(r"(<TE>[^<]*</TE>)", r"\1<TI>100</TI>", xml, count=1)
    return xml.replace("</encoding>", f"<echoTrainLength>{ETL}</echoTrainLength></encoding>", 1)


def rewrite_header(path, xml, drop_acquisition=False):
    with h5py.File(path, "r+") as f:
        del f["ismrmrd_header"]
        f["ismrmrd_header"] = np.bytes_(xml.encode())
        if drop_acquisition:
            del f.attrs["acquisition"]


# ---- reading the XML independently of src/header.c -------------------------------------------------
def xtext(root, path):
    e = root.find("/".join(NS + p for p in path.split("/")))
    if e is None or e.text is None or not e.text.strip():
        return None
    return e.text.strip()


def xnum(root, path):
    t = xtext(root, path)
    return None if t is None else float(t)


# ---- small helpers ------------------------------------------------------------------------------------
def dcm_files(out, name):
    d = os.path.join(out, "dicom", name)
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".dcm")]


def dicom_hashes(out):
    return {rel: h for rel, h in ft.tree_hashes(out).items() if rel.endswith(".dcm")}


def tool_output(args):
    p = ft.run(args, check=False)
    return p.returncode, (p.stdout + p.stderr)


def text_or_none(ds, keyword):
    if keyword not in ds or ds[keyword].value in (None, ""):
        return None
    return str(ds[keyword].value)


def ds_list(ds, keyword):
    v = ds[keyword].value
    return [float(x) for x in (v if isinstance(v, (list, pydicom.multival.MultiValue)) else [v])]


def study_id_rule(mid):
    """README: the longest tail after a '_' that fits SH (16), else the last 16 characters."""
    if len(mid) <= 16:
        return mid
    tails = [mid[k + 1:] for k, ch in enumerate(mid) if ch == "_" and 0 < len(mid) - k - 1 <= 16]
    return tails[0] if tails else mid[-16:]


def expected_uid(root, volume, role, index=None, namespace="fastmri-regen"):
    """README "UIDs": <root>.<decimal of the leading bits of SHA-256("<namespace>/<volume>/<role>
    [/<slice>]")>, 128 bits under 2.25, as many as fit in 64 characters under a longer root."""
    name = f"{namespace}/{volume}/{role}" + ("" if index is None else f"/{index}")
    v = int.from_bytes(hashlib.sha256(name.encode()).digest()[:16], "big")
    bits = 128
    while len(str(2 ** bits - 1)) > 64 - 1 - len(root):
        bits -= 1
    return f"{root}.{v >> (128 - bits)}"


def assert_documented_uids(test, d, root):
    roles = {"StudyInstanceUID": ("study", None), "SeriesInstanceUID": ("series", None),
             "FrameOfReferenceUID": ("frame-of-reference", None),
             "SOPInstanceUID": ("image", int(d.InstanceNumber) - 1)}
    for kw, (role, index) in roles.items():
        test.assertEqual(d[kw].value, expected_uid(root, str(d.PatientID), role, index), kw)


def extra_config(root=None):
    s = f"dicom:\n  date: \"{CONFIG_DATE}\"\n  time: \"{CONFIG_TIME}\"\n"
    if root:
        s += f"  uid_root: \"{root}\"\n"
    return s


class DicomConformanceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [t for t in ("dciodvfy", "dcentvfy", "dcm2niix") if not shutil.which(t)]
        if missing:
            raise AssertionError(f"{missing} not found: scripts/install-deps.sh --test installs "
                                 "dicom3tools and dcm2niix")
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-dicom-")
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()  # unittest skips it when setUpClass fails
            raise

    @classmethod
    def prepare(cls):
        cls.data = os.path.join(cls.tmp, "data")
        ft.synth(cls.data, "knee", [KNEE_MULTI, KNEE_RICH, SPARSE_NO_RECON, SPARSE_NO_FOV], *SIZE)
        ft.synth(cls.data, "knee", [KNEE_SINGLE], "--size", "336x328", "--frame", "320x320",
                 "--slices", "6", "--single-coil")
        ft.synth(cls.data, "knee", [SPARSE_MIN], "--size", "336x328", "--frame", "320x304",
                 "--coils", "2", "--slices", "6")
        ft.synth(cls.data, "brain", BRAIN, *SIZE)
        path = lambda n: os.path.join(cls.data, n + ".h5")  # noqa: E731
        with h5py.File(path(KNEE_RICH), "r") as f:
            rich = enrich_knee(f["ismrmrd_header"][()].decode())
        rewrite_header(path(KNEE_RICH), rich)
        for name, xml in SPARSE_HEADERS.items():
            rewrite_header(path(name), xml, drop_acquisition=(name == SPARSE_MIN))
        cls.xml = {}
        cls.acquisition = {}
        for name in KNEE + BRAIN:
            with h5py.File(path(name), "r") as f:
                cls.xml[name] = ET.fromstring(f["ismrmrd_header"][()])
                acq = f.attrs.get("acquisition")
                cls.acquisition[name] = acq.decode() if isinstance(acq, bytes) else acq
        cls.anatomy = {**{n: "knee" for n in KNEE}, **{n: "brain" for n in BRAIN}}

        cls.cfg, cls.out = {}, {}
        for anatomy, names in (("knee", KNEE), ("brain", BRAIN)):
            cls.out[anatomy] = os.path.join(cls.tmp, f"out-{anatomy}")
            cls.cfg[anatomy] = ft.write_config(os.path.join(cls.tmp, f"{anatomy}.yaml"), anatomy,
                                               [cls.data], names, cls.out[anatomy],
                                               extra=extra_config())
            ft.pipeline(cls.cfg[anatomy], 1)
        cls.files = {n: dcm_files(cls.out[cls.anatomy[n]], n) for n in KNEE + BRAIN}
        cls.ds = {n: [pydicom.dcmread(p) for p in cls.files[n]] for n in KNEE + BRAIN}

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("FMR_KEEP_TMP"):
            print("kept", cls.tmp, file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_variant(self, anatomy, tag, ranks=1, root=None, extra_env=None):
        out = os.path.join(self.tmp, f"out-{anatomy}-{tag}")
        cfg = ft.write_config(os.path.join(self.tmp, f"{anatomy}-{tag}.yaml"), anatomy, [self.data],
                              KNEE if anatomy == "knee" else BRAIN, out, extra=extra_config(root))
        ft.pipeline(cfg, ranks, extra_env=extra_env)
        return out

    # ---- the validators --------------------------------------------------------------------------
    def test_every_volume_written(self):
        for anatomy in ("knee", "brain"):
            m = ft.manifest(self.out[anatomy])
            for v in m["volumes"]:
                self.assertEqual(v["status"], "ok", v["error"])
        for name in KNEE + BRAIN:
            self.assertEqual(len(self.files[name]), 6, name)

    def test_dciodvfy_no_error_and_only_documented_warnings(self):
        shown = {KNEE_MULTI, FLAIR}
        for name in KNEE + BRAIN:
            anatomy = self.anatomy[name]
            for path in self.files[name]:
                rc, out = tool_output(["dciodvfy", path])
                if name in shown:
                    print(f"\n$ dciodvfy {os.path.basename(path)}\n{out}", file=sys.stderr, end="")
                    shown.discard(name)
                lines = out.splitlines()
                errors = [ln for ln in lines if ln.startswith("Error")]
                self.assertEqual(errors, [], path)
                unexplained = [ln for ln in lines if ln.startswith("Warning") and not any(
                    rx.match(ln) and applies(anatomy) for rx, applies in ALLOWED)]
                self.assertEqual(unexplained, [], path)
                self.assertEqual(rc, 0, f"{path}\n{out}")

    def test_dcentvfy_series_and_runs_consistent(self):
        for name in KNEE + BRAIN:
            rc, out = tool_output(["dcentvfy", *self.files[name]])
            if name in (KNEE_MULTI, FLAIR):
                print(f"\n$ dcentvfy {name}/*.dcm\n{out or '(no output)'}", file=sys.stderr)
            self.assertEqual((rc, out.strip()), (0, ""), name)
        # Across a whole run: volumes never share a UID with different entity attributes.
        for names in (KNEE, BRAIN):
            rc, out = tool_output(["dcentvfy", *[p for n in names for p in self.files[n]]])
            self.assertEqual((rc, out.strip()), (0, ""))

    def test_dcm2niix_one_3d_volume_with_the_dicom_geometry(self):
        for name in KNEE + BRAIN:
            folder = os.path.dirname(self.files[name][0])
            nii_dir = os.path.join(self.tmp, "nii", name)
            os.makedirs(nii_dir)
            rc, out = tool_output(["dcm2niix", "-z", "n", "-b", "n", "-o", nii_dir, "-f", "out", folder])
            if name in (KNEE_MULTI, FLAIR):
                print(f"\n$ dcm2niix {name}/\n{out}", file=sys.stderr, end="")
            self.assertEqual(rc, 0, out)
            first = self.ds[name][0]
            bad = [ln for ln in out.splitlines()
                   if re.search(r"warn|error|unable|bogus|vary|varies|inconsist|voxel|tilt|orient",
                                ln.replace(nii_dir, "").replace(folder, ""), re.I)
                   and not any(ln.startswith(p) and when(first) for p, when in DCM2NIIX_TOLERATED)]
            self.assertEqual(bad, [], f"{name}:\n{out}")
            niis = [f for f in os.listdir(nii_dir) if ".nii" in f]
            self.assertEqual(niis, ["out.nii"], name)
            img = nibabel.load(os.path.join(nii_dir, "out.nii"))
            rows, cols, n = first.Rows, first.Columns, len(self.ds[name])
            # NIfTI i runs along a DICOM row (columns), j along a column (rows), k across slices.
            self.assertEqual(img.shape, (cols, rows, n), name)
            dr, dc = ds_list(first, "PixelSpacing")
            dz = float(first.SpacingBetweenSlices)
            np.testing.assert_allclose(img.header.get_zooms(), (dc, dr, dz), rtol=1e-6, err_msg=name)
            self.check_voxels_where_dicom_puts_them(name, img)

    def check_voxels_where_dicom_puts_them(self, name, img):
        """Every pixel of every file maps, through the NIfTI affine, to a voxel holding its value."""
        data = np.asarray(img.dataobj)
        lps_from_vox = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine  # NIfTI is RAS, DICOM LPS
        vox_from_lps = np.linalg.inv(lps_from_vox)
        for ds in self.ds[name]:
            iop = np.array(ds_list(ds, "ImageOrientationPatient"))
            ipp = np.array(ds_list(ds, "ImagePositionPatient"))
            dr, dc = ds_list(ds, "PixelSpacing")
            r, c = np.mgrid[0:ds.Rows, 0:ds.Columns]
            world = (ipp[:, None, None] + iop[:3, None, None] * dc * c + iop[3:, None, None] * dr * r)
            pts = np.concatenate([world.reshape(3, -1), np.ones((1, r.size))])
            idx = vox_from_lps @ pts
            rounded = np.rint(idx[:3]).astype(int)
            self.assertLess(float(np.abs(idx[:3] - rounded).max()), 1e-3, name)
            vals = data[rounded[0], rounded[1], rounded[2]]
            np.testing.assert_array_equal(vals, ds.pixel_array.reshape(-1), err_msg=name)

    # ---- what the files say ------------------------------------------------------------------------
    def test_header_mapping_against_the_xml(self):
        for name in KNEE + BRAIN:
            with self.subTest(volume=name):
                self.check_mapping(name, self.xml[name], self.ds[name])

    def check_mapping(self, name, x, series):
        ds = series[0]
        text = lambda kw: text_or_none(ds, kw)  # noqa: E731

        def num(kw):
            return None if text(kw) is None else float(ds[kw].value)

        # Text fields, as the header has them (absent or empty when it does not).
        self.assertIn("Manufacturer", ds)  # Type 2
        for kw, path in (("Manufacturer", "acquisitionSystemInformation/systemVendor"),
                         ("ManufacturerModelName", "acquisitionSystemInformation/systemModel"),
                         ("InstitutionName", "acquisitionSystemInformation/institutionName"),
                         ("SequenceName", "sequenceParameters/sequence_type"),
                         ("StudyDescription", "measurementInformation/protocolName"),
                         ("ProtocolName", "measurementInformation/protocolName"),
                         ("PatientPosition", "measurementInformation/patientPosition"),
                         ("ClinicalTrialSeriesID", "measurementInformation/measurementID")):
            self.assertEqual(text(kw), xtext(x, path), kw)
        self.assertEqual(text("SeriesDescription"),
                         self.acquisition[name] or xtext(x, "measurementInformation/protocolName"))

        # Numbers with units: T, Hz -> MHz, ms, degrees.
        fs = xnum(x, "acquisitionSystemInformation/systemFieldStrength_T")
        self.assertEqual(num("MagneticFieldStrength"), fs)
        hz = xnum(x, "experimentalConditions/H1resonanceFrequency_Hz")
        if hz is None:
            self.assertIsNone(num("ImagingFrequency"))
        else:
            self.assertAlmostEqual(num("ImagingFrequency"), hz / 1e6, delta=1e-12 * hz)
            self.assertEqual(ds.ImagedNucleus, "1H")
        for kw, path in (("RepetitionTime", "sequenceParameters/TR"),
                         ("EchoTime", "sequenceParameters/TE"),
                         ("FlipAngle", "sequenceParameters/flipAngle_deg")):
            self.assertEqual(num(kw), xnum(x, path), kw)
        self.assertIn("RepetitionTime", ds)  # Type 2C (not EPI), Type 2 in practice
        self.assertIn("EchoTime", ds)
        # InversionTime only for inversion recovery: the FLAIR, not the knee with TI = 100 ms.
        if "FLAIR" in name:
            self.assertEqual(num("InversionTime"), xnum(x, "sequenceParameters/TI"))
            self.assertEqual(list(ds.ScanningSequence), ["SE", "IR"])
            self.assertEqual(list(ds.SequenceVariant), ["SK", "MP"])
        else:
            self.assertNotIn("InversionTime", ds)
            if name == KNEE_RICH:
                self.assertEqual(xnum(x, "sequenceParameters/TI"), 100.0)
        if xtext(x, "sequenceParameters/sequence_type") == "TurboSpinEcho" and "FLAIR" not in name:
            self.assertEqual((ds.ScanningSequence, ds.SequenceVariant), ("SE", "SK"))
        if xtext(x, "sequenceParameters/sequence_type") is None:
            # The defined terms for "research / unknown".
            self.assertEqual((ds.ScanningSequence, ds.SequenceVariant), ("RM", "NONE"))
        self.assertIn("ScanOptions", ds)  # Type 2
        self.assertEqual(text("ScanOptions"), None)  # no fat saturation in these names
        etl = xtext(x, "encoding/echoTrainLength")
        self.assertIn("EchoTrainLength", ds)  # Type 2: empty when the header does not say
        self.assertEqual(text("EchoTrainLength"), etl)
        if name == KNEE_RICH:
            self.assertEqual(int(ds.EchoTrainLength), ETL)
        mz = xtext(x, "encoding/encodedSpace/matrixSize/z")
        self.assertEqual(text("MRAcquisitionType"),
                         None if mz is None else ("2D" if mz == "1" else "3D"))

        # StudyID (SH, 16) derived from the measurementID, which is kept whole elsewhere.
        mid = xtext(x, "measurementInformation/measurementID")
        self.assertLessEqual(len(ds.StudyID), 16)
        self.assertTrue(ds.StudyID)
        self.assertTrue((mid or name).endswith(ds.StudyID), (mid, ds.StudyID))
        self.assertEqual(ds.StudyID, study_id_rule(mid or name))

        # Patient: the volume name, nothing invented.
        self.assertEqual(str(ds.PatientName), name)
        self.assertEqual(ds.PatientID, name)
        self.assertEqual(text("PatientBirthDate"), None)
        self.assertEqual(text("PatientSex"), None)
        self.assertIn("PatientBirthDate", ds)
        self.assertIn("PatientSex", ds)
        self.assertEqual(ds.PatientIdentityRemoved, "YES")
        self.assertEqual(ds.BodyPartExamined, self.anatomy[name].upper())

        # Geometry: reconSpace FOV / matrix, or 1 mm stated as assumed.
        fx, fy, fz = (xnum(x, f"encoding/reconSpace/fieldOfView_mm/{a}") for a in "xyz")
        mx, my = (xnum(x, f"encoding/reconSpace/matrixSize/{a}") for a in "xy")
        mzr = xnum(x, "encoding/reconSpace/matrixSize/z") or 1
        note = ds.ImageComments
        self.assertIn("NOMINAL GEOMETRY", note)
        if None in (fx, fy, mx, my):
            want_ps = [1.0, 1.0]
            self.assertIn("Pixel spacing unknown", note)
        else:
            want_ps = [fx / mx, fy / my]
        want_dz = 1.0 if fz is None else fz / max(mzr, 1)
        if fz is None:
            self.assertIn("Slice thickness and spacing unknown", note)
        np.testing.assert_allclose(ds_list(ds, "PixelSpacing"), want_ps, rtol=1e-12)
        self.assertAlmostEqual(float(ds.SliceThickness), want_dz, delta=1e-12)
        self.assertAlmostEqual(float(ds.SpacingBetweenSlices), want_dz, delta=1e-12)
        self.assertNotIn("PixelAspectRatio", ds)
        with h5py.File(os.path.join(self.data, name + ".h5"), "r") as f:
            stored = f["reconstruction_rss" if "reconstruction_rss" in f else "reconstruction_esc"]
            self.assertEqual((ds.Rows, ds.Columns), stored.shape[1:])
        self.check_nominal_geometry(name, series, want_dz)

        # Pixel module: SPEC 5.1/5.2 values, true range as SS.
        for d in series:
            self.assertEqual((d.BitsAllocated, d.BitsStored, d.HighBit, d.PixelRepresentation),
                             (16, 12, 11, 1))
            px = d.pixel_array
            self.assertEqual((d.SmallestImagePixelValue, d.LargestImagePixelValue),
                             (int(px.min()), int(px.max())))
            self.assertEqual(d.get_item(0x00280106).VR, "SS")
            self.assertEqual(d.get_item(0x00280107).VR, "SS")
            self.assertEqual(list(d.ImageType), ["DERIVED", "SECONDARY", "OTHER"])
            self.assertTrue(d.DerivationDescription)

    def check_nominal_geometry(self, name, series, dz):
        plane = {"knee": [1, 0, 0, 0, 0, -1], "brain": [1, 0, 0, 0, 1, 0]}[self.anatomy[name]]
        frames = {d.FrameOfReferenceUID for d in series}
        self.assertEqual(len(frames), 1, name)
        centres = []
        for k, d in enumerate(series):
            self.assertEqual(int(d.InstanceNumber), k + 1)
            iop = np.array(ds_list(d, "ImageOrientationPatient"))
            np.testing.assert_array_equal(iop, plane)  # coronal knee, axial brain
            dr, dc = ds_list(d, "PixelSpacing")
            ipp = np.array(ds_list(d, "ImagePositionPatient"))
            centre = ipp + iop[:3] * dc * (d.Columns - 1) / 2 + iop[3:] * dr * (d.Rows - 1) / 2
            normal = np.cross(iop[:3], iop[3:])
            self.assertAlmostEqual(float(d.SliceLocation), float(centre @ normal), delta=1e-6)
            centres.append(centre)
        centres = np.array(centres)
        np.testing.assert_allclose(np.diff(centres, axis=0), np.tile(normal * dz, (len(series) - 1, 1)),
                                   atol=1e-6, err_msg=name)
        np.testing.assert_allclose(centres.mean(axis=0), 0.0, atol=1e-6, err_msg=name)

    def test_every_element_valid_for_its_vr(self):
        for name in KNEE + BRAIN:
            for path, ds in zip(self.files[name], self.ds[name]):
                raw = pydicom.dcmread(path)  # untouched: elements stay raw until read
                for dataset in (raw.file_meta, raw):
                    for tag in list(dataset.keys()):
                        el = dataset.get_item(tag)
                        self.check_vr(path, tag, el.VR, el.value)

    def check_vr(self, path, tag, vr, value):
        where = f"{os.path.basename(path)} {tag} {vr}"
        if vr in ("OB", "OW", "US", "SS", "UL", "SL", "FL", "FD", "SQ"):
            return
        if value is None:  # a zero-length (empty Type 2) element
            value = b""
        s = value.decode("ascii") if isinstance(value, bytes) else str(value)
        s = s.rstrip("\0 ") if vr == "UI" else s.rstrip(" ")
        values = s.split("\\") if vr not in ("ST", "LT", "UT") else [s]
        for v in values:
            if vr == "DS":
                self.assertLessEqual(len(v), 16, where)
                if v.strip():
                    self.assertRegex(v.strip(), DS_RE, where)
            elif vr == "IS":
                self.assertLessEqual(len(v), 12, where)
                if v.strip():
                    self.assertRegex(v.strip(), IS_RE, where)
                    self.assertLess(abs(int(v)), 2 ** 31, where)
            elif vr == "UI":
                self.assertLessEqual(len(v), 64, where)
                self.assertRegex(v, UID_RE, where)
            elif vr == "CS":
                self.assertLessEqual(len(v), 16, where)
                self.assertRegex(v, CS_RE, where)
            elif vr == "DA":
                if v:
                    datetime.datetime.strptime(v, "%Y%m%d")
            elif vr == "TM":
                if v:
                    self.assertRegex(v, TM_RE, where)
            elif vr in TEXT_MAX:
                self.assertLessEqual(len(v), TEXT_MAX[vr], where)
                self.assertFalse(re.search(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\xff]", v), where)
            else:
                self.fail(f"{where}: a VR this test does not know")

    def test_uids_deterministic_valid_and_distinct(self):
        seen = {}
        for name in KNEE + BRAIN:
            study = {d.StudyInstanceUID for d in self.ds[name]}
            series = {d.SeriesInstanceUID for d in self.ds[name]}
            self.assertEqual((len(study), len(series)), (1, 1))
            for d in self.ds[name]:
                self.assertEqual(d.file_meta.MediaStorageSOPInstanceUID, d.SOPInstanceUID)
                self.assertEqual(d.file_meta.MediaStorageSOPClassUID, "1.2.840.10008.5.1.4.1.1.4")
                self.assertEqual(d.file_meta.TransferSyntaxUID, "1.2.840.10008.1.2.1")
                for kw in GENERATED_UIDS:
                    uid = d[kw].value
                    self.assertTrue(uid.startswith("2.25."), uid)
                    self.assertLess(int(uid[5:]), 2 ** 128)
                    self.assertLessEqual(len(uid), 64)
                    self.assertRegex(uid, UID_RE)
                    what = (name, kw, d.InstanceNumber if kw == "SOPInstanceUID" else None)
                    seen.setdefault(uid, set()).add(what)
                assert_documented_uids(self, d, "2.25")
        self.assertTrue(all(len(v) == 1 for v in seen.values()), "a UID names two things")

    def test_configured_uid_root(self):
        out = self.run_variant("knee", "root", root=UID_ROOT)
        for name in KNEE:
            for path, ref in zip(dcm_files(out, name), self.ds[name]):
                d = pydicom.dcmread(path)
                for kw in GENERATED_UIDS:
                    uid = d[kw].value
                    self.assertTrue(uid.startswith(UID_ROOT + "."), uid)
                    self.assertLessEqual(len(uid), 64)
                    self.assertRegex(uid, UID_RE)
                    self.assertNotEqual(uid, ref[kw].value)
                self.assertEqual(d.file_meta.MediaStorageSOPInstanceUID, d.SOPInstanceUID)
                assert_documented_uids(self, d, UID_ROOT)
        rc, out_text = tool_output(["dciodvfy", dcm_files(out, KNEE_MULTI)[0]])
        self.assertFalse([ln for ln in out_text.splitlines() if ln.startswith("Error")], out_text)

    # ---- dates and determinism ---------------------------------------------------------------------
    def dates(self, ds):
        return ({kw: ds[kw].value for kw in ("StudyDate", "SeriesDate", "AcquisitionDate",
                                              "ContentDate", "InstanceCreationDate")},
                {kw: ds[kw].value for kw in ("StudyTime", "SeriesTime", "AcquisitionTime",
                                              "ContentTime", "InstanceCreationTime")})

    def assert_never_today(self, ds):
        today = {datetime.date.today().strftime("%Y%m%d"),
                 datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")}
        for el in ds.iterall():
            if el.VR == "DA" and el.value:
                self.assertNotIn(el.value, today - {CONFIG_DATE, "20231114"}, el)

    def test_dates_from_the_config(self):
        for name in KNEE + BRAIN:
            for d in self.ds[name]:
                da, tm = self.dates(d)
                self.assertEqual(set(da.values()), {CONFIG_DATE}, name)
                self.assertEqual(set(tm.values()), {CONFIG_TIME}, name)
                self.assert_never_today(d)

    def test_source_date_epoch_wins_and_ranks_do_not_matter(self):
        env = {"SOURCE_DATE_EPOCH": "1700000000"}  # 2023-11-14 22:13:20 UTC
        out1 = self.run_variant("knee", "sde1", ranks=1, extra_env=env)
        out3 = self.run_variant("knee", "sde3", ranks=3, extra_env=env)
        h1 = dicom_hashes(out1)
        self.assertEqual(len(h1), 6 * len(KNEE))
        self.assertEqual(dicom_hashes(out3), h1)
        for name in KNEE:
            for path, ref in zip(dcm_files(out1, name), self.ds[name]):
                d = pydicom.dcmread(path)
                da, tm = self.dates(d)
                self.assertEqual(set(da.values()), {"20231114"})
                self.assertEqual(set(tm.values()), {"221320"})
                self.assert_never_today(d)
                for kw in GENERATED_UIDS:  # dates do not move UIDs
                    self.assertEqual(d[kw].value, ref[kw].value)

    def test_two_runs_byte_identical(self):
        out = self.run_variant("knee", "again")
        ref = dicom_hashes(self.out["knee"])
        self.assertEqual(len(ref), 6 * len(KNEE))
        self.assertEqual(dicom_hashes(out), ref)

    def test_one_and_three_ranks_byte_identical(self):
        out = self.run_variant("brain", "np3", ranks=3)
        ref = dicom_hashes(self.out["brain"])
        self.assertEqual(len(ref), 6 * len(BRAIN))
        self.assertEqual(dicom_hashes(out), ref)


if __name__ == "__main__":
    unittest.main()
