"""A failure on one rank in any phase of `run` ends every rank, with one documented exit status,
never a hang; and the manifest tells the truth (SPEC 7, 9; issue 8 "Dispatch").

Each case runs `mpirun --oversubscribe -np 3` with FMR_TEST_FAIL_PHASE=<phase>:<rank> (a test-only
switch in run/dispatch.c) under a timeout, and checks mpirun's exit status, one "exit status S"
line per rank in stderr, all with the same S, and the manifest: absent when start-up failed,
complete: false with `remaining` when the work loop was cut, complete otherwise."""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

NAMES = ["file1000143", "file1001259", "file1001706", "file1002097", "file1000033", "file1001022"]
NP = 3
TIMEOUT = 300  # a hang fails the test instead of blocking ctest



# Stages the committer thread does while the volume's thread writes the next output.
COMMITTER_STAGES = ("hash", "commit")
# The writers' stages: two threads at once (src/pipeline/writers.c). The HDF5 files (recon/, the
# mask: write_training) stay on the volume's thread; DICOM, SEG and sheet go to whichever thread
# is free, so write_images and write_annotations may be summed over both.
WRITING_STAGES = ("write_images", "write_annotations", "write_training")


def assert_stages_fit(test, v):
    """The volume's own thread's stages add up to no more than its seconds, with the writing
    counted as its two threads allow: the HDF5 part within the time left to the volume's thread,
    the whole at most twice that. The committer's work overlaps the writing (it starts with the first output and
    the volume waits for it, commit_wait, before its record) and fits the seconds too."""
    st = v["stages"]
    own = sum(x for k, x in st.items() if k not in COMMITTER_STAGES + WRITING_STAGES)
    left = v["seconds"] + 1e-3 - own
    test.assertLessEqual(st["write_training"], left, v)
    test.assertLessEqual(sum(st[k] for k in WRITING_STAGES), 2 * left, v)
    test.assertLessEqual(sum(st[k] for k in COMMITTER_STAGES), v["seconds"] + 1e-3, v)

class Dataset(unittest.TestCase):
    """Six small synthetic knee volumes and a config, shared by a class's tests."""
    SLICES = "4"

    @classmethod
    def setUpClass(cls):
        cls.tmp = ft.tempfile.mkdtemp(prefix="fmr-phases-")
        cls.data = os.path.join(cls.tmp, "data")
        ft.synth(cls.data, "knee", NAMES, "--size", "336x328", "--frame", "320x320", "--coils", "2",
                 "--slices", cls.SLICES)
        cls.out = os.path.join(cls.tmp, "out")
        cls.config = ft.write_config(os.path.join(cls.tmp, "run.yaml"), "knee", [cls.data], NAMES,
                                     cls.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)


class PhaseFailureTest(Dataset):
    def run_failing(self, phase, rank):
        env = ft.env()
        env["FMR_TEST_FAIL_PHASE"] = f"{phase}:{rank}"
        args = [ft.MPIEXEC, "--oversubscribe", "-np", str(NP), ft.BIN, "run", self.config]
        try:
            p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail(f"{phase}:{rank}: the ranks did not all exit within {TIMEOUT} s (a hang)")
        self.assertIn(f"rank {rank}: injected failure in phase {phase}", p.stderr)
        statuses = {int(r): int(s) for r, s in
                    re.findall(r"rank (\d+): exit status (\d+)", p.stderr)}
        self.assertEqual(sorted(statuses), list(range(NP)), p.stderr)
        self.assertEqual(len(set(statuses.values())), 1, statuses)
        self.assertEqual(p.returncode, statuses[0], p.stderr)
        return p.returncode, p.stderr

    def manifest(self):
        path = os.path.join(self.out, "manifest.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def test_startup_phases_exit_2_and_write_nothing(self):
        for phase in ("startup", "plan", "wisdom"):
            for rank in (0, 2):
                with self.subTest(phase=phase, rank=rank):
                    code, err = self.run_failing(phase, rank)
                    self.assertEqual(code, 2, err)
                    self.assertIsNone(self.manifest())
                    self.assertFalse(os.path.exists(os.path.join(self.out, "dicom")))
                    shutil.rmtree(self.out, ignore_errors=True)

    def test_work_loop_cut_is_visibly_incomplete(self):
        for rank in (1, 0):
            with self.subTest(rank=rank):
                code, err = self.run_failing("work", rank)
                self.assertEqual(code, 1, err)
                m = self.manifest()
                self.assertIsNotNone(m, err)
                self.assertIs(m["complete"], False)
                self.assertGreater(m["remaining"], 0)
                self.assertEqual(m["remaining"] + len(m["volumes"]), len(NAMES))
                for v in m["volumes"]:
                    self.assertEqual(v["status"], "ok")
                    for o in v["outputs"]:
                        self.assertEqual(ft.sha256(os.path.join(self.out, o["path"])), o["sha256"])
                self.assertIn("remain", err)
                # verify says incomplete and exits non-zero.
                p = ft.run([ft.BIN, "verify", self.out], check=False)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn("incomplete", p.stdout)
                # The rerun finishes the job.
                ft.pipeline(self.config, NP)
                self.assertIs(self.manifest()["complete"], True)
                shutil.rmtree(self.out)

    def test_late_phases_exit_1_with_a_complete_manifest(self):
        for phase in ("gather", "dataset", "manifest", "exit"):
            with self.subTest(phase=phase):
                code, err = self.run_failing(phase, 1)
                self.assertEqual(code, 1, err)
                m = self.manifest()
                self.assertIsNotNone(m, err)
                self.assertIs(m["complete"], True)
                self.assertEqual(sorted(v["name"] for v in m["volumes"]), sorted(NAMES))
                # The run-level ML files are listed only when their phase succeeded (SPEC 11).
                listed = sorted(o["path"] for o in m["outputs"])
                self.assertEqual(listed, [] if phase in ("gather", "dataset")
                                 else ["boxes.csv", "dataset.h5"], phase)
                for rel in ("dataset.h5", "boxes.csv"):
                    self.assertEqual(os.path.exists(os.path.join(self.out, rel)), rel in listed)
                shutil.rmtree(self.out)

    def test_storage_fault_stops_everyone_with_4(self):
        """A storage fault on one rank (injected in place of the pipeline's FMR_ESTORAGE): no more
        work handed out, the others finish the volume in hand, the manifest of what is done is
        written, every rank exits 4, and the log names the path and the system's words."""
        for rank in (2, 0):
            with self.subTest(rank=rank):
                code, err = self.run_failing("storage", rank)
                self.assertEqual(code, 4, err)
                self.assertIn("No space left on device", err)
                self.assertRegex(err, r"dicom/file\d+")
                m = self.manifest()
                self.assertIsNotNone(m, err)
                self.assertIs(m["complete"], False)
                self.assertEqual(m["remaining"] + len(m["volumes"]), len(NAMES))
                shutil.rmtree(self.out)


class EveryRankWorksTest(Dataset):
    """SPEC 9: with N ranks, N ranks reconstruct; an interrupted run says so and how to resume."""
    SLICES = "10"

    def test_two_ranks_both_reconstruct_same_bytes_as_one(self):
        ft.pipeline(self.config, 1)
        one = ft.tree_hashes(self.out)
        shutil.rmtree(self.out)
        ft.pipeline(self.config, 2)
        with open(os.path.join(self.out, "run-report.json")) as f:
            rep = json.load(f)
        per_rank = {r["rank"]: r["volumes"] for r in rep["per_rank"]}
        self.assertEqual(sorted(per_rank), [0, 1])
        self.assertGreater(per_rank[0], 0, rep)
        self.assertGreater(per_rank[1], 0, rep)
        self.assertEqual(sum(per_rank.values()), len(NAMES))
        self.assertEqual({v["rank"] for v in rep["schedule"]}, {0, 1})
        # A worker's stage seconds travel to rank 0 with its record.
        for v in rep["schedule"]:
            self.assertGreater(v["stages"]["transform"], 0, v)
            assert_stages_fit(self, v)
        self.assertEqual(ft.tree_hashes(self.out), one)

    def test_run_report_stages_and_peak_memory(self):
        """Issue 12: the run report says where each processed volume's time went, stage by
        stage, and each rank's peak memory. The kernel's own figure for the process (wait4's
        ru_maxrss) is the oracle for the memory; the stages must fit in the volume's seconds."""
        stages = ["read", "read_wait", "transform", "combine_crop", "scale", "annotate",
                  "write_images", "write_annotations", "write_training", "hash", "commit",
                  "commit_wait"]
        p = subprocess.Popen([ft.BIN, "run", self.config], env=ft.env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read().decode()
        p.stderr.close()
        self.assertEqual(p.returncode, 0, err)
        with open(os.path.join(self.out, "run-report.json")) as f:
            rep = json.load(f)
        kernel_mb = usage.ru_maxrss * 1024 / 1e6
        reported_mb = rep["per_rank"][0]["peak_rss_mb"]
        # The report's figure is taken at the gather; the manifest phase and exit come after it
        # (more so under the sanitizers), so it may be lower than the process's, never higher.
        self.assertLessEqual(reported_mb, kernel_mb * 1.01)
        self.assertGreaterEqual(reported_mb, kernel_mb * 0.8)
        totals = dict.fromkeys(stages, 0.0)
        for v in rep["schedule"]:
            self.assertFalse(v["reused"])
            st = v["stages"]
            self.assertEqual(list(st), stages, v)
            self.assertTrue(all(x >= 0 for x in st.values()), v)
            for k in ("read", "transform", "scale", "write_images", "hash"):
                self.assertGreater(st[k], 0, (k, v))
            assert_stages_fit(self, v)
            for k in stages:
                totals[k] += st[k]
        for k in stages:
            self.assertAlmostEqual(rep["stage_seconds"][k], totals[k], places=6)
        # A rerun reuses every volume: nothing processed, no stages, zero totals.
        ft.pipeline(self.config, 2)
        with open(os.path.join(self.out, "run-report.json")) as f:
            rep = json.load(f)
        self.assertTrue(all(v["reused"] and "stages" not in v for v in rep["schedule"]), rep)
        self.assertEqual(set(rep["stage_seconds"].values()), {0.0})
        self.assertEqual([r["rank"] for r in rep["per_rank"]], [0, 1])
        self.assertTrue(all(r["peak_rss_mb"] > 1 for r in rep["per_rank"]), rep)
        print(f"\npeak RSS {kernel_mb:.1f} MB (kernel, wait4) vs {reported_mb:.1f} MB (run report)",
              file=sys.stderr)

    def test_signals_are_named_and_the_last_line_says_how_to_resume(self):
        import signal
        import time
        for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
            with self.subTest(sig=name):
                p = subprocess.Popen([ft.BIN, "run", self.config], env=ft.env(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                records = os.path.join(self.out, ".fmr", "records")
                deadline = time.time() + 300
                while time.time() < deadline and p.poll() is None:
                    if os.path.isdir(records) and os.listdir(records):
                        break
                    time.sleep(0.01)
                self.assertIsNone(p.poll(), "the run finished before the signal")
                p.send_signal(sig)
                _, err = p.communicate(timeout=TIMEOUT)
                self.assertEqual(p.returncode, 3, err)
                self.assertIn(f"received {name}", err)
                m = ft.manifest(self.out)
                self.assertIs(m["complete"], False)
                self.assertEqual(m["remaining"] + len(m["volumes"]), len(NAMES))
                last = [line for line in err.splitlines() if "remain" in line][-1]
                self.assertIn(f"{m['remaining']} of {len(NAMES)} volumes remain", last)
                self.assertIn(name, last)
                self.assertIn(f"fastmri-regen run {self.config}", last)
                with open(os.path.join(self.out, "run-report.json")) as f:
                    self.assertEqual(json.load(f)["stopped_by"], name)
                shutil.rmtree(self.out)

    def test_signal_to_one_worker_stops_every_rank_with_3(self):
        """Slurm signals every task, but a user may kill one: rank 0 learns it from the worker's
        report, stops the hand-out, and names the signal."""
        import signal
        p = subprocess.Popen([ft.MPIEXEC, "--oversubscribe", "-np", str(NP), ft.BIN, "run",
                              self.config], env=ft.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        # Signal as soon as the work loop starts: half the volumes are then not handed out yet.
        head = []
        for line in p.stderr:
            head.append(line)
            if "(all reconstruct)" in line:
                break
        self.assertIsNone(p.poll(), "".join(head))
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            ranks = [int(x) for x in f.read().split()]
        os.kill(ranks[-1], signal.SIGTERM)
        _, rest = p.communicate(timeout=TIMEOUT)
        err = "".join(head) + rest
        self.assertEqual(p.returncode, 3, err)
        self.assertRegex(err, r"rank [1-9] received SIGTERM")
        m = ft.manifest(self.out)
        self.assertIs(m["complete"], False)
        self.assertIn(f"stopped (SIGTERM): {m['remaining']} of {len(NAMES)} volumes remain", err)


class RankZeroAnswersBetweenSlicesTest(unittest.TestCase):
    """Rank 0 reconstructs too, yet a worker's request never waits for a whole volume of rank 0's:
    rank 0 answers between its slices. Two large volumes and four small ones on 2 ranks: the
    worker gets the largest first (rank 0 starts only when every worker has work), rank 0 the
    second, and the worker asks for the small ones while rank 0 is inside its large one."""

    def test_worker_waits_less_than_a_volume(self):
        tmp = ft.tempfile.mkdtemp(prefix="fmr-answer-")
        self.addCleanup(shutil.rmtree, tmp, True)
        data = os.path.join(tmp, "data")
        # The large two have no annotation rows (the same work each); "largest first" gives the
        # worker the first of them (names break the size tie).
        big, small = ["file9000001", "file9000002"], NAMES[2:]
        common = ["--size", "336x328", "--frame", "320x320", "--coils", "2"]
        ft.synth(data, "knee", big, *common, "--slices", "30")
        ft.synth(data, "knee", small, *common, "--slices", "2")
        out = os.path.join(tmp, "out")
        cfg = ft.write_config(os.path.join(tmp, "run.yaml"), "knee", [data], big + small, out)
        ft.pipeline(cfg, 2)
        with open(os.path.join(out, "run-report.json")) as f:
            rep = json.load(f)
        by_name = {v["name"]: v for v in rep["schedule"]}
        ranks_of_big = sorted(by_name[n]["rank"] for n in big)
        self.assertEqual(ranks_of_big, [0, 1], rep["schedule"])
        rank0_big = max(by_name[n]["seconds"] for n in big if by_name[n]["rank"] == 0)
        worker = [r for r in rep["per_rank"] if r["rank"] == 1][0]
        # The worker asked again after its large volume, while rank 0 was inside its own.
        self.assertGreaterEqual(worker["volumes"], 1)
        self.assertLess(worker["max_wait_seconds"], 0.5 * rank0_big, rep["per_rank"])


if __name__ == "__main__":
    unittest.main()
