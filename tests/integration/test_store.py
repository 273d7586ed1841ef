"""The output store at the binary level: a directory the tool does not own is refused before
anything in it is touched (SPEC 9), the manifest carries no absolute path (SPEC 7, defect 2),
`verify` of an incomplete run fails, and storage faults injected by the LD_PRELOAD shim
(tests/shim/failio.c) leave no temporary file and let a rerun finish with the same bytes."""
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

NAMES = ["file1000143", "file1001259"]
SIZE = ["--size", "96x64", "--frame", "48x48", "--coils", "2", "--slices", "3"]
SHIM = os.environ.get("FMR_FAILIO_SHIM", "")


def temporaries(out):
    return glob.glob(os.path.join(out, "**", "*.fmr-tmp"), recursive=True)


def outputs(root):
    """Every file but the ones naming the config (manifest, records; dataset.h5 carries the config's
    SHA-256, SPEC 11) and the run report; the checksum list without its dataset.h5 line."""
    out = {k: v for k, v in ft.tree_hashes(root).items()
           if k not in ("manifest.json", "dataset.h5", "manifest-sha256.txt")
           and not k.startswith(".fmr/")}
    with open(os.path.join(root, "manifest-sha256.txt")) as f:
        out["manifest-sha256.txt"] = [ln for ln in f if not ln.rstrip("\n").endswith("  dataset.h5")]
    return out


def strings(j):
    if isinstance(j, str):
        yield j
    elif isinstance(j, list):
        for v in j:
            yield from strings(v)
    elif isinstance(j, dict):
        for v in j.values():
            yield from strings(v)


class StoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-store-")
        cls.data = os.path.join(cls.tmp, "data")
        ft.synth(cls.data, "knee", NAMES, *SIZE)
        cls.out = os.path.join(cls.tmp, "out")
        cls.config = ft.write_config(os.path.join(cls.tmp, "run.yaml"), "knee", [cls.data], NAMES,
                                     cls.out)
        ft.pipeline(cls.config, 1)
        cls.reference = outputs(cls.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def config_for(self, name, out):
        return ft.write_config(os.path.join(self.tmp, name + ".yaml"), "knee", [self.data], NAMES, out)

    def test_manifest_has_no_absolute_path(self):
        m = ft.manifest(self.out)
        # The config names the CSV by its absolute path: the manifest shows only its name.
        found = [s for s in strings(m) if s.startswith("/") or self.tmp in s or "/work/" in s]
        self.assertEqual(found, [])
        self.assertIn("warnings", m["totals"])
        self.assertEqual(m["totals"]["warnings"], sum(len(v["warnings"]) for v in m["volumes"]))

    def test_records_list_outputs_in_the_writer_table_order(self):
        # The writers run in two lanes at once (src/pipeline/writers.c) and the committer gets
        # their files interleaved; a record still lists them as the table orders its kinds, each
        # kind's files by index, so that it is the same bytes whatever the timing.
        table = ["dicom", "mask", "seg", "preview", "recon", "nifti", "nifti_mask"]
        recs = sorted(glob.glob(os.path.join(self.out, ".fmr", "records", "*.json")))
        self.assertEqual(len(recs), len(NAMES))
        for path in recs:
            with open(path) as f:
                outs = json.load(f)["record"]["outputs"]
            kinds = [o["kind"] for o in outs]
            # A reviewed volume gets files of both lanes, or the order would say nothing.
            self.assertIn("dicom", kinds, path)
            self.assertIn("mask", kinds, path)
            key = [(table.index(o["kind"]), o["path"]) for o in outs]
            self.assertEqual(key, sorted(key), path)

    def test_root_refused_at_once(self):
        config = self.config_for("root", "/")
        t0 = time.monotonic()
        p = ft.pipeline(config, 1, check=False)
        self.assertLess(time.monotonic() - t0, 30.0)  # mpi start-up included; nothing walked
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("output.dir / is not empty", p.stderr)
        for d in ("dicom", "masks", ".fmr", "manifest.json"):
            self.assertFalse(os.path.exists(os.path.join("/", d)), d)

    def test_someones_directory_refused(self):
        home = os.path.join(self.tmp, "home")
        os.makedirs(os.path.join(home, "masks"))
        for rel in ("notes.txt", "masks/draft.h5.fmr-tmp"):
            with open(os.path.join(home, rel), "w") as f:
                f.write("mine\n")
        before = sorted(os.path.relpath(os.path.join(d, n), home)
                        for d, _, fs in os.walk(home) for n in fs)
        p = ft.pipeline(self.config_for("home", home), 1, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("not empty", p.stderr)
        after = sorted(os.path.relpath(os.path.join(d, n), home)
                       for d, _, fs in os.walk(home) for n in fs)
        self.assertEqual(before, after)

    def test_verify_incomplete(self):
        out = os.path.join(self.tmp, "incomplete")
        shutil.copytree(self.out, out)
        self.assertEqual(ft.run([ft.BIN, "verify", out], check=False).returncode, 0)
        path = os.path.join(out, "manifest.json")
        with open(path) as f:
            m = json.load(f)
        m["complete"], m["remaining"] = False, 2
        with open(path, "w") as f:
            json.dump(m, f, indent=2)
        p = ft.run([ft.BIN, "verify", out], check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("incomplete", p.stdout)
        self.assertIn("2 volumes still to do", p.stdout)

    def fault_then_rerun(self, ranks, op, n, errno_name, words):
        out = os.path.join(self.tmp, f"fault-{op}-{ranks}")
        config = self.config_for(f"fault-{op}-{ranks}", out)
        env = {"LD_PRELOAD": SHIM, "ASAN_OPTIONS": "verify_asan_link_order=0", "FMR_FAILIO_OP": op, "FMR_FAILIO_N": str(n),
               "FMR_FAILIO_ERRNO": errno_name, "FMR_FAILIO_UNDER": out}
        p = ft.pipeline(config, ranks, check=False, extra_env=env)
        self.assertEqual(p.returncode, 4, p.stderr)  # the storage status, on every rank
        self.assertIn(words, p.stderr)
        self.assertIn(out, p.stderr)  # the message names the path
        self.assertEqual(temporaries(out), [])
        # The fault fixed, the rerun completes with the bytes of an uninterrupted run.
        ft.pipeline(config, ranks)
        self.assertEqual(outputs(out), self.reference)

    @unittest.skipUnless(SHIM, "FMR_FAILIO_SHIM not set")
    def test_write_fault_one_rank(self):
        self.fault_then_rerun(1, "write", 4, "EIO", "Input/output error")

    @unittest.skipUnless(SHIM, "FMR_FAILIO_SHIM not set")
    def test_rename_fault_three_ranks(self):
        self.fault_then_rerun(3, "rename", 3, "ENOSPC", "No space left on device")


BIG = ["file1000001", "file1000143", "file1001259", "file1001706", "file1002097", "file1001022"]


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("mount"), "needs root to mount a tmpfs")
class FullDiskTest(unittest.TestCase):
    """A real file system that fills up (SPEC 9, issue 11): the run stops handing out work, leaves
    no temporary file, exits 4 on every rank naming the path and the system's words; after the
    file system grows, the rerun completes with the bytes of an uninterrupted run."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-full-")
        cls.data = os.path.join(cls.tmp, "data")
        ft.synth(cls.data, "knee", BIG, "--size", "192x128", "--frame", "96x96", "--coils", "2",
                 "--slices", "12")
        ref = os.path.join(cls.tmp, "ref")
        cfg = ft.write_config(os.path.join(cls.tmp, "ref.yaml"), "knee", [cls.data], BIG, ref)
        ft.pipeline(cfg, 1)
        cls.reference = outputs(ref)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def full_then_grow(self, ranks):
        mnt = os.path.join(self.tmp, f"mnt{ranks}")
        os.makedirs(mnt)
        ft.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt])
        try:
            out = os.path.join(mnt, "out")
            cfg = ft.write_config(os.path.join(self.tmp, f"full{ranks}.yaml"), "knee", [self.data],
                                  BIG, out)
            p = ft.pipeline(cfg, ranks, check=False)
            self.assertEqual(p.returncode, 4, p.stderr[-3000:])
            self.assertIn("No space left on device", p.stderr)
            self.assertIn(out, p.stderr)  # the message names the path
            self.assertEqual(temporaries(out), [])
            if os.path.exists(os.path.join(out, "manifest.json")):
                self.assertFalse(ft.manifest(out)["complete"])
            else:
                self.assertIn("manifest not written", p.stderr)
            ft.run(["mount", "-o", "remount,size=64m", mnt])
            p = ft.pipeline(cfg, ranks)
            self.assertTrue(ft.manifest(out)["complete"])
            self.assertEqual(outputs(out), self.reference)
        finally:
            subprocess.run(["umount", mnt], check=False)

    def test_one_rank(self):
        self.full_then_grow(1)

    def test_three_ranks(self):
        self.full_then_grow(3)


if __name__ == "__main__":
    unittest.main()
