"""Shards for job arrays (issue 9): `run --shard i/N` processes a deterministic subset by name
order, and `run --merge` writes the manifest a single run would have written, byte for byte, from
the committed records; volumes not yet done make it complete: false."""
import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

GOOD = ["file1000143", "file1001259", "file1001706", "file1002097", "file1000033"]
BROKEN = "file1000100"  # truncated: a failed volume has no committed record
ABSENT = "file1000107"  # no file: missing
NAMES = GOOD + [BROKEN, ABSENT]
N = 3


class ShardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-shards-")
        cls.data = os.path.join(cls.tmp, "data")
        ft.synth(cls.data, "knee", GOOD, "--size", "336x328", "--frame", "320x320", "--coils", "2",
                 "--slices", "3")
        src = os.path.join(cls.data, "file1000033.h5")
        dst = os.path.join(cls.data, BROKEN + ".h5")
        shutil.copy(src, dst)
        os.truncate(dst, os.path.getsize(dst) // 2)
        cls.out = os.path.join(cls.tmp, "out")
        cls.config = ft.write_config(os.path.join(cls.tmp, "run.yaml"), "knee", [cls.data], NAMES,
                                     cls.out)
        p = ft.pipeline(cls.config, 2, check=False)
        assert p.returncode == 1, p.stderr  # the broken and the absent volume
        cls.reference = ft.tree_hashes(cls.out)
        with open(os.path.join(cls.out, "manifest.json"), "rb") as f:
            cls.manifest_bytes = f.read()
        shutil.rmtree(cls.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def shard(self, i, np_ranks=1):
        args = [ft.BIN, "run", "--shard", f"{i}/{N}", self.config]
        if np_ranks > 1:
            args = [ft.MPIEXEC, "--oversubscribe", "-np", str(np_ranks)] + args
        return ft.run(args, check=False, timeout=900)

    def merge(self):
        return ft.run([ft.BIN, "run", "--merge", self.config], check=False, timeout=900)

    def test_shards_then_merge_equal_a_single_run(self):
        done = []
        for i in range(N):
            p = self.shard(i, np_ranks=2 if i == 1 else 1)
            self.assertIn(p.returncode, (0, 1), p.stderr)
            # A shard writes no manifest: shards share output.dir, the merge writes it.
            self.assertFalse(os.path.exists(os.path.join(self.out, "manifest.json")))
            with open(os.path.join(self.out, ".fmr", "reports", f"shard-{i}-of-{N}.json")) as f:
                rep = json.load(f)
            mine = [v["name"] for v in rep["schedule"]]
            # By name order, round robin: independent of file sizes.
            self.assertEqual(sorted(mine), sorted(NAMES)[i::N])
            done += mine
        self.assertEqual(sorted(done), sorted(NAMES))
        p = self.merge()
        self.assertEqual(p.returncode, 1, p.stderr)  # as the single run: broken + absent
        with open(os.path.join(self.out, "manifest.json"), "rb") as f:
            self.assertEqual(f.read(), self.manifest_bytes)
        self.assertEqual(ft.tree_hashes(self.out), self.reference)
        with open(os.path.join(self.out, "run-report.json")) as f:
            self.assertEqual(len(json.load(f)["shards"]), N)

    def test_concurrent_shards_on_one_output_dir(self):
        """Shards started together (an array on several nodes) share output.dir: none sweeps away
        another's temporary files, and the merge equals the single run."""
        import subprocess
        procs = [subprocess.Popen([ft.BIN, "run", "--shard", f"{i}/{N}", self.config], env=ft.env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(N)]
        for p in procs:
            _, err = p.communicate(timeout=900)
            self.assertIn(p.returncode, (0, 1), err)
        self.assertEqual(self.merge().returncode, 1)
        with open(os.path.join(self.out, "manifest.json"), "rb") as f:
            self.assertEqual(f.read(), self.manifest_bytes)
        self.assertEqual(ft.tree_hashes(self.out), self.reference)

    def test_merge_before_all_shards_is_incomplete(self):
        self.assertIn(self.shard(0).returncode, (0, 1))
        p = self.merge()
        m = ft.manifest(self.out)
        self.assertIs(m["complete"], False)
        left = [n for n in NAMES if n not in sorted(NAMES)[0::N]]
        # The absent file's record needs no processing: only the others remain.
        self.assertEqual(m["remaining"], len([n for n in left if n != ABSENT]))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("remain", p.stderr)

    def test_bad_shard_argument(self):
        for arg in ("3/3", "1", "a/3", "-1/3", "0/0"):
            p = ft.run([ft.BIN, "run", "--shard", arg, self.config], check=False)
            self.assertEqual(p.returncode, 2, arg)


if __name__ == "__main__":
    unittest.main()
