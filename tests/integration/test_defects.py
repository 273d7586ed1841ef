"""Defects found by trying the tool as a new user would (issue 8).

Defect 1: with input.all_files: true, removing a name from the file list and rerunning reused every
volume; the removed one stayed reviewed: true with its masks, SEG and preview. The file list's
content was not part of what decides reuse. Now each volume's key covers its own inputs (reviewed
among them): only the removed volume is redone, as unreviewed, and the result is byte-identical to
a fresh run with the shorter list."""
import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

NAMES = ["file1000001", "file1001259", "file1000143", "file1000033"]
VICTIM = "file1001259"  # has findings: mask, SEG and preview while reviewed


def with_all_files(cfg):
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text.replace("  annotations:", "  all_files: true\n  annotations:"))
    return cfg


class RemovedFromListTest(unittest.TestCase):
    def setUp(self):
        self.tmp = ft.tempfile.mkdtemp(prefix="fmr-defects-")
        self.data = os.path.join(self.tmp, "data")
        ft.synth(self.data, "knee", NAMES, "--size", "336x328", "--frame", "320x320", "--coils",
                 "2", "--slices-from", ft.KNEE_CSV)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def config(self, name, listed, out):
        return with_all_files(ft.write_config(os.path.join(self.tmp, name), "knee", [self.data],
                                              listed, out))

    @staticmethod
    def report(out):
        with open(os.path.join(out, "run-report.json")) as f:
            return {v["name"]: v for v in json.load(f)["schedule"]}

    def test_removed_name_is_redone_unreviewed_and_others_reused(self):
        out = os.path.join(self.tmp, "out")
        cfg = self.config("run.yaml", NAMES, out)
        ft.pipeline(cfg, 1)
        before = {v["name"]: v for v in ft.manifest(out)["volumes"]}
        self.assertTrue(before[VICTIM]["reviewed"])
        self.assertTrue({"mask", "seg", "preview"} <= {o["kind"] for o in before[VICTIM]["outputs"]})

        # The user removes the name from the list (same config file, same CSV) and reruns.
        shorter = [n for n in NAMES if n != VICTIM]
        cfg = self.config("run.yaml", shorter, out)
        ft.pipeline(cfg, 2)
        rep = self.report(out)
        self.assertFalse(rep[VICTIM]["reused"], rep[VICTIM])
        self.assertEqual(sorted(n for n, v in rep.items() if v["reused"]), sorted(shorter))
        after = {v["name"]: v for v in ft.manifest(out)["volumes"]}
        self.assertFalse(after[VICTIM]["reviewed"])
        # Images and its share of the ML files (recon/<v>.h5 feeds boxes.csv for every processed
        # volume); no mask, SEG or preview, which only reviewed volumes get.
        self.assertEqual({o["kind"] for o in after[VICTIM]["outputs"]}, {"dicom", "recon"})
        for kind, ext in (("masks", ".h5"), ("seg", ".dcm"), ("preview", ".png")):
            self.assertFalse(os.path.exists(os.path.join(out, kind, VICTIM + ext)), kind)

        # Oracle: a fresh run with the shorter list writes the same files, byte for byte, and the
        # same volume records (the config differs only in output.dir, which is in no output).
        fresh = os.path.join(self.tmp, "fresh")
        ft.pipeline(self.config("fresh.yaml", shorter, fresh), 1)

        def outputs(root):
            # dataset.h5 records the config's SHA-256, and the configs differ in output.dir.
            return {k: v for k, v in ft.tree_hashes(root).items()
                    if not k.startswith((".fmr", "manifest", "dataset.h5"))}
        self.assertEqual(outputs(out), outputs(fresh))
        self.assertEqual(ft.manifest(out)["volumes"], ft.manifest(fresh)["volumes"])

        # And back: listed again, it is redone as reviewed, the others still reused.
        cfg = self.config("run.yaml", NAMES, out)
        ft.pipeline(cfg, 1)
        rep = self.report(out)
        self.assertFalse(rep[VICTIM]["reused"])
        self.assertEqual(sum(v["reused"] for v in rep.values()), len(NAMES) - 1)
        again = {v["name"]: v for v in ft.manifest(out)["volumes"]}
        self.assertEqual(again[VICTIM]["outputs"], before[VICTIM]["outputs"])


if __name__ == "__main__":
    unittest.main()
