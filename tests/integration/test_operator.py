"""What an operator sees (issue 13): `plan` against an independent count of the inputs (h5py), the
same report under 1 and 2 ranks and nothing written; progress as one live line on a real
pseudo-terminal and as timestamped lines in a pipe; the end-of-run summary; and the real knee file
list as shipped (its trailing 'Knee data' line is skipped, not a missing volume): a full knee run
over complete inputs exits 0."""
import json
import os
import pty
import re
import subprocess
import sys
import unittest

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

NAMES = ["file1000001", "file1001259", "file1000143", "file1001706"]
SIZE = ["--size", "48x40", "--frame", "32x32", "--coils", "2"]


def is_plain(name):
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) is not None


class OperatorTest(ft.TempDirTest):
    def dataset(self, listed, extra_files=(), list_extra=""):
        data = os.path.join(self.tmp, "data")
        ft.synth(data, "knee", [n for n in listed if n != "file1009999"] + list(extra_files), *SIZE,
                 "--slices-from", ft.KNEE_CSV)
        out = os.path.join(self.tmp, "out")
        cfg = ft.write_config(os.path.join(self.tmp, "run.yaml"), "knee", [data], listed, out,
                              extra="log:\n  progress_seconds: 1\n")
        if list_extra:
            with open(os.path.splitext(cfg)[0] + "_file_list.csv", "a") as f:
                f.write(list_extra)
        return data, out, cfg

    def test_plan_against_an_independent_count(self):
        listed = NAMES + ["file1009999"]  # the last is listed but absent
        data, out, cfg = self.dataset(listed, extra_files=["file1002097"], list_extra="Knee data\n")
        reports = []
        for np_ranks in (1, 2):
            args = [ft.BIN, "plan", "--json", cfg]
            if np_ranks > 1:
                args = [ft.MPIEXEC, "--oversubscribe", "-np", str(np_ranks)] + args
            p = ft.run(args)
            reports.append(json.loads(p.stdout))
        for ranks, r in zip((1, 2), reports):  # the one figure that is about the ranks
            wall = r["estimate"].pop("wall_hours_at_ranks")
            self.assertAlmostEqual(wall * ranks, r["estimate"]["core_hours"])
        self.assertEqual(reports[0], reports[1], "the report must not depend on the rank count")
        self.assertFalse(os.path.exists(out), "plan must write nothing")
        r = reports[0]
        # The oracle: h5py over the files, the list read with the csv module's eyes.
        shapes, nbytes = {}, 0
        for n in NAMES:
            with h5py.File(os.path.join(data, n + ".h5"), "r") as f:
                s, c, H, W = f["kspace"].shape
                h, w = f["reconstruction_rss"].shape[1:]
                key = f"{s}x{c}x{H}x{W} -> {h}x{w}"
                shapes[key] = shapes.get(key, 0) + 1
                nbytes += int(np.prod(f["kspace"].shape)) * 8
        self.assertEqual(r["by_shape"], shapes)
        self.assertEqual(r["kspace"]["bytes"], nbytes)
        self.assertEqual(r["volumes"]["planned"], len(listed))
        self.assertEqual(r["volumes"]["found"], len(NAMES))
        self.assertEqual([m["name"] for m in r["missing"]], ["file1009999"])
        self.assertEqual(r["not_listed_files"], ["file1002097"])
        self.assertEqual([s["line"] for s in r["skipped_lines"]], [len(listed) + 1])
        rows = ft.read_rows(ft.KNEE_CSV)
        self.assertEqual(r["csv_rows_unmatched"]["rows"], sum(1 for x in rows if x["file"] not in listed))
        self.assertEqual(r["resume"]["reusable"], 0)
        self.assertGreater(r["estimate"]["core_hours"], 0)
        # After a run everything found would be reused; one changed output takes one away.
        ft.pipeline(cfg, 1, check=False)
        r = json.loads(ft.run([ft.BIN, "plan", "--json", cfg]).stdout)
        self.assertEqual(r["resume"]["reusable"], len(NAMES))
        victim = os.path.join(out, "masks", NAMES[0] + ".h5")
        with open(victim, "ab") as f:
            f.write(b"x")
        r = json.loads(ft.run([ft.BIN, "plan", "--json", cfg]).stdout)
        self.assertEqual(r["resume"]["reusable"], len(NAMES) - 1)
        text = ft.run([ft.BIN, "plan", cfg]).stdout
        self.assertIn("file1009999", text)
        self.assertIn("names no volume", text)

    def test_progress_in_a_pipe_and_the_summary(self):
        _, out, cfg = self.dataset(NAMES)
        p = ft.pipeline(cfg, 2)
        lines = [l for l in p.stderr.splitlines() if "progress:" in l]
        self.assertTrue(lines, p.stderr)
        self.assertRegex(lines[-1], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z .*progress: 4/4 volumes, "
                                    r"0 failed, [\d.]+ slices/s, \d+ MB/s of k-space")
        self.assertNotIn("\r", p.stderr, "no live line in a pipe")
        self.assertIn("fastmri-regen run summary", p.stderr)
        self.assertRegex(p.stderr, r"volumes +4 planned: 4 ok, 0 failed, 0 missing")
        self.assertRegex(p.stderr, r"exit status +0: every volume ok")
        self.assertIn(os.path.join(out, "manifest.json"), p.stderr)
        m = ft.manifest(out)
        slices = sum(v["slices"] for v in m["volumes"])
        self.assertRegex(p.stderr, rf"slices +{slices}\n")
        dicoms = sum(1 for v in m["volumes"] for o in v["outputs"] if o["kind"] == "dicom")
        self.assertRegex(p.stderr, rf"dicom +{dicoms} files")

    def test_progress_on_a_terminal_is_one_live_line(self):
        _, out, cfg = self.dataset(NAMES)
        master, slave = pty.openpty()
        proc = subprocess.Popen([ft.BIN, "run", cfg], stdin=subprocess.DEVNULL, stdout=slave,
                                stderr=slave, env=ft.env())
        os.close(slave)
        chunks = []
        while True:
            try:
                b = os.read(master, 65536)
            except OSError:  # EIO once the child has closed the terminal
                break
            if not b:
                break
            chunks.append(b)
        self.assertEqual(proc.wait(timeout=300), 0)
        os.close(master)
        screen = b"".join(chunks).decode(errors="replace")
        self.assertIn("\r\x1b[K", screen, "a live line rewritten in place")
        self.assertRegex(screen, r"\r\x1b\[K4/4 volumes, 0 failed")
        self.assertNotRegex(screen, r"INFO .*progress:", "no log lines for progress on a terminal")
        self.assertIn("fastmri-regen run summary", screen)

    def test_the_knee_list_as_shipped(self):
        """Every name of the real knee list (1,172) as a tiny synthetic volume: exit 0, the
        'Knee data' line skipped once with its line number, no volume missing."""
        lst = os.path.join(ft.SRC, "data", "fastmri-plus", "knee_file_list.csv")
        with open(lst) as f:
            lines = [l.strip() for l in f]
        names = [l for l in lines if l and is_plain(l)]
        odd = [(i + 1, l) for i, l in enumerate(lines) if l and not is_plain(l)]
        self.assertEqual(odd, [(1173, "Knee data")])
        data = os.path.join(self.tmp, "data")
        ft.run([ft.BIN, "synth", "--anatomy", "knee", "--out", data, "--list", lst, "--size",
                "24x20", "--frame", "16x16", "--coils", "1", "--slices-from", ft.KNEE_CSV],
               timeout=900)
        out = os.path.join(self.tmp, "out")
        cfg = os.path.join(self.tmp, "knee.yaml")
        with open(cfg, "w") as f:
            f.write(f"anatomy: knee\ninput:\n  dirs: [{data}]\n  file_list: {lst}\n"
                    f"  annotations: {ft.KNEE_CSV}\noutput:\n  dir: {out}\n  dicom: false\n"
                    "  seg: false\n  preview: false\n")
        p = ft.pipeline(cfg, 2, check=False)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        m = ft.manifest(out)
        t = m["totals"]
        self.assertEqual((t["volumes"], t["ok"], t["failed"], t["missing"], t["skipped_lines"]),
                         (len(names), len(names), 0, 0, 1))
        self.assertEqual(m["file_list"]["skipped"][0]["line"], 1173)
        self.assertIn("Knee data", m["file_list"]["skipped"][0]["text"])
        self.assertEqual(p.stderr.count("names no volume"), 1)


if __name__ == "__main__":
    unittest.main()
