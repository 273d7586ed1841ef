"""Runs that survive the real world (SPEC 7-9): identical bytes at any rank count and on rerun,
resume after SIGKILL, per-volume isolation of broken inputs, the signal path, exit statuses, and
`verify`."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

NAMES = ["file1000143", "file1001259", "file1001706", "file1002097", "file1000033", "file1001022"]
SIZE = ["--size", "336x328", "--frame", "320x320", "--coils", "2"]


def not_started_or_tmp(out):
    return [p for p in glob.glob(os.path.join(out, "**", "*.fmr-tmp"), recursive=True)]


class ResilienceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-resilience-")
        cls.data = os.path.join(cls.tmp, "data")
        ft.synth(cls.data, "knee", NAMES, *SIZE, "--slices-from", ft.KNEE_CSV)
        cls.out = os.path.join(cls.tmp, "out")
        cls.config = ft.write_config(os.path.join(cls.tmp, "run.yaml"), "knee", [cls.data], NAMES,
                                     cls.out)
        ft.pipeline(cls.config, 1)
        cls.reference = ft.tree_hashes(cls.out)
        cls.ref_dir = os.path.join(cls.tmp, "reference")
        shutil.copytree(cls.out, cls.ref_dir)
        shutil.rmtree(cls.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def report(self):
        with open(os.path.join(self.out, "run-report.json")) as f:
            return json.load(f)

    def test_identical_bytes_for_1_2_3_5_ranks_and_rerun(self):
        for n in (1, 2, 3, 5):
            ft.pipeline(self.config, n)
            self.assertEqual(ft.tree_hashes(self.out), self.reference, f"-np {n}")
            shutil.rmtree(self.out)

    def test_rerun_reuses_intact_volumes_and_redoes_changed_ones(self):
        shutil.copytree(self.ref_dir, self.out)
        ft.pipeline(self.config, 2)
        self.assertEqual(self.report()["reused"], len(NAMES))
        # Damage one output: that volume, and only that one, is redone.
        victim = os.path.join(self.out, "dicom", "file1001259", "file1001259_003.dcm")
        with open(victim, "r+b") as f:
            f.seek(-10, os.SEEK_END)
            f.write(b"0123456789")
        ft.pipeline(self.config, 1)
        rep = self.report()
        self.assertEqual(rep["reused"], len(NAMES) - 1)
        redone = [v["name"] for v in rep["schedule"] if not v["reused"]]
        self.assertEqual(redone, ["file1001259"])
        self.assertEqual(ft.tree_hashes(self.out), self.reference)

    def test_rerun_with_settings_that_change_no_output_reuses_everything(self):
        # A job resubmitted with more logging (and a comment) must not redo a whole dataset: the
        # run key covers what shapes outputs, not the config text.
        shutil.copytree(self.ref_dir, self.out)
        cfg = ft.write_config(os.path.join(self.tmp, "debug.yaml"), "knee", [self.data], NAMES,
                              self.out, extra="# resubmitted to see more\n"
                              "log:\n  level: debug\n  progress_seconds: 7\n")
        ft.pipeline(cfg, 1)
        self.assertEqual(self.report()["reused"], len(NAMES))
        got, ref = ft.tree_hashes(self.out), dict(self.reference)
        # The manifest and dataset.h5 name the config this run used (its SHA-256); every other
        # file is the reference's, byte for byte.
        for rel in ("manifest.json", "manifest-sha256.txt", "dataset.h5"):
            got.pop(rel, None)
            ref.pop(rel, None)
        self.assertEqual(sorted(k for k in set(got) | set(ref) if got.get(k) != ref.get(k)), [])
        with open(cfg, "rb") as f:
            sha = ft.hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(ft.manifest(self.out)["config"]["sha256"], sha)
        with h5py.File(os.path.join(self.out, "dataset.h5"), "r") as new, \
                h5py.File(os.path.join(self.ref_dir, "dataset.h5"), "r") as old:
            got_sha = new.attrs["config_sha256"]
            self.assertEqual(got_sha.decode() if isinstance(got_sha, bytes) else got_sha, sha)
            for name in old["volumes"]:
                np.testing.assert_array_equal(new["volumes"][name]["reconstruction"][()],
                                              old["volumes"][name]["reconstruction"][()])

    def test_changed_config_redoes_everything(self):
        shutil.copytree(self.ref_dir, self.out)
        cfg = ft.write_config(os.path.join(self.tmp, "lr.yaml"), "knee", [self.data], NAMES, self.out,
                              extra="recon:\n  flip_left_right: true\n")
        ft.pipeline(cfg, 1)
        self.assertEqual(self.report()["reused"], 0)
        self.assertNotEqual(ft.tree_hashes(self.out), self.reference)

    def test_sigkill_mid_run_then_resume(self):
        args = [ft.MPIEXEC, "--oversubscribe", "-np", "3", ft.BIN, "run", self.config]
        p = subprocess.Popen(args, env=ft.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        # Kill as soon as the first volume's record is committed: mid-run by construction.
        deadline = time.time() + 300
        records = os.path.join(self.out, ".fmr", "records")
        while time.time() < deadline and p.poll() is None:
            if os.path.isdir(records) and any(f.endswith(".json") for f in os.listdir(records)):
                break
            time.sleep(0.01)
        self.assertIsNone(p.poll(), "the run finished before it could be killed")
        ft.kill_run(p)
        done_before = len([f for f in os.listdir(records) if f.endswith(".json")])
        self.assertGreaterEqual(done_before, 1)
        self.assertLess(done_before, len(NAMES))
        self.assertFalse(os.path.exists(os.path.join(self.out, "manifest.json")))
        ft.pipeline(self.config, 2)
        self.assertEqual(ft.tree_hashes(self.out), self.reference)
        self.assertEqual(not_started_or_tmp(self.out), [])
        self.assertGreaterEqual(self.report()["reused"], done_before)

    @staticmethod
    def rank_pids(mpirun_pid):
        with open(f"/proc/{mpirun_pid}/task/{mpirun_pid}/children") as f:
            return [int(x) for x in f.read().split()]

    def test_worker_killed_then_rerun_finishes(self):
        """A worker that dies (OOM killer, a crash inside a library) takes the MPI job down; the
        rerun finishes the job with the same bytes."""
        p = subprocess.Popen([ft.MPIEXEC, "--oversubscribe", "-np", "3", ft.BIN, "run", self.config],
                             env=ft.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        records = os.path.join(self.out, ".fmr", "records")
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None:
            if os.path.isdir(records) and any(f.endswith(".json") for f in os.listdir(records)):
                break
            time.sleep(0.01)
        self.assertIsNone(p.poll(), "the run finished before a worker could be killed")
        os.kill(self.rank_pids(p.pid)[-1], signal.SIGKILL)
        self.assertNotEqual(p.wait(timeout=120), 0)
        ft.pipeline(self.config, 2)
        self.assertEqual(ft.tree_hashes(self.out), self.reference)

    def test_volume_that_keeps_killing_workers_is_quarantined(self):
        os.makedirs(os.path.join(self.out, ".fmr", "attempts"))
        with open(os.path.join(self.out, ".fmr", "attempts", "file1001706"), "w") as f:
            f.write("3\n")
        p = ft.pipeline(self.config, 2, check=False)
        self.assertEqual(p.returncode, 1)
        v = {v["name"]: v for v in ft.manifest(self.out)["volumes"]}
        self.assertEqual(v["file1001706"]["status"], "failed")
        self.assertIn("3 earlier runs died", v["file1001706"]["error"])
        self.assertEqual(sum(x["status"] == "ok" for x in v.values()), len(NAMES) - 1)

    def signal_run(self, sig, np_ranks):
        """SIGUSR1 goes to mpirun, which forwards it to every rank. SIGTERM goes to the ranks
        themselves, one by one in reverse order, as srun/Slurm deliver it: SIGTERM to mpirun itself
        makes Open MPI kill the ranks after a second (odls_base_sigkill_timeout), see README."""
        args = ([ft.BIN, "run", self.config] if np_ranks == 1 else
                [ft.MPIEXEC, "--oversubscribe", "-np", str(np_ranks), ft.BIN, "run", self.config])
        p = subprocess.Popen(args, env=ft.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
        records = os.path.join(self.out, ".fmr", "records")
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None:
            if os.path.isdir(records) and any(f.endswith(".json") for f in os.listdir(records)):
                break
            time.sleep(0.01)
        self.assertIsNone(p.poll(), "the run finished before the signal")
        if np_ranks > 1 and sig == signal.SIGTERM:
            for pid in reversed(self.rank_pids(p.pid)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass  # that rank already finished after an earlier one stopped the run
                time.sleep(0.2)
        else:
            p.send_signal(sig)
        _, err = p.communicate(timeout=300)
        return p.returncode, err

    def test_signals_stop_cleanly_and_rerun_completes(self):
        for sig, n in ((signal.SIGUSR1, 1), (signal.SIGUSR1, 3), (signal.SIGTERM, 1),
                       (signal.SIGTERM, 2)):
            with self.subTest(sig=sig, np=n):
                code, err = self.signal_run(sig, n)
                self.assertEqual(code, 3, err)
                m = ft.manifest(self.out)
                listed = [v["name"] for v in m["volumes"]]
                self.assertLess(len(listed), len(NAMES))
                for v in m["volumes"]:
                    self.assertEqual(v["status"], "ok")
                    for o in v["outputs"]:
                        self.assertEqual(ft.sha256(os.path.join(self.out, o["path"])), o["sha256"])
                self.assertEqual(not_started_or_tmp(self.out), [])
                ft.pipeline(self.config, 2)
                self.assertEqual(ft.tree_hashes(self.out), self.reference)
                shutil.rmtree(self.out)

    def test_verify_and_checksum_list(self):
        shutil.copytree(self.ref_dir, self.out)
        p = ft.run([ft.BIN, "verify", self.out])
        self.assertIn("0 missing, 0 changed, 0 unexpected", p.stdout)
        p = ft.run(["sha256sum", "--quiet", "-c", "manifest-sha256.txt"], cwd=self.out)
        m = ft.manifest(self.out)  # volumes' files and the run's (dataset.h5, boxes.csv)
        n_outputs = sum(len(v["outputs"]) for v in m["volumes"]) + len(m["outputs"])
        with open(os.path.join(self.out, "manifest-sha256.txt")) as f:
            self.assertEqual(len(f.readlines()), n_outputs)
        os.remove(os.path.join(self.out, "dicom", "file1000143", "file1000143_001.dcm"))
        with open(os.path.join(self.out, "masks", "file1001259.h5"), "r+b") as f:
            f.seek(100)
            f.write(b"\xff")
        with open(os.path.join(self.out, "dicom", "stray.dcm"), "wb") as f:
            f.write(b"x")
        for n in (1, 3):
            args = [ft.BIN, "verify", "--json", self.out]
            if n > 1:
                args = [ft.MPIEXEC, "--oversubscribe", "-np", str(n)] + args
            p = ft.run(args, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            rep = json.loads(p.stdout)
            got = {(x["path"], x["problem"]) for x in rep["problems"]}
            self.assertEqual(got, {("dicom/file1000143/file1000143_001.dcm", "missing"),
                                   ("masks/file1001259.h5", "changed"),
                                   ("dicom/stray.dcm", "unexpected")})
        p = ft.run([ft.BIN, "verify", os.path.join(self.tmp, "nowhere")], check=False)
        self.assertEqual(p.returncode, 2)


class BrokenInputTest(unittest.TestCase):
    """Each broken kind fails only its own volume, with a one-line reason naming the file."""

    def setUp(self):
        self.tmp = ft.tempfile.mkdtemp(prefix="fmr-broken-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_each_broken_kind_fails_alone(self):
        data = os.path.join(self.tmp, "data")
        good = ["file1000033"]
        ft.synth(data, "knee", good, "--size", "336x328", "--frame", "320x320", "--coils", "2",
                 "--slices", "4")
        src = os.path.join(data, "file1000033.h5")
        broken = {}

        def clone(name):
            p = os.path.join(data, name + ".h5")
            shutil.copy(src, p)
            return p

        p = clone("file1000100")  # truncated
        os.truncate(p, os.path.getsize(p) // 2)
        broken["file1000100"] = ""
        p = clone("file1000101")  # no kspace dataset
        with h5py.File(p, "r+") as f:
            del f["kspace"]
        broken["file1000101"] = "kspace"
        p = clone("file1000102")  # wrong rank
        with h5py.File(p, "r+") as f:
            k = f["kspace"][0, 0, 0]
            del f["kspace"]
            f["kspace"] = k
        broken["file1000102"] = "kspace"
        p = clone("file1000103")  # absurd shape (declared, never written: chunked and empty)
        with h5py.File(p, "r+") as f:
            dt = f["kspace"].dtype
            del f["kspace"]
            f.create_dataset("kspace", shape=(4, 2, 100000, 100000), dtype=dt, chunks=(1, 1, 64, 64))
        broken["file1000103"] = "kspace"
        p = clone("file1000104")  # NaN in k-space
        with h5py.File(p, "r+") as f:
            k = f["kspace"][()]  # h5py maps the {r, i} compound to complex64
            k[2, 1, 10, 10] = complex(np.nan, 0.0)
            f["kspace"][...] = k
        broken["file1000104"] = "NaN"
        p = clone("file1000105")  # hostile XML
        with h5py.File(p, "r+") as f:
            del f["ismrmrd_header"]
            f["ismrmrd_header"] = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                                   b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                                   b'<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">&lol2;'
                                   b'</ismrmrdHeader>')
        broken["file1000105"] = ""
        p = clone("file1000106")  # all-zero k-space: the 99.9th percentile is 0
        with h5py.File(p, "r+") as f:
            f["kspace"][...] = np.zeros(f["kspace"].shape, np.complex64)
            del f["reconstruction_rss"]
        broken["file1000106"] = ""
        names = good + sorted(broken) + ["file1000107"]  # the last one has no file
        out = os.path.join(self.tmp, "out")
        cfg = ft.write_config(os.path.join(self.tmp, "run.yaml"), "knee", [data], names, out)
        for n in (1, 3):
            p = ft.pipeline(cfg, n, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            vols = {v["name"]: v for v in ft.manifest(out)["volumes"]}
            self.assertEqual(sorted(vols), sorted(names))
            self.assertEqual(vols["file1000033"]["status"], "ok")
            self.assertEqual(vols["file1000107"]["status"], "missing")
            for name, word in broken.items():
                v = vols[name]
                self.assertEqual(v["status"], "failed", name)
                self.assertIn(f"{name}.h5", v["error"])
                self.assertIn(word, v["error"])
                self.assertNotIn("\n", v["error"])
                self.assertEqual(v["outputs"], [])
            shutil.rmtree(out)

    def test_exit_status_ok(self):
        data = os.path.join(self.tmp, "data")
        ft.synth(data, "knee", ["file1000033"], "--size", "336x328", "--frame", "320x320",
                 "--coils", "2", "--slices", "3")
        out = os.path.join(self.tmp, "out")
        cfg = ft.write_config(os.path.join(self.tmp, "run.yaml"), "knee", [data], ["file1000033"], out)
        self.assertEqual(ft.pipeline(cfg, 1, check=False).returncode, 0)
        # Start-up errors write nothing.
        out2 = os.path.join(self.tmp, "out2")
        cfg2 = ft.write_config(os.path.join(self.tmp, "bad.yaml"), "knee", [data], ["file1000033"], out2,
                               annotations=os.path.join(self.tmp, "no-such.csv"))
        p = ft.pipeline(cfg2, 2, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no-such.csv", p.stderr)
        self.assertFalse(os.path.exists(out2))


if __name__ == "__main__":
    unittest.main()
