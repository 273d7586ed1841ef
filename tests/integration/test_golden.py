"""Golden lists: the SHA-256 of every DICOM, mask, SEG and PNG file (and of the synthetic inputs)
that the demo and the integration datasets produce under a fixed SOURCE_DATE_EPOCH. They were
recorded from the code before the architecture refactor (issue 8) and must never change unless an
output format change is intended; then regenerate them on purpose:

    FMR_GOLDEN_UPDATE=1 FMR_BIN=build/fastmri-regen python3 tests/integration/test_golden.py

and say in the commit message why the bytes changed. The manifest and run report are not in the
lists (they carry the tool version and library versions, which change for other reasons)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

GOLDEN = os.path.join(ft.SRC, "tests", "golden")
EPOCH = "1700000000"
KINDS = (".dcm", ".h5", ".png")
# The ML-ready outputs (SPEC 11, on by default) are checked by it.ml_outputs and it.ml_run, not
# here: the lists predate them, and their files must not change the listed kinds' bytes.
NOT_LISTED = ("recon/", "nifti/", "dataset.h5")

DEMO_KNEE = ["file1000001", "file1001259", "file1000143", "file1001706", "file1002097",
             "file1001022", "file1000033"]
DEMO_BRAIN = ["file_brain_AXFLAIR_200_6002425", "file_brain_AXT1_202_2020089",
              "file_brain_AXFLAIR_203_6000890", "file_brain_AXT1_202_6000306",
              "file_brain_AXFLAIR_200_6002474"]
IT_KNEE = ["file1000001", "file1001259", "file1000143", "file1001706"]
SIZE = ["--size", "352x336", "--frame", "320x320", "--coils", "2"]


def datasets(tmp):
    """(name, anatomy, synth calls, listed names, config extra) for every golden dataset."""
    yield ("demo-knee", "knee",
           [(DEMO_KNEE, ["--subdirs", "--slices", "34", "--slices-from", ft.KNEE_CSV])],
           DEMO_KNEE, "")
    yield ("demo-brain", "brain",
           [(DEMO_BRAIN, ["--subdirs", "--slices", "16", "--slices-from", ft.BRAIN_CSV])],
           DEMO_BRAIN, "")
    # The integration shapes: small multi-coil, single-coil, undersampled, an odd-sized frame.
    mixed = [(IT_KNEE, SIZE + ["--slices-from", ft.KNEE_CSV]),
             (["file1000000"], ["--size", "352x336", "--frame", "320x320", "--single-coil",
                                "--slices", "5"]),
             (["file1000033"], SIZE + ["--slices", "4", "--undersampled"]),
             (["file1002097"], ["--size", "63x45", "--frame", "31x29", "--coils", "3",
                                "--slices-from", ft.KNEE_CSV])]
    names = IT_KNEE + ["file1000000", "file1000033", "file1002097"]
    yield ("it-knee", "knee", mixed, names, "")
    # The same inputs through the other switches: stored-reconstruction source, both flips, native
    # masks, an all_files run with an unlisted volume.
    yield ("it-knee-variants", "knee", mixed, names[:-1],
           "  mask_frame: native\nrecon:\n  source: reconstruction_rss\n  flip_left_right: true\n")
    yield ("it-brain-all", "brain",
           [(DEMO_BRAIN[:2] + ["file_brain_AXT2_200_2000001"], SIZE + ["--slices-from",
                                                                        ft.BRAIN_CSV])],
           DEMO_BRAIN[:2], "")


def produce(tmp, name, anatomy, synths, listed, extra):
    data = os.path.join(tmp, name, "data")
    for names, opts in synths:
        ft.synth(data, anatomy, names, *opts)
    out = os.path.join(tmp, name, "out")
    # write_config appends `extra` right after output.dir: output keys first, then other sections.
    cfg = ft.write_config(os.path.join(tmp, name, "run.yaml"), anatomy, [data], listed, out,
                          extra=extra)
    if name == "it-brain-all":
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("  annotations:", "  all_files: true\n  annotations:"))
    e = ft.env()
    e["SOURCE_DATE_EPOCH"] = EPOCH
    p = ft.run([ft.BIN, "run", cfg], check=False, env=e, timeout=900)
    if p.returncode not in (0, 1):
        raise AssertionError(f"{name}: run exited {p.returncode}\n{p.stderr}")
    hashes = {}
    for root, tag in ((out, "out"), (data, "in")):
        for rel, h in ft.tree_hashes(root).items():
            if rel.startswith(".fmr") or not rel.endswith(KINDS) or \
                    (tag == "out" and rel.startswith(NOT_LISTED)):
                continue
            hashes[f"{tag}/{rel}"] = h
    return hashes


def golden_path(name):
    return os.path.join(GOLDEN, name + ".sha256")


def load(name):
    out = {}
    with open(golden_path(name)) as f:
        for line in f:
            h, rel = line.rstrip("\n").split("  ", 1)
            out[rel] = h
    return out


class GoldenTest(ft.TempDirTest):
    def test_outputs_match_golden_lists(self):
        update = os.environ.get("FMR_GOLDEN_UPDATE") == "1"
        for spec in datasets(self.tmp):
            name = spec[0]
            with self.subTest(dataset=name):
                got = produce(self.tmp, *spec)
                self.assertGreater(len([k for k in got if k.startswith("out/")]), 10, name)
                if update:
                    os.makedirs(GOLDEN, exist_ok=True)
                    with open(golden_path(name), "w") as f:
                        for rel in sorted(got):
                            f.write(f"{got[rel]}  {rel}\n")
                    continue
                want = load(name)
                missing = sorted(set(want) - set(got))
                extra = sorted(set(got) - set(want))
                changed = sorted(k for k in set(want) & set(got) if want[k] != got[k])
                self.assertEqual((missing, extra, changed), ([], [], []),
                                 f"{name}: outputs differ from tests/golden/{name}.sha256")


if __name__ == "__main__":
    unittest.main()
