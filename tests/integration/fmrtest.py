"""Shared helpers for the integration tests: run the binary, write configs, and the independent
numpy oracles of SPEC 3 (reconstruction), 5.1 (pixels) and 6 (masks). Nothing here imports or
reuses the project's C code: the oracles are written from the SPEC alone."""
import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET  # noqa: F401  (used by tests through ft.ET)

import numpy as np

BIN = os.environ.get("FMR_BIN", "")
SRC = os.environ.get("FMR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
MPIEXEC = os.environ.get("FMR_MPIEXEC") or shutil.which("mpirun") or "mpirun"
KNEE_CSV = os.path.join(SRC, "data", "fastmri-plus", "knee.csv")
BRAIN_CSV = os.path.join(SRC, "data", "fastmri-plus", "brain.csv")


def env():
    e = dict(os.environ)
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    e.pop("SOURCE_DATE_EPOCH", None)
    return e


def run(args, check=True, **kw):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kw.pop("env", env()), **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def session_pids(sid):
    """Live (non-zombie) processes of session sid, from /proc."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(d))
    return pids


def kill_run(p, timeout=30):
    """SIGKILL a run started with start_new_session=True: mpirun and every rank. Open MPI puts each
    rank in a process group of its own, so killpg(mpirun) alone leaves the ranks running for a while
    (holding the output lock); they stay in mpirun's session, which is what is killed here."""
    deadline = time.time() + timeout
    while True:
        pids = session_pids(p.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.poll()
        if not pids:
            break
        if time.time() > deadline:
            raise AssertionError(f"processes {pids} of the killed run survive SIGKILL")
        time.sleep(0.02)
    p.wait()


def synth(out, anatomy, names, *extra):
    return run([BIN, "synth", "--anatomy", anatomy, "--out", out, "--names", ",".join(names), *extra])


def write_config(path, anatomy, dirs, file_list_names, out, annotations=None, extra=""):
    fl = os.path.splitext(path)[0] + "_file_list.csv"
    with open(fl, "w") as f:
        f.write("\n".join(file_list_names) + "\n")
    ann = annotations or (KNEE_CSV if anatomy == "knee" else BRAIN_CSV)
    with open(path, "w") as f:
        f.write(f"anatomy: {anatomy}\n"
                f"input:\n  dirs: [{', '.join(dirs)}]\n  file_list: {fl}\n  annotations: {ann}\n"
                f"output:\n  dir: {out}\n{extra}")
    return path


def pipeline(config, np_ranks=1, check=True, extra_env=None):
    e = env()
    if extra_env:
        e.update(extra_env)
    if np_ranks == 1:
        args = [BIN, "run", config]
    else:
        args = [MPIEXEC, "--oversubscribe", "-np", str(np_ranks), BIN, "run", config]
    return run(args, check=check, env=e, timeout=900)


def manifest(out):
    with open(os.path.join(out, "manifest.json")) as f:
        return json.load(f)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hashes(root, skip=("run-report.json",)):
    """Every file's SHA-256 by relative path, less the run report and the run locks (.fmr/*.lock:
    which runs held the directory, emptied on release; a shard's stays behind)."""
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            if rel in skip or (rel.startswith(".fmr/") and rel.endswith(".lock")):
                continue
            out[rel] = sha256(p)
    return out


# ---- SPEC 3: reconstruction, float64 reference ---------------------------------------------------
def recon_reference(kspace, h, w):
    """kspace: complex array (slices, coils, H, W) or (slices, H, W) -> float64 (slices, h, w)."""
    k = kspace if kspace.ndim == 4 else kspace[:, None]
    k = k.astype(np.complex128)
    x = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), axes=(-2, -1), norm="ortho"),
                        axes=(-2, -1))
    img = np.sqrt(np.sum(np.abs(x) ** 2, axis=1))
    H, W = img.shape[-2:]
    r0, c0 = (H - h) // 2, (W - w) // 2
    return img[:, r0:r0 + h, c0:c0 + w]


def read_kspace(h5file):
    ks = h5file["kspace"][()]
    if ks.dtype.names:  # an h5py that does not map the {r, i} compound to complex
        return ks["r"].astype(np.float32) + 1j * ks["i"].astype(np.float32)
    assert ks.dtype == np.complex64, ks.dtype
    return ks


def nmse(ref, x):
    ref = np.asarray(ref, np.float64)
    x = np.asarray(x, np.float64)
    return float(np.sum((ref - x) ** 2) / np.sum(ref ** 2))


# ---- SPEC 5.1: pixels --------------------------------------------------------------------------------
def scale_reference(stack_f32):
    """numpy 1.24's default percentile is exactly SPEC 5.1's P(q)."""
    v = np.asarray(stack_f32, np.float32)
    p = np.percentile(v, 99.9)
    s = np.float32(1024.0 / p)
    y = np.clip(s * v, np.float32(0), np.float32(1024))
    assert y.dtype == np.float32
    px = np.trunc(y).astype(np.int16)
    ww = 2.0 * (np.percentile(px, 99.9) - np.percentile(px, 0.1))
    return px, p, ww


def orient(stack, flip_ud=True, flip_lr=False):
    if flip_ud:
        stack = stack[:, ::-1, :]
    if flip_lr:
        stack = stack[:, :, ::-1]
    return np.ascontiguousarray(stack)


# ---- SPEC 6: masks --------------------------------------------------------------------------------
def read_rows(csv_path):
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def vocabulary(rows):
    return sorted({r["label"].strip() for r in rows}, key=lambda s: s.encode())


def rasterize_reference(rows, name, slices, h, w, vocab):
    """Independent rasterizer: boxes in the flipped (fastMRI+) frame, [x, x+w) x [y, y+h)."""
    dtype = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[
        next(b for b in (1, 2, 4, 8) if b * 8 >= len(vocab))]
    m = np.zeros((slices, h, w), dtype)
    seen = set()
    for r in rows:
        if r["file"] != name or r["study_level"].strip().lower() == "yes":
            continue
        key = tuple(r.values())
        if key in seen:
            continue
        seen.add(key)
        s, x, y, bw, bh = (int(r[k]) for k in ("slice", "x", "y", "width", "height"))
        if bw <= 0 or bh <= 0 or not (0 <= s < slices):
            continue
        bit = dtype(1) << dtype(vocab.index(r["label"].strip()))
        m[s, max(y, 0):max(min(y + bh, h), 0), max(x, 0):max(min(x + bw, w), 0)] |= bit
    return m


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fmr-it-")

    def tearDown(self):
        if os.environ.get("FMR_KEEP_TMP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
