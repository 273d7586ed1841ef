#!/usr/bin/env bash
# fastmri-regen side-by-side benchmark (issue 12): every path on the same volumes, in turn, in one run.
#
#   bench/run.sh              realistic knee (36 x 15 x 640 x 368) + brain (16 x 16 x 640 x 320), 5 rounds (~10 min)
#   bench/run.sh --quick      small volumes (4 coils, few slices), 1 round: checks the benchmark works
#   bench/run.sh --rounds N   N rounds (medians over them)
#   bench/run.sh --keep       keep data and measurements (path printed)
#   bench/run.sh --no-install do not run scripts/install-deps.sh --test --bench first
#
# Per volume, per round, in turn: (a) FFT floors (naive 2-D plan / crop-aware, bench/fftfloor.c;
# the crop-aware one also in two processes at once, and again just before and after the 4-volume
# run), (b) reading the file alone, warm and cold, (c) `run` with 1 rank (1 volume, then (d) the
# Python path (bench/python_path.py), then 4 volumes, warm; 1 volume cold), `mpirun -np 1` and
# `-np 2` (4 and 8 volumes: rank scaling), and `recon`, (e) BART fft/rss/resize with one thread
# from its own format (conversion not timed). Each target is the median over the rounds of its
# ratio within a round. Cold = page cache dropped (echo 3 >
# /proc/sys/vm/drop_caches, root only; otherwise said so and not judged).
# bench/side.py prints the table and ratios, writes results.json, and refuses to judge when the
# machine was busy. Environment: FMR_BIN (default build/fastmri-regen, built by scripts/build.sh
# when absent), FMR_BENCH_TMPDIR.
# Exit status: 0 all judged targets met, 1 a target missed or a run failed, 2 set-up error,
# 3 not judged (machine busy).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=$here/bench
PY=/usr/bin/python3
quick=0 keep=0 rounds=5 install=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; rounds=1 ;;
    --keep) keep=1 ;;
    --no-install) install=0 ;;
    --rounds) shift; rounds=$1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench/run.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "bench/run.sh: $*" >&2; exit 2; }
say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# numpy, h5py, pydicom (the Python path) and BART: installed unless told not to (quick when present).
if [ "$install" -eq 1 ]; then "$here/scripts/install-deps.sh" --test --bench >&2 || die "scripts/install-deps.sh failed"; fi
[ -x "$PY" ] || die "$PY is needed"
command -v bart >/dev/null || say "bart not found (scripts/install-deps.sh --bench installs it): BART rows skipped"
command -v mpirun >/dev/null || die "mpirun not found"
command -v cc >/dev/null || die "cc not found (build-essential)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SOURCE_DATE_EPOCH=946684800
bin=${FMR_BIN:-$here/build/fastmri-regen}
if [ -z "${FMR_BIN:-}" ] && [ ! -x "$bin" ]; then say "no $bin: building it with scripts/build.sh"; "$here/scripts/build.sh" >&2; fi
[ -x "$bin" ] || die "no binary $bin (build it, or set FMR_BIN)"

work=$(mktemp -d "${FMR_BENCH_TMPDIR:-${TMPDIR:-/tmp}}/fmr-side.XXXXXX")
cleanup() { if [ "$keep" -eq 1 ]; then say "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
m=$work/m logs=$work/logs
mkdir -p "$m" "$logs" "$work/data" "$work/cfg"
cc -O2 -std=c11 -o "$work/fftfloor" "$bench/fftfloor.c" -lfftw3f -lm || die "cannot build fftfloor"

can_drop=0
if [ -w /proc/sys/vm/drop_caches ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then can_drop=1; fi
[ "$can_drop" -eq 1 ] || say "cannot drop the page cache here (not root or not permitted): cold figures skipped"
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# The first eight names of the real fastMRI+ file lists, so the real annotation rows apply: the
# first is synthesised, the others are hard links to it (the same work each time, one file's disk).
list_names() { tr -d '\r' <"$here/data/fastmri-plus/$1_file_list.csv" | awk 'NF == 1 && $1 !~ / / && k < 8 { print $1; k++ }'; }
# name anatomy coils slices size(HxW)
if [ "$quick" -eq 1 ]; then
  vols="knee knee 4 6 640x368
brain brain 4 4 640x320"
else
  vols="knee knee 15 36 640x368
brain brain 16 16 640x320"
fi

measure() { # ID CMD... : wall / CPU / peak RSS into $m/ID.<rank>.json
  local id=$1; shift
  "$PY" "$bench/rss.py" "$m/$id" -- "$@" </dev/null >>"$logs/$id.log" 2>&1 || say "$id: failed (see $logs/$id.log)"
}

# The calibration loop: the same fixed FFT work before and after (~0.4 s: a shorter loop drifted
# by more than the 25 % limit on a quiet machine); a drift says the machine changed.
calib() { "$work/fftfloor" 4 256 256 128 64 3 estimate >"$m/calib-$1.json"; }
cat /proc/loadavg >"$m/load-start.txt"
calib start

while read -r name anat coils slices size; do
  H=${size%x*} W=${size#*x}
  d=$work/data/$name d4=$work/data/$name-x4
  names=$(list_names "$anat")
  list=$(echo "$names" | head -n 1)
  say "$name: synthesising $slices x $coils x $size"
  "$bin" synth --out "$d" --anatomy "$anat" --names "$list" --coils "$coils" --slices "$slices" \
    --size "$size" --frame 320x320 >>"$logs/synth.log" 2>&1 || die "synth failed"
  f=$d/$list.h5
  printf '%s\n' "$list" >"$work/cfg/$name.list"
  echo "$names" | head -n 4 >"$work/cfg/$name-x4.list"
  echo "$names" >"$work/cfg/$name-x8.list"
  mkdir -p "$d4"
  for n in $names; do ln "$f" "$d4/$n.h5"; done
  # BART's own format, converted once (not timed): dims W H 1 coils slices, column-major = C order.
  "$PY" - "$f" "$work/bart-$name" <<'EOF'
import sys, h5py, numpy as np
src, dst = sys.argv[1], sys.argv[2]
with h5py.File(src, "r") as f:
    k = f["kspace"][()]
if k.dtype.names:
    k = k["r"] + 1j * k["i"]
k = k.astype(np.complex64)
if k.ndim == 3:
    k = k[:, None]
S, C, H, W = k.shape
open(dst + ".hdr", "w").write("# Dimensions\n%d %d 1 %d %d\n" % (W, H, C, S))
k.tofile(dst + ".cfl")
EOF
  for r in $(seq 1 "$rounds"); do
    say "$name: round $r of $rounds"
    "$work/fftfloor" "$coils" "$H" "$W" 320 "$slices" 3 estimate >"$m/$name-floor-$r.json"
    # The same transforms in two processes at once: what 2 cores give the bare transform here
    # (shared caches and memory bandwidth), the ceiling for rank scaling.
    "$work/fftfloor" "$coils" "$H" "$W" 320 "$slices" 3 estimate >"$m/$name-floorpair-$r.a.json" &
    "$work/fftfloor" "$coils" "$H" "$W" 320 "$slices" 3 estimate >"$m/$name-floorpair-$r.b.json"
    wait
    cat "$f" >/dev/null
    # To /dev/null, not into the log: a copy into a file would time writing 1 GB as well.
    measure "$name-read-warm-$r" sh -c 'cat "$1" >/dev/null' sh "$f"
    if [ "$can_drop" -eq 1 ]; then drop; measure "$name-read-cold-$r" sh -c 'cat "$1" >/dev/null' sh "$f"; fi
    mkcfg() { # CONFIG-NAME DATA-DIR LIST
      printf 'anatomy: %s\ninput:\n  dirs: [%s]\n  file_list: %s\n  annotations: %s\noutput:\n  dir: %s\n' \
        "$anat" "$2" "$3" "$here/data/fastmri-plus/$anat.csv" "$work/out-$1" >"$work/cfg/$1.yaml"
      rm -rf "$work/out-$1"
    }
    # one volume, 1 rank: end to end as a user runs it (process start-up included)
    mkcfg "$name-np1" "$d" "$work/cfg/$name.list"
    cat "$f" >/dev/null
    measure "$name-run1-$r" "$bin" run "$work/cfg/$name-np1.yaml"
    # The Python path next: its target is its ratio to the run just before, seconds apart, so
    # that the machine's drift over a round does not enter it.
    rm -rf "$work/py-$name"
    measure "$name-python-$r" "$PY" "$bench/python_path.py" "$f" "$work/py-$name"
    # Writing alone: as many bytes as that run left in its output directory, to a new file, synced
    # (the run syncs every file it writes). Not in a target; it says what the outputs' bytes cost
    # this machine's page cache and disk by themselves.
    out_mb=$(( $(du -sb "$work/out-$name-np1" | cut -f1) >> 20 ))
    measure "$name-write-$r" dd if=/dev/zero of="$work/write-alone" bs=1M count="$out_mb" conv=fsync status=none
    rm -f "$work/write-alone"
    echo "$out_mb" >"$m/$name-write-$r.mb"
    # four volumes, 1 rank: seconds per volume with start-up amortised
    mkcfg "$name-x4-np1" "$d4" "$work/cfg/$name-x4.list"
    # Its target's floor is timed just before and just after it (one volume's transforms each),
    # and the two averaged: the ratio then compares rows seconds apart, not minutes.
    "$work/fftfloor" "$coils" "$H" "$W" 320 "$slices" 1 estimate >"$m/$name-floorb-$r.a.json"
    measure "$name-run1x4-$r" "$bin" run "$work/cfg/$name-x4-np1.yaml"
    "$work/fftfloor" "$coils" "$H" "$W" 320 "$slices" 1 estimate >"$m/$name-floorb-$r.b.json"
    cp "$work/out-$name-x4-np1/run-report.json" "$m/$name-run1x4-$r.report.json" 2>/dev/null || true
    # Rank scaling: `mpirun -np 1` and `-np 2` (same launcher, one core per rank), four and eight
    # volumes. Eight minus four is the time of four more volumes: the throughput once start-up,
    # the dataset.h5 build and the manifest are paid, which is what a whole dataset sees.
    # In the order 1x4, 2x4, 2x8, 1x8 (A B B A), so that a drift steady over the four runs weighs
    # on the -np 1 and the -np 2 figure about alike.
    for run in "1 4" "2 4" "2 8" "1 8"; do
      read -r np nv <<<"$run"
      mkcfg "$name-x$nv-mpi$np" "$d4" "$work/cfg/$name-x$nv.list"
      mpirun --oversubscribe -np "$np" "$PY" "$bench/rss.py" "$m/$name-mpi${np}x$nv-$r" -- "$bin" run \
        "$work/cfg/$name-x$nv-mpi$np.yaml" </dev/null >>"$logs/$name-mpi${np}x$nv.log" 2>&1 ||
        say "$name run -np $np, $nv volumes failed"
      cp "$work/out-$name-x$nv-mpi$np/run-report.json" "$m/$name-mpi${np}x$nv-$r.report.json" 2>/dev/null || true
      rm -rf "$work/out-$name-x$nv-mpi$np"
    done
    if [ "$can_drop" -eq 1 ]; then
      rm -rf "$work/out-$name-np1"
      drop
      measure "$name-run1cold-$r" "$bin" run "$work/cfg/$name-np1.yaml"
    fi
    cat "$f" >/dev/null
    rm -f "$work/recon.h5"
    FMR_LOG_LEVEL=info measure "$name-recon-$r" "$bin" recon "$f" "$work/recon.h5"
    grep -o 'seconds: .*' "$logs/$name-recon-$r.log" | tail -1 >"$m/$name-recon-$r.stages" || true
    if command -v bart >/dev/null; then
      b=$work/bart-$name
      OMP_NUM_THREADS=1 measure "$name-bart-fft-$r" bart fft -i -u 3 "$b" "$b-img"
      OMP_NUM_THREADS=1 measure "$name-bart-rss-$r" bart rss 8 "$b-img" "$b-rss"
      OMP_NUM_THREADS=1 measure "$name-bart-resize-$r" bart resize -c 0 320 1 320 "$b-rss" "$b-crop"
      rm -f "$b-img".* "$b-rss".* "$b-crop".*
    fi
  done
  rm -rf "$d" "$d4" "$work/bart-$name".*
done <<<"$vols"

calib end
cat /proc/loadavg >"$m/load-end.txt"
cat >"$m/meta.json" <<EOF
{"quick": $quick, "rounds": $rounds, "nproc": $(nproc), "can_drop_caches": $can_drop,
 "commit": "$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)",
 "date": "$(date -u +%Y-%m-%dT%H:%MZ)", "cpu": "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"}
EOF
rc=0
"$PY" "$bench/side.py" "$m" || rc=$?
exit "$rc"
