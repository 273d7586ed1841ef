#!/usr/bin/python3
"""Turn the measurements of bench/run.sh into markdown tables and judge the targets.

    analyze.py WORKDIR

Reads WORKDIR/m/*.json (one per measured process and rank, from rss.py), WORKDIR/m/meta.json,
WORKDIR/out/<run>/{manifest,run-report}.json and the optional perf files. Prints the tables to
stdout, writes them to WORKDIR/m/results.md, and exits 1 when a target is missed or a run failed.
The targets are the TARGETS table below; bench/README.md explains each one.
"""
import glob
import json
import os
import statistics
import sys

MB = 1e6  # decimal megabytes throughout: MB of k-space, MB of RSS

# Throughput targets per mode, set at roughly 1/2 to 1/3 of what a 2-core Debian 12 VM measured
# (bench/README.md), so that they catch regressions, not machine noise.
TARGETS = {
    "full": {  # 15-coil 640 x 368 knee, 36 slices
        "recon_slices_per_s": 10.0,   # `recon` of one volume, 1 rank, warm page cache
        "volume_seconds": 5.0,        # one 36-slice volume end to end (run-report seconds)
        "run_np1_slices_per_s": 8.0,  # whole knee run, 1 rank, process wall
        # first volume s/slice <= 1.6 x the later ones: the first volume of a process also pays
        # the first touch of its buffers (~30k page faults, ~0.4 s on a PVM guest)
        "plan_reuse_ratio": 1.6,
        "worker_busy_share": 0.9,     # 2 ranks: sum of volume seconds / run wall seconds
    },
    "quick": {  # 4-coil 640 x 368 knee, 36 slices
        "recon_slices_per_s": 25.0,
        "volume_seconds": 3.0,
        "run_np1_slices_per_s": 15.0,
        # the first-touch cost is 25-60 % of a 4-coil volume
        "plan_reuse_ratio": 2.0,
        "worker_busy_share": 0.8,     # 2 volumes: start-up weighs more
    },
}
MEM_FACTOR, MEM_SLACK_MB = 2.0, 100.0          # actual <= 2 x expected + 100 MB
GROWTH_FACTOR, GROWTH_SLACK_MB = 2.0, 16.0     # RSS(36) - RSS(12) <= 2 x model + 16 MB
BUSY_CORES = 0.3                               # other processes' load worth a warning


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Bench:
    def __init__(self, work):
        self.work = work
        self.m = os.path.join(work, "m")
        self.meta = load(os.path.join(self.m, "meta.json")) or {}
        self.mode = self.meta.get("mode", "full")
        self.targets = []   # (name, measured, target, ok)
        self.problems = []
        self.busy = {}      # run id -> cores other processes used during it, when > BUSY_CORES

    # -- raw measurements ----------------------------------------------------------------------
    def ranks(self, run_id):
        """rss.py records of every rank of a measured process, by rank."""
        recs = [load(p) for p in glob.glob(os.path.join(self.m, run_id + ".*.json"))]
        return sorted([r for r in recs if r and "rank" in r], key=lambda r: r["rank"])

    def manifest(self, run_id):
        return load(os.path.join(self.work, "out", run_id, "manifest.json"))

    def report(self, run_id):
        return load(os.path.join(self.work, "out", run_id, "run-report.json"))

    def check_rc(self, run_id):
        recs = self.ranks(run_id)
        if not recs:
            self.problems.append("%s: no measurement (did it run?)" % run_id)
            return False
        bad = [r for r in recs if r["rc"] != 0]
        if bad:
            self.problems.append("%s: exit status %s (log: %s/logs/%s.log)" % (
                run_id, ",".join(str(r["rc"]) for r in bad), self.work, run_id))
            return False
        return True

    # -- the memory model ------------------------------------------------------------------------
    @staticmethod
    def mask_bytes(manifest):
        n = len(manifest.get("annotations", {}).get("vocabulary", []))
        for b in (1, 2, 4, 8):
            if n <= 8 * b:
                return b
        return 8

    def volume_model(self, vol, mask_bytes, recon_only=False):
        """Bytes a worker holds for one volume: the k-space slice twice (the plan's input and its
        in-place work buffer), and per voxel of the output stack 4 (float image) + 2 (int16 pixels)
        + mask bytes. `recon` keeps only the float stack."""
        shape = vol["kspace_shape"]
        slices, H, W = shape[0], shape[-2], shape[-1]
        coils = shape[1] if len(shape) == 4 else 1
        h, w = vol["frame"]
        per_voxel = 4 if recon_only else 4 + 2 + mask_bytes
        return 2 * coils * H * W * 8 + slices * h * w * per_voxel

    def baseline_mb(self, ranks):
        recs = self.ranks("base-np1" if ranks == 1 else "base-np2")
        return max(r["maxrss_kb"] for r in recs) * 1024 / MB if recs else 0.0

    def expected_mb(self, run_id, ranks, recon_only=False, manifest=None):
        man = manifest or self.manifest(run_id)
        if not man:
            return None
        mb = self.mask_bytes(man)
        vols = [v for v in man["volumes"] if v.get("status") == "ok" and "kspace_shape" in v]
        if not vols:
            return None
        return self.baseline_mb(ranks) + max(self.volume_model(v, mb, recon_only) for v in vols) / MB

    # -- targets ---------------------------------------------------------------------------------
    def target(self, name, measured, limit, ok, fmt="%.2f", wall_of=()):
        """wall_of: the runs whose wall-clock time the figure comes from; a miss while the machine
        was busy says so."""
        shown = fmt % measured if measured is not None else "n/a"
        verdict = "PASS" if ok else "**FAIL**"
        if not ok and any(r in self.busy for r in wall_of):
            verdict += " (machine busy)"
        self.targets.append((name, shown, limit, verdict))

    def run(self):
        t = TARGETS[self.mode]
        meta = self.meta
        out = []
        rows = []
        mem_rows = []

        knee_man = self.manifest("knee-np1")
        ok_runs = {rid: self.check_rc(rid) for rid in (
            "synth-knee", "synth-brain", "synth-knee12", "synth-tiny", "base-np1", "base-np2",
            "recon", "recon-patient", "vol36", "vol12", "knee-np1", "knee-np2", "knee-np3",
            "brain-np1", "brain-np2", "brain-np3")}

        def vol_info(man):
            vols = [v for v in (man or {}).get("volumes", []) if "kspace_shape" in v]
            slices = sum(v["slices"] for v in vols)
            kbytes = sum(8 * _prod(v["kspace_shape"]) for v in vols)
            return len(vols), slices, kbytes

        def proc_row(label, run_id, man, ranks, recon_only=False, note="", mem=True):
            recs = self.ranks(run_id)
            if not recs:
                rows.append("| %s | n/a | | | | | | | | %s |" % (label, note))
                return None
            wall = recs[0]["wall_s"]
            cpu = sum(r["user_s"] + r["sys_s"] for r in recs)
            rss = max(r["maxrss_kb"] for r in recs) * 1024 / MB
            nvol, slices, kbytes = vol_info(man)
            exp = self.expected_mb(run_id, ranks, recon_only, man) if man and mem else None
            # Other processes' CPU meanwhile, in cores: the machine's busy time minus ours.
            other = None
            if recs[0].get("machine_busy_s") is not None and wall > 0:
                other = max(0.0, (recs[0]["machine_busy_s"] - cpu) / wall)
                if other > BUSY_CORES:
                    self.busy[run_id] = other
            per_rank = ""
            if len(recs) > 1:
                per_rank = "; RSS by rank " + "/".join(
                    "%.0f" % (r["maxrss_kb"] * 1024 / MB) for r in recs) + " MB; CPU by rank " + \
                    "/".join("%.1f" % (r["user_s"] + r["sys_s"]) for r in recs) + " s"
            rows.append("| %s | %.2f | %.2f | %s | %s | %s | %.0f | %s | %s | %s |" % (
                label, wall, cpu, slices or "", "%.1f" % (slices / wall) if slices else "",
                "%.0f" % (kbytes / MB / wall) if kbytes else "", rss,
                "%.0f" % exp if exp else "",
                ("**%.1f**" if other > BUSY_CORES else "%.1f") % other if other is not None else "",
                (note + per_rank).strip("; ")))
            if exp:
                limit = MEM_FACTOR * exp + MEM_SLACK_MB
                verdict = "ok" if rss <= limit else "**OVER TARGET**"
                mem_rows.append("| %s | %d | %.0f | %.0f | %.0f | %s |" % (
                    label, ranks, rss, exp, limit, verdict))
                self.target("peak RSS %s (MB)" % label, rss, "<= %.0f (2 x %.0f + 100)" % (
                    limit, exp), rss <= limit, "%.0f")
                if rss > limit:
                    print("OVER TARGET: %s peak RSS %.0f MB > %.0f MB (expected %.0f MB)" % (
                        label, rss, limit, exp))
            return {"wall": wall, "rss": rss, "slices": slices, "kbytes": kbytes, "recs": recs}

        # One-volume manifests give the recon rows their shape.
        vol36_man = self.manifest("vol36")
        vol12_man = self.manifest("vol12")

        proc_row("synth: %d knee volumes (not a target)" % meta.get("knee_count", 0),
                 "synth-knee", knee_man, 1, mem=False)
        proc_row("synth: %d brain volumes (not a target)" % meta.get("brain_count", 0),
                 "synth-brain", self.manifest("brain-np1"), 1, mem=False)
        rec = proc_row("`recon` 1 knee volume (fft estimate)", "recon", vol36_man, 1,
                       recon_only=True)
        recp = proc_row("`recon` 1 knee volume (fft patient)", "recon-patient", vol36_man, 1,
                        recon_only=True, note="planning cost, for scale")
        v36 = proc_row("`run` 1 knee volume, %d slices" % meta.get("knee_slices", 36), "vol36",
                       vol36_man, 1)
        v12 = proc_row("`run` 1 knee volume, %d slices" % meta.get("knee_slices_small", 12),
                       "vol12", vol12_man, 1)
        runs = {}
        for anat in ("knee", "brain"):
            for np_ in (1, 2, 3):
                rid = "%s-np%d" % (anat, np_)
                note = {1: "", 2: "1 coordinator + 1 worker",
                        3: "oversubscribed: reported, not judged"}[np_]
                runs[rid] = proc_row("`run` %s, %d rank%s" % (anat, np_, "s" if np_ > 1 else ""),
                                     rid, self.manifest(rid), np_, note=note)
        proc_row("baseline: tiny volume, 1 rank", "base-np1", None, 1, note="libraries + MPI")
        proc_row("baseline: tiny volume, 2 ranks", "base-np2", None, 2, note="libraries + MPI")

        # ---- targets -------------------------------------------------------------------------
        if rec and rec["slices"]:
            sps = rec["slices"] / rec["wall"]
            self.target("`recon` throughput (slices/s, %d coils)" % meta.get("knee_coils", 0),
                        sps, ">= %g" % t["recon_slices_per_s"], sps >= t["recon_slices_per_s"],
                        "%.1f", wall_of=("recon",))
        rep36 = self.report("vol36")
        if rep36 and rep36.get("schedule"):
            sec = rep36["schedule"][0]["seconds"]
            self.target("one %d-slice knee volume end to end (s)" % meta.get("knee_slices", 36),
                        sec, "<= %g" % t["volume_seconds"], sec <= t["volume_seconds"],
                        wall_of=("vol36",))
        k1 = runs.get("knee-np1")
        if k1 and k1["slices"]:
            sps = k1["slices"] / k1["wall"]
            self.target("knee `run` 1 rank (slices/s)", sps, ">= %g" % t["run_np1_slices_per_s"],
                        sps >= t["run_np1_slices_per_s"], "%.1f", wall_of=("knee-np1",))
        # Memory does not grow with the slice count beyond the output stack.
        growth_line = ""
        if v36 and v12 and vol36_man and vol12_man:
            a = [v for v in vol36_man["volumes"] if "kspace_shape" in v][0]
            b = [v for v in vol12_man["volumes"] if "kspace_shape" in v][0]
            mb = self.mask_bytes(vol36_man)
            h, w = a["frame"]
            ds = a["slices"] - b["slices"]
            model = ds * h * w * (4 + 2 + mb) / MB
            kspace = ds * 8 * _prod(a["kspace_shape"][1:]) / MB
            growth = v36["rss"] - v12["rss"]
            limit = GROWTH_FACTOR * model + GROWTH_SLACK_MB
            self.target("RSS growth %d -> %d slices (MB)" % (b["slices"], a["slices"]), growth,
                        "<= %.0f (2 x %.1f + 16)" % (limit, model), growth <= limit, "%.1f")
            growth_line = ("RSS %d slices %.0f MB, %d slices %.0f MB: +%.1f MB for %d more slices; "
                           "output-stack model +%.1f MB (%d B/voxel); holding the k-space would "
                           "add %.0f MB." % (b["slices"], v12["rss"], a["slices"], v36["rss"],
                                             growth, ds, model, 4 + 2 + mb, kspace))
        # FFTW plans made once per shape: the first volume of a shape is not slower per slice.
        plan_line = ""
        rep = self.report("knee-np1")
        if rep and knee_man:
            shapes = {v["name"]: tuple(v["kspace_shape"]) for v in knee_man["volumes"]
                      if "kspace_shape" in v}
            sched = [s for s in rep.get("schedule", []) if s.get("state") == "ok"
                     and not s.get("reused") and s["name"] in shapes]
            if len(sched) >= 2:
                first = sched[0]
                same = [s for s in sched[1:] if shapes[s["name"]] == shapes[first["name"]]]
                if same:
                    n = shapes[first["name"]][0]
                    f = first["seconds"] / n
                    later = statistics.median(s["seconds"] / shapes[s["name"]][0] for s in same)
                    ratio = f / later
                    self.target("plan reuse: first / later volume s/slice", ratio,
                                "<= %g" % t["plan_reuse_ratio"], ratio <= t["plan_reuse_ratio"],
                                wall_of=("knee-np1",))
                    plan_line = ("First knee volume %.1f ms/slice, median of the %d later ones "
                                 "%.1f ms/slice (ratio %.2f)." % (1e3 * f, len(same), 1e3 * later,
                                                                  ratio))
                    if rec and recp:
                        cost = recp["wall"] - rec["wall"]
                        plan_line += (" For scale: planning this shape with `patient` costs "
                                      "%.1f s, %.0f%% of a volume's %.1f s: what a plan per "
                                      "volume would add." % (cost, 100 * cost / first["seconds"],
                                                              first["seconds"]))
        # The coordinator keeps its worker busy: with 1 worker, the volumes' seconds (as rank 0
        # timed them, hand-out to record) cover the run's wall time but for start-up and gaps.
        # A ratio of times on the same CPU, so robust to the CPU's speed.
        rep2 = self.report("knee-np2")
        if rep2 and rep2.get("wall_seconds"):
            share = sum(s.get("seconds", 0.0) for s in rep2.get("schedule", [])) / \
                rep2["wall_seconds"]
            self.target("knee `run` 2 ranks: worker busy share of the run", share,
                        ">= %g" % t["worker_busy_share"], share >= t["worker_busy_share"])
        # Determinism across rank counts (SPEC 8): a benchmark of wrong outputs is worthless. The
        # configs differ only in output.dir, hence in the config hash: compare the volumes.
        for anat in ("knee", "brain"):
            seen = []
            for np_ in (1, 2, 3):
                man = self.manifest("%s-np%d" % (anat, np_))
                seen.append(json.dumps([man.get("volumes"), man.get("totals")], sort_keys=True)
                            if man else None)
            same = None not in seen and len(set(seen)) == 1
            self.targets.append(("%s manifest volumes identical for 1/2/3 ranks" % anat,
                                 "yes" if same else "no", "identical",
                                 "PASS" if same else "**FAIL**"))
        for rid, ok in ok_runs.items():
            if not ok:
                self.targets.append(("%s exit status 0" % rid, "no", "0", "**FAIL**"))

        # ---- print ---------------------------------------------------------------------------
        out.append("## fastmri-regen benchmark (%s)\n" % self.mode)
        out.append("%s, source %s, %s cores (%s), %s GB RAM.\n" % (
            meta.get("date", "?"), meta.get("commit", "?"), meta.get("nproc"), meta.get("cpu", "?"),
            meta.get("mem_gb", "?")))
        out.append("%s knee x %s coils x %s slices (640 x 368 k-space, 320 x 320 frame), "
                   "%s brain x %s coils x %s slices (640 x 320); page cache warm (volumes just "
                   "written).\n" % (
                       meta.get("knee_count"), meta.get("knee_coils"), meta.get("knee_slices"),
                       meta.get("brain_count"), meta.get("brain_coils"), meta.get("brain_slices")))
        out.append("| measurement | wall s | CPU s | slices | slices/s | k-space MB/s | peak RSS MB "
                   "(max rank) | expected RSS MB | other load (cores) | notes |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        out.extend(rows)
        out.append("")
        out.append("wall s: the measured process (rank 0 under mpirun, without mpirun's own start); "
                   "CPU s: user + system over all ranks; other load: CPU the rest of the machine "
                   "used meanwhile (from /proc/stat), in cores.\n")
        if self.busy:
            out.append("**Warning: other processes kept up to %.1f of %s cores busy during %d of "
                       "%d measurements (bold in the table): their wall-clock figures are "
                       "inflated, CPU s are not. Rerun on a quiet machine before trusting a "
                       "wall-clock miss.**\n" % (max(self.busy.values()), meta.get("nproc"),
                                                  len(self.busy), len(rows)))
        out.append("Memory model per worker: 2 x one k-space slice (complex64) + slices x h x w x "
                   "(4 float + 2 int16 + %s mask bytes) + the baseline (a run on a tiny volume: "
                   "libraries, MPI, annotation tables); `recon` keeps only the float stack.\n" %
                   (self.mask_bytes(knee_man) if knee_man else "?"))
        out.append("| memory check | ranks | actual MB | expected MB | limit MB | verdict |")
        out.append("| --- | ---: | ---: | ---: | ---: | --- |")
        out.extend(mem_rows)
        out.append("")
        if growth_line:
            out.append("Slice count: " + growth_line + "\n")
        if plan_line:
            out.append("FFTW plans: " + plan_line + "\n")
        if k1:
            sp = []
            for np_ in (2, 3):
                r = runs.get("knee-np%d" % np_)
                if r:
                    sp.append("%d ranks %.2fx" % (np_, k1["wall"] / r["wall"]))
            out.append("Knee speed-up over 1 rank (wall, not judged): %s; rank 0 only coordinates "
                       "when there are 2 or more ranks.\n" % ", ".join(sp))
        out.extend(self.perf_summary())
        out.append("| target | measured | target | verdict |")
        out.append("| --- | ---: | --- | --- |")
        for name, measured, limit, verdict in self.targets:
            out.append("| %s | %s | %s | %s |" % (name, measured, limit, verdict))
        for p in self.problems:
            out.append("\n- problem: " + p)
        failed = [x for x in self.targets if "FAIL" in x[3]] or self.problems
        out.append("\n%s" % ("**%d target(s) missed**" % len([x for x in self.targets
                                                               if "FAIL" in x[3]])
                             if failed else "All targets met."))
        text = "\n".join(out) + "\n"
        with open(os.path.join(self.m, "results.md"), "w") as f:
            f.write(text)
        sys.stdout.write(text)
        return 1 if failed else 0

    def perf_summary(self):
        if self.meta.get("perf") != "ok":
            return ["Profile: skipped (perf not available or not permitted).\n"]
        lines = []
        stat = {}
        try:
            with open(os.path.join(self.m, "perf-stat.csv")) as f:
                for ln in f:
                    parts = ln.strip().split(",")
                    if len(parts) >= 3 and parts[0] and not ln.startswith("#"):
                        stat[parts[2]] = parts[0] + (" " + parts[1] if parts[1] else "")
        except OSError:
            pass
        if stat:
            lines.append("Profile of the one-volume run (`perf stat`, software counters): "
                         + ", ".join("%s %s" % (k, v) for k, v in stat.items()) + ".")
        for fname, title, nmax in (("perf-dso.txt", "by library", 6),
                                   ("perf-sym.txt", "top functions", 8)):
            try:
                with open(os.path.join(self.m, fname)) as f:
                    entries = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
            except OSError:
                continue
            items = []
            for e in entries[:nmax]:
                parts = e.split()
                if fname == "perf-sym.txt" and len(parts) >= 4:
                    items.append("%s %s (%s)" % (parts[0], parts[-1], parts[1]))
                elif len(parts) >= 2:
                    items.append("%s %s" % (parts[0], " ".join(parts[1:])))
            if items:
                lines.append("`perf record` (cpu-clock) %s: %s." % (title, "; ".join(items)))
        lines.append("")
        return ["\n".join(lines) + "\n"] if lines else []


def _prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: analyze.py WORKDIR\n")
        return 2
    return Bench(sys.argv[1]).run()


if __name__ == "__main__":
    sys.exit(main())
