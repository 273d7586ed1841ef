"""Crash containment (issue 11): an input on which the HDF5 library crashes or hangs fails alone,
named, with the reason; the other volumes of the run complete (under 1 and 2 ranks, rank 0's shape
pre-scan included). The inputs are the files fuzzing found (tests/fuzz/hdf5-faults/): a crafted
global-heap index that makes HDF5 1.10.8 read past its heap (SIGSEGV in H5HG_read in unit.kspace_probe;
inside an MPI process the same read may land on mapped memory, so this test also makes the probe's
child crash for that file through FMR_TEST_PROBE_CRASH) and a header whose read never returns."""
import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

FAULTS = os.path.join(ft.SRC, "tests", "fuzz", "hdf5-faults")
GOOD = ["file1000143", "file1001259"]
BAD = {"file1000001": "global-heap-bad-index.h5", "file1000002": "global-heap-hang.h5"}


class CrashContainmentTest(ft.TempDirTest):
    def run_with(self, ranks):
        data = os.path.join(self.tmp, f"data{ranks}")
        ft.synth(data, "knee", GOOD, "--size", "64x48", "--frame", "32x32", "--coils", "2",
                 "--slices", "3")
        for name, src in BAD.items():
            shutil.copy(os.path.join(FAULTS, src), os.path.join(data, name + ".h5"))
        out = os.path.join(self.tmp, f"out{ranks}")
        cfg = ft.write_config(os.path.join(self.tmp, f"run{ranks}.yaml"), "knee", [data],
                              GOOD + list(BAD), out, extra="limits:\n  probe_seconds: 5\n")
        # plan --probe reports both inputs as unreadable, and plan itself survives.
        e = ft.env()
        e["FMR_TEST_PROBE_CRASH"] = "file1000001"
        r = json.loads(ft.run([ft.BIN, "plan", "--probe", "--json", cfg], env=e).stdout)
        self.assertEqual(sorted(u["name"] for u in r["unreadable"]), sorted(BAD))
        p = ft.pipeline(cfg, ranks, check=False, extra_env={"FMR_TEST_PROBE_CRASH": "file1000001"})
        self.assertEqual(p.returncode, 1, p.stderr[-3000:])  # some volumes failed: not a crash
        vols = {v["name"]: v for v in ft.manifest(out)["volumes"]}
        for name in GOOD:
            self.assertEqual(vols[name]["status"], "ok", vols[name])
        crash = vols["file1000001"]
        self.assertEqual(crash["status"], "failed")
        self.assertIn("file1000001.h5", crash["error"])
        self.assertIn("SIGSEGV", crash["error"])
        hang = vols["file1000002"]
        self.assertEqual(hang["status"], "failed")
        self.assertIn("file1000002.h5", hang["error"])
        self.assertRegex(hang["error"], r"5 s|seconds|did not finish|timed out|limits.probe_seconds")

    def test_one_rank(self):
        self.run_with(1)

    def test_two_ranks(self):
        self.run_with(2)


if __name__ == "__main__":
    unittest.main()
