#!/usr/bin/python3
"""Tables, ratios and verdicts for bench/run.sh (the side-by-side benchmark of issue 12).

    side.py MEASUREMENTS_DIR

Reads the rss.py records (ID.<rank>.json), fftfloor's JSON, recon's per-stage line and meta.json;
prints markdown and writes results.json next to them. The table shows medians over the rounds; each
target is the median over the rounds of its ratio within one round (rows seconds apart, the floor
of the 1-rank target timed just before and after the run it is compared with). Judges only a full
run on a quiet machine: load average above half the cores at the start, a calibration loop that
drifted by more than 25 % between start and end, or other processes using more than 0.3 cores
during a measured run of a second or more make it refuse (exit 3). Exit 1 when a judged target is
missed or a run failed."""
import glob
import json
import os
import re
import statistics
import sys

# name, limit, direction: the targets of issue 12, as ratios measured in one run.
TARGETS = [
    ("run 1 rank, s per volume of 4 / (crop-aware floor + warm read)", 1.25, "<="),
    ("run 1 rank cold / max(cold read, warm run), one volume", 1.15, "<="),
    ("Python path / run 1 rank, one volume each", 4.0, ">="),
    ("BART one thread / run 1 rank s per volume (BART has no outputs beyond the image)", 3.5, ">="),
    ("peak RSS of run, MB (max over ranks)", 160.0, "<="),
    ("throughput 2 ranks / 1 rank: 4 more volumes (8 minus 4), mpirun -np 2 vs -np 1", 1.8, ">="),
]


def load(path):
    with open(path) as f:
        return json.load(f)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    m = sys.argv[1]
    meta = load(os.path.join(m, "meta.json"))
    failed = []
    busy_notes = []

    def recs(pattern):
        out = []
        for p in sorted(glob.glob(os.path.join(m, pattern))):
            r = load(p)
            out.append(r)
            if r.get("rc"):
                failed.append(os.path.basename(p))
            other = r.get("machine_busy_s")
            # /proc/stat counts in 10 ms ticks: over a row shorter than a second (a warm read of
            # the brain file takes 0.04 s) one stray tick reads as a quarter of a core.
            if other is not None and r["wall_s"] >= 1.0:
                load_other = (other - r["user_s"] - r["sys_s"]) / r["wall_s"]
                if load_other > 0.3 and "-mpi2x" not in p:
                    busy_notes.append("%s: other load %.2f cores" % (os.path.basename(p), load_other))
        return out

    def walls(vol, what):
        by_round = {}
        for p in glob.glob(os.path.join(m, "%s-%s-*.json" % (vol, what))):
            mm = re.match(r".*-(\d+)\.(\d+)\.json$", p)
            if not mm:
                continue
            by_round.setdefault(mm.group(1), []).append(p)
        ws, rss = [], []
        for rnd, paths in by_round.items():
            rr = [load(p) for p in paths]
            for r in rr:
                if r.get("rc"):
                    failed.append(os.path.basename(paths[0]))
            ws.append(max(r["wall_s"] for r in rr))
            rss.append(max(r["maxrss_kb"] for r in rr) / 1024.0)
        return med(ws), (max(rss) if rss else None)

    def bart_parts(vol, rnd):
        """The fft, rss and resize records of one round, or None when one is missing."""
        parts = [os.path.join(m, "%s-bart-%s-%s.0.json" % (vol, s, rnd)) for s in ("fft", "rss", "resize")]
        return [load(p) for p in parts] if all(os.path.exists(p) for p in parts) else None

    def bart(vol):
        tot, rss = [], []
        rounds = {re.match(r".*-(\d+)\.0\.json$", p).group(1)
                  for p in glob.glob(os.path.join(m, "%s-bart-fft-*.0.json" % vol))}
        for rnd in rounds:
            rr = bart_parts(vol, rnd)
            if not rr:
                continue
            tot.append(sum(r["wall_s"] for r in rr))
            rss.append(max(r["maxrss_kb"] for r in rr) / 1024.0)
        return med(tot), (max(rss) if rss else None)

    def ratio(a, b):
        return a / b if a and b else None

    def wall_round(vol, what, rnd):
        paths = glob.glob(os.path.join(m, "%s-%s-%s.*.json" % (vol, what, rnd)))
        paths = [p for p in paths if re.match(r".*-%s\.\d+\.json$" % rnd, p)]
        return max(load(p)["wall_s"] for p in paths) if paths else None

    def rounds_of(vol, what):
        return sorted({re.match(r".*-(\d+)\.\d+\.json$", p).group(1)
                       for p in glob.glob(os.path.join(m, "%s-%s-*.json" % (vol, what)))
                       if re.match(r".*-(\d+)\.\d+\.json$", p)})

    def marginal_round(vol, launcher, rnd):
        """Seconds per volume of the 4 volumes an 8-volume run adds to a 4-volume run (one round)."""
        a, b = wall_round(vol, launcher + "x4", rnd), wall_round(vol, launcher + "x8", rnd)
        return (b - a) / 4 if a and b and b > a else None

    def marginal(vol, launcher):
        return med([marginal_round(vol, launcher, r) for r in rounds_of(vol, launcher + "x8")])

    def round_ratios(vol, num, den):
        return [ratio(num(r), den(r)) for r in rounds_of(vol, "mpi1x8")]

    for pat in ("*-read-*.0.json", "*-run1-*.0.json", "*-run1cold-*.0.json", "*-recon-*.0.json",
                "*-mpi*.json",
                "*-python-*.0.json", "*-bart-*.0.json"):
        recs(pat)

    results = {"meta": meta, "volumes": {}}
    lines = ["# fastmri-regen side by side (%s, %s, %d cores, commit %s)" %
             (meta["date"], meta["cpu"], meta["nproc"], meta["commit"]), ""]
    lines += ["| volume | path | s per volume | peak RSS MB | vs run 1 rank |", "| --- | --- | ---: | ---: | ---: |"]
    for vol in ("knee", "brain"):
        floors = []
        for p in glob.glob(os.path.join(m, "%s-floor-*.json" % vol)):
            f = load(p)
            f["_round"] = re.match(r".*-(\d+)\.json$", p).group(1)
            floors.append(f)
        if not floors:
            continue
        v = {
            "floor_naive_s": med([f["naive_s"] for f in floors]),
            "floor_crop_s": med([f["crop_s"] for f in floors]),
        }
        v["read_warm_s"], _ = walls(vol, "read-warm")
        v["read_cold_s"], _ = walls(vol, "read-cold")
        v["write_alone_s"], _ = walls(vol, "write")
        mbs = [int(open(p).read()) for p in glob.glob(os.path.join(m, "%s-write-*.mb" % vol))]
        v["write_alone_mb"] = med(mbs)
        v["run1_s"], v["run1_rss_mb"] = walls(vol, "run1")
        v["run1_cold_s"], _ = walls(vol, "run1cold")
        v["run1x4_s"], v["run1x4_rss_mb"] = walls(vol, "run1x4")
        v["run1_per_volume_s"] = v["run1x4_s"] / 4 if v["run1x4_s"] else None
        for np_ in (1, 2):
            for nv in (4, 8):
                key = "mpi%dx%d" % (np_, nv)
                v[key + "_s"], v[key + "_rss_mb"] = walls(vol, key)
        v["mpi1_per_volume_s"] = marginal(vol, "mpi1")
        v["mpi2_per_volume_s"] = marginal(vol, "mpi2")
        v["scaling_marginal"] = med(round_ratios(vol, lambda r: marginal_round(vol, "mpi1", r),
                                                 lambda r: marginal_round(vol, "mpi2", r)))
        v["scaling_end_to_end_x4"] = ratio(v["mpi1x4_s"], v["mpi2x4_s"])
        # The work phase alone, from the run reports: the busiest rank's seconds with volumes.
        busy = []
        for rnd in rounds_of(vol, "mpi1x8"):
            reps = [os.path.join(m, "%s-mpi%dx8-%s.report.json" % (vol, n, rnd)) for n in (1, 2)]
            if all(os.path.exists(q) for q in reps):
                b1, b2 = (max(p["busy_seconds"] for p in load(q)["per_rank"]) for q in reps)
                busy.append(ratio(b1, b2))
        v["scaling_work_phase_x8"] = med(busy)
        pairs = []
        for f in floors:
            rnd = f["_round"]
            ab = [os.path.join(m, "%s-floorpair-%s.%s.json" % (vol, rnd, x)) for x in "ab"]
            if all(os.path.exists(q) for q in ab):
                pair = [load(q)["crop_s"] for q in ab]
                pairs.append(2 * f["crop_s"] / statistics.mean(pair))
        v["floor_pair_scaling"] = med(pairs)
        v["recon_s"], v["recon_rss_mb"] = walls(vol, "recon")
        v["python_s"], v["python_rss_mb"] = walls(vol, "python")
        v["bart_s"], v["bart_rss_mb"] = bart(vol)
        stages = {}
        for p in glob.glob(os.path.join(m, "%s-recon-*.stages" % vol)):
            for k, x in re.findall(r"([a-z ]+?) ([0-9.]+)", open(p).read().replace("seconds:", "").replace(",", "")):
                stages.setdefault(k.strip(), []).append(float(x))
        v["recon_stages_s"] = {k: med(x) for k, x in stages.items()}
        results["volumes"][vol] = v
        base = v["run1_s"]

        def row(label, s, rss):
            ratio = "%.2fx" % (s / base) if s and base else ""
            lines.append("| %s | %s | %s | %s | %s |" % (vol, label, "%.3f" % s if s else "-",
                                                        "%.0f" % rss if rss else "-", ratio))

        row("FFT floor: naive 2-D plan", v["floor_naive_s"], None)
        row("FFT floor: crop-aware", v["floor_crop_s"], None)
        row("read alone, warm", v["read_warm_s"], None)
        row("read alone, cold", v["read_cold_s"], None)
        row("write alone: %s MB, what one volume's run writes (dd, fsync)" % (
            "%d" % v["write_alone_mb"] if v.get("write_alone_mb") else "-"), v["write_alone_s"], None)
        row("`run`, 1 rank, every default output", v["run1_s"], v["run1_rss_mb"])
        row("`run`, 1 rank, cold cache", v["run1_cold_s"], None)
        row("`run`, 1 rank, 4 volumes: s per volume", v["run1_per_volume_s"], v["run1x4_rss_mb"])
        for np_ in (1, 2):
            for nv in (4, 8):
                key = "mpi%dx%d" % (np_, nv)
                row("`mpirun -np %d run`, %d volumes: wall s" % (np_, nv), v[key + "_s"], v[key + "_rss_mb"])
            row("`mpirun -np %d run`: s per volume of the 4 more (8 minus 4)" % np_,
                v["mpi%d_per_volume_s" % np_], None)
        row("`recon` (%s)" % ", ".join("%s %.2f" % kv for kv in v["recon_stages_s"].items()),
            v["recon_s"], v["recon_rss_mb"])
        row("Python: numpy + h5py + pydicom", v["python_s"], v["python_rss_mb"])
        row("BART fft/rss/resize, 1 thread", v["bart_s"], v["bart_rss_mb"])

    # verdicts on the knee volume: each target the median over the rounds of its ratio within a
    # round, so that the machine's drift between rounds (and over a round's minutes) stays out.
    k = results["volumes"].get("knee", {})

    def floor_near(rnd):
        """The crop-aware floor timed just before and after round rnd's 4-volume run (mean), or
        the round's own floor row when the bracket is absent."""
        ab = [os.path.join(m, "knee-floorb-%s.%s.json" % (rnd, x)) for x in "ab"]
        if all(os.path.exists(q) for q in ab):
            return statistics.mean(load(q)["crop_s"] for q in ab)
        q = os.path.join(m, "knee-floor-%s.json" % rnd)
        return load(q)["crop_s"] if os.path.exists(q) else None

    def bart_round(rnd):
        rr = bart_parts("knee", rnd)
        return sum(r["wall_s"] for r in rr) if rr else None

    def per_volume_x4(rnd):
        w = wall_round("knee", "run1x4", rnd)
        return w / 4 if w else None

    def plus(a, b):
        return a + b if a is not None and b is not None else None

    def mx(a, b):
        return max(a, b) if a is not None and b is not None else None

    rounds = rounds_of("knee", "run1x4")
    per_round = {
        "run1_vs_floor": [ratio(per_volume_x4(r), plus(floor_near(r), wall_round("knee", "read-warm", r)))
                          for r in rounds],
        "cold": [ratio(wall_round("knee", "run1cold", r),
                       mx(wall_round("knee", "read-cold", r), wall_round("knee", "run1", r))) for r in rounds],
        "python": [ratio(wall_round("knee", "python", r), wall_round("knee", "run1", r)) for r in rounds],
        "bart": [ratio(bart_round(r), per_volume_x4(r)) for r in rounds],
    }
    results["per_round"] = per_round
    measured = [
        med(per_round["run1_vs_floor"]),
        med(per_round["cold"]),
        med(per_round["python"]),
        med(per_round["bart"]),
        max([x for x in (k.get("run1_rss_mb"), k.get("run1x4_rss_mb"), k.get("mpi1x8_rss_mb"),
                         k.get("mpi2x8_rss_mb")) if x] or [0]) or None,
        k.get("scaling_marginal"),
    ]
    c0 = load(os.path.join(m, "calib-start.json"))["naive_s"]
    c1 = load(os.path.join(m, "calib-end.json"))["naive_s"]
    load0 = float(open(os.path.join(m, "load-start.txt")).read().split()[0])
    if load0 > meta["nproc"] / 2:
        busy_notes.append("load average %.2f at the start on %d cores" % (load0, meta["nproc"]))
    if max(c0, c1) > 1.25 * min(c0, c1):
        busy_notes.append("calibration loop drifted: %.3f s at the start, %.3f s at the end" % (c0, c1))
    judged = not meta["quick"] and not busy_notes and not failed
    lines += ["", "| target (knee) | measured | limit | verdict |", "| --- | ---: | ---: | --- |"]
    missed = 0
    verdicts = []
    for (name, limit, op), x in zip(TARGETS, measured):
        if x is None:
            verdict = "not measured"
        else:
            ok = x <= limit if op == "<=" else x >= limit
            verdict = ("met" if ok else "MISSED") if judged else ("(would be met)" if ok else "(would be missed)") + " not judged"
            missed += judged and not ok
        verdicts.append({"target": name, "measured": x, "limit": limit, "op": op, "verdict": verdict})
        lines.append("| %s | %s | %s %.2f | %s |" % (name, "%.2f" % x if x is not None else "-", op, limit, verdict))
    results["targets"] = verdicts
    results["judged"] = judged
    results["busy"] = busy_notes
    results["failed"] = sorted(set(failed))
    lines.append("")
    for vol, v in results["volumes"].items():
        def x(key):
            return "%.2fx" % v[key] if v.get(key) else "-"
        io_floor = (v.get("floor_crop_s") or 0) + (v.get("read_warm_s") or 0) + (v.get("write_alone_s") or 0)
        if v.get("write_alone_s") and v.get("run1_per_volume_s"):
            lines.append("%s, not judged: run 1 rank, s per volume of 4 / (crop-aware floor + warm read "
                         "+ write alone) = %.2f." % (vol, v["run1_per_volume_s"] / io_floor))
        if v.get("floor_pair_scaling") or v.get("scaling_end_to_end_x4"):
            lines.append("%s rank scaling, not judged: the bare crop-aware transform in 2 processes at once "
                         "gives %s the throughput of 1 (this machine's ceiling); the work phase of "
                         "8 volumes (run report, busiest rank's busy_seconds) %s; whole 4-volume runs, "
                         "`-np 1` / `-np 2`, %s." % (vol, x("floor_pair_scaling"),
                                                     x("scaling_work_phase_x8"),
                                                     x("scaling_end_to_end_x4")))
    crops = [load(q)["crop_s"] for q in glob.glob(os.path.join(m, "knee-floor*.json"))
             if "floorpair" not in q]
    if len(crops) > 1:
        results["floor_spread"] = max(crops) / min(crops)
        lines.append("knee crop-aware floor over the run: %.3f-%.3f s in %d timings (%.0f %% apart): the "
                     "machine's own drift (the targets compare rows timed close together to keep most of it out)."
                     % (min(crops), max(crops), len(crops), 100 * (max(crops) / min(crops) - 1)))
    if not meta["can_drop_caches"]:
        lines.append("Cold figures: not measured (the page cache cannot be dropped here).")
    if meta["quick"]:
        lines.append("--quick: small volumes, one round; nothing is judged.")
    for n in busy_notes:
        lines.append("machine busy: " + n)
    if failed:
        lines.append("failed runs: " + ", ".join(sorted(set(failed))))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(m, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(m, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    if failed or missed:
        return 1
    if not meta["quick"] and busy_notes:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
