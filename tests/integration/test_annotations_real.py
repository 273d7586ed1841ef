#!/usr/bin/python3
"""`fastmri-regen annotations` on the real fastMRI+ CSVs, checked against an independent count.

The oracle below reads the CSV with Python's csv module and applies the counting rules written in
include/fmr/annotations.h; it shares no code with the C parser. Run with Debian's /usr/bin/python3
(FMR_BIN = the fastmri-regen binary, FMR_SOURCE_DIR = the source tree).
"""
import collections
import csv
import json
import os
import re
import subprocess
import tempfile
import unittest

FMR_BIN = os.environ.get("FMR_BIN", "")
SOURCE_DIR = os.environ.get("FMR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(SOURCE_DIR, "data", "fastmri-plus")
HEADER = ["file", "slice", "study_level", "x", "y", "width", "height", "label"]
SPACE = " \t\r\n\v\f"
INT = re.compile(r"[+-]?[0-9]+\Z")
FRAME = (320, 320)


def run(*args):
    p = subprocess.run([FMR_BIN, "annotations", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def name_ok(name):
    b = name.encode("utf-8", "surrogateescape")
    return (0 < len(b) <= 252 and name not in (".", "..") and "/" not in name
            and not name.startswith(" ") and not name.endswith(" ")
            and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in name))


def int_ok(s):
    return bool(INT.match(s)) and abs(int(s)) <= 10**9


def row_ok(r):
    """None when the 8-field row is well formed, else a short reason."""
    if not int_ok(r[1]) or int(r[1]) < 0:
        return "slice"
    if r[2].lower() not in ("yes", "no"):
        return "study_level"
    study = r[2].lower() == "yes"
    for v in r[3:7]:
        if study and v == "":
            continue
        if not int_ok(v):
            return "coordinate"
    if r[7].strip(SPACE) == "":
        return "label"
    return None


def classify(x, y, w, h):
    if w <= 0 or h <= 0:
        return "degenerate"
    c0, c1, r0, r1 = max(x, 0), min(x + w, FRAME[1]), max(y, 0), min(y + h, FRAME[0])
    if c0 >= c1 or r0 >= r1:
        return "outside"
    if (c0, c1, r0, r1) != (x, x + w, y, y + h):
        return "clipped"
    return "inside"


def oracle(path, list_path=None):
    """Counts per the rules in annotations.h, for CSVs that csv.reader reads like RFC 4180."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER, rows[0]
    totals = collections.Counter()
    vols = {}
    labels = set()
    seen = set()
    study_labels = collections.defaultdict(set)
    for r in rows[1:]:
        if not r:
            continue  # blank line
        totals["rows"] += 1
        if len(r) != 8 or not name_ok(r[0]):
            totals["malformed"] += 1
            continue
        v = vols.setdefault(r[0], collections.Counter(
            rows=0, boxes=0, study_level=0, duplicates=0, degenerate=0, clipped=0, outside=0,
            trimmed=0, malformed=0))
        v["rows"] += 1
        if row_ok(r):
            v["malformed"] += 1
            totals["malformed"] += 1
            continue
        label = r[7].strip(SPACE)
        if label != r[7]:
            v["trimmed"] += 1
            totals["trimmed"] += 1
        if tuple(r) in seen:
            v["duplicates"] += 1
            totals["duplicates"] += 1
            continue
        seen.add(tuple(r))
        labels.add(label)
        if r[2].lower() == "yes":
            v["study_level"] += 1
            totals["study_level"] += 1
            study_labels[r[0]].add(label)
            continue
        v["boxes"] += 1
        totals["boxes"] += 1
        kind = classify(*(int(s) for s in r[3:7]))
        if kind != "inside":
            v[kind] += 1
            totals[kind] += 1
    totals["volumes"] = len(vols)
    vocab = sorted(labels)  # code point order == UTF-8 byte order
    out = {"totals": totals, "vocabulary": vocab, "volumes": vols,
           "study_labels": {k: sorted(s) for k, s in study_labels.items()}}
    if list_path:
        names, skipped = [], []
        with open(list_path, encoding="utf-8-sig") as f:
            for lineno, line in enumerate(f, 1):
                n = line.strip(" \t\r\n\v\f")
                # Issue 13: a line that is not a plain fastMRI-style name (the knee list's
                # "Knee data") names no volume: skipped, not listed.
                if n and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", n):
                    skipped.append({"line": lineno, "text": n})
                elif n and n not in names:
                    names.append(n)
        out["file_list"] = {
            "skipped": skipped,
            "listed": len(names),
            "listed_without_rows": sum(1 for n in names if n not in vols),
            "not_listed": sorted(n for n in vols if n not in set(names)),
        }
    return out


@unittest.skipUnless(FMR_BIN, "FMR_BIN not set (ctest sets it)")
class RealCsv(unittest.TestCase):
    EXPECT = {
        # rows, volumes, labels, duplicates: the fastMRI+ release as bundled
        "knee": (16167, 974, 22, 5),
        "brain": (8213, 997, 30, 1),
    }

    def check_anatomy(self, anatomy):
        csv_path = os.path.join(DATA, f"{anatomy}.csv")
        list_path = os.path.join(DATA, f"{anatomy}_file_list.csv")
        rc, out, err = run(csv_path, "--file-list", list_path)
        self.assertEqual(rc, 0, err)
        got = json.loads(out)
        want = oracle(csv_path, list_path)
        rows, volumes, nlabels, dups = self.EXPECT[anatomy]
        self.assertEqual(got["totals"]["rows"], rows)
        self.assertEqual(got["totals"]["volumes"], volumes)
        self.assertEqual(len(got["vocabulary"]), nlabels)
        self.assertEqual(got["totals"]["duplicates"], dups)
        for key in ("rows", "volumes", "boxes", "study_level", "degenerate", "duplicates",
                    "trimmed", "malformed", "clipped", "outside"):
            self.assertEqual(got["totals"][key], want["totals"][key], key)
        self.assertEqual(got["vocabulary"], want["vocabulary"])
        self.assertEqual(sorted(got["volumes"]), sorted(want["volumes"]))
        for name, counts in want["volumes"].items():
            g = got["volumes"][name]
            for key, value in counts.items():
                self.assertEqual(g[key], value, f"{name} {key}")
            self.assertEqual(g["study_labels"], want["study_labels"].get(name, []), name)
        self.assertEqual(got["problems"], [])
        fl = got["file_list"]
        self.assertEqual(fl["listed"], want["file_list"]["listed"])
        self.assertEqual(fl["skipped"], want["file_list"]["skipped"])
        self.assertEqual(fl["listed_without_rows"], want["file_list"]["listed_without_rows"])
        self.assertEqual(fl["not_listed"], want["file_list"]["not_listed"])
        self.assertEqual(fl["with_rows_not_listed"], len(want["file_list"]["not_listed"]))
        return got

    def test_knee(self):
        got = self.check_anatomy("knee")
        # The known quirks are all there.
        self.assertEqual(got["volumes"]["file1001706"]["duplicates"], 5)
        self.assertIn("Joint Effusion", got["vocabulary"])
        self.assertGreater(got["totals"]["trimmed"], 0)
        self.assertGreater(got["totals"]["clipped"], 0)  # boxes starting at y = -1
        self.assertEqual(got["vocabulary"][-1], "artifact")  # bytewise: lowercase last
        # The list as shipped ends with a line that names no volume (issue 13).
        self.assertEqual(got["file_list"]["skipped"], [{"line": 1173, "text": "Knee data"}])

    def test_brain(self):
        got = self.check_anatomy("brain")
        self.assertGreater(got["totals"]["study_level"], 0)
        self.assertGreater(got["totals"]["degenerate"], 0)


@unittest.skipUnless(FMR_BIN, "FMR_BIN not set (ctest sets it)")
class CraftedCsv(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, data):
        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_malformed_rows_are_reported_with_file_and_line(self):
        lines = [
            "file,slice,study_level,x,y,width,height,label",  # 1
            'v1,0,No,1,2,3,4,"Lesion, with comma"',           # 2
            "v1,0,No,1,2,3,4",                                # 3: 7 fields
            "v1,x,No,1,2,3,4,ok",                             # 4: slice
            "v1,-2,No,1,2,3,4,ok",                            # 5: negative slice
            "v1,0,No,1,2.5,3,4,ok",                           # 6: coordinate
            "../v,0,No,1,2,3,4,ok",                           # 7: invalid name
            'v1,0,No,1,2,3,4,bad"quote',                      # 8: quoting
            '"v2",1,No,0,-1,5,5,"say ""hi"""',                # 9: fine, clipped
            'v2,2,No,316,0,5,5,"two',                         # 10: quoted line break
            'lines"',                                         # 11
            "v2,3,Yes,,,,,Study",                             # 12
            "v2,3,Yes,,,,,Study",                             # 13: duplicate
        ]
        path = self.write("crafted.csv", ("\r\n".join(lines) + "\r\n").encode())
        rc, out, err = run(path, "--frame", "320x320")
        self.assertEqual(rc, 0, err)
        got = json.loads(out)
        prefixes = [p[: p.index(": ", len(path) + 1)] for p in got["problems"]]
        self.assertEqual(prefixes, [f"{path}:{n}" for n in (3, 4, 5, 6, 7, 8)])
        self.assertIn("expected 8 fields, got 7", got["problems"][0])
        self.assertIn("bad quoting", got["problems"][5])
        t = got["totals"]
        self.assertEqual(t["rows"], 11)
        self.assertEqual(t["malformed"], 6)
        self.assertEqual(t["boxes"], 3)
        self.assertEqual(t["duplicates"], 1)
        self.assertEqual(t["study_level"], 1)
        self.assertEqual(t["clipped"], 2)
        self.assertEqual(got["vocabulary"],
                         ["Lesion, with comma", "Study", 'say "hi"', "two\r\nlines"])
        self.assertEqual(got["volumes"]["v1"]["malformed"], 3)
        self.assertEqual(got["volumes"]["v1"]["rows"], 4)  # lines 3 and 8 tie to no volume
        self.assertEqual(got["volumes"]["v2"]["study_labels"], ["Study"])

    def test_bad_header_and_usage_exit_2(self):
        path = self.write("bad.csv", b"file,slice,x\nv1,0,1\n")
        rc, out, err = run(path)
        self.assertEqual(rc, 2)
        self.assertIn(f"{path}:1:", err)
        rc, out, err = run(os.path.join(self.tmp.name, "absent.csv"))
        self.assertEqual(rc, 2)
        rc, out, err = run()
        self.assertEqual(rc, 2)
        ok = self.write("ok.csv", b"file,slice,study_level,x,y,width,height,label\n")
        rc, out, err = run(ok, "--frame", "320")
        self.assertEqual(rc, 2)
        bad_list = self.write("list.csv", b"v1\n../etc\n")
        rc, out, err = run(ok, "--file-list", bad_list)
        self.assertEqual(rc, 2)
        self.assertIn(f"{bad_list}:2:", err)


if __name__ == "__main__":
    unittest.main()
