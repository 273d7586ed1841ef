#!/usr/bin/env bash
# fastmri-regen benchmark: speed and memory targets (README.md here explains each number).
#
#   bench/scaling.sh            real-size knee (15 coils, 640 x 368, 36 slices, ~1 GB a file) + brain
#   bench/scaling.sh --quick    4-coil volumes, 2 knee + 2 brain: under a minute
#   bench/scaling.sh --keep     keep the synthetic data, outputs and measurements (path printed)
#
# Environment: FMR_BIN (binary; default build/fastmri-regen, built with scripts/build.sh when
# absent), FMR_BENCH_TMPDIR (where the data goes; default $TMPDIR or /tmp), FMR_BENCH_KNEE_COUNT
# (real-size knee volumes; default 10, lowered to fit the free disk space).
# Exit status: 0 every target met, 1 a target missed (or a run failed), 2 usage/set-up error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=$here/bench
PY=/usr/bin/python3

quick=0
keep=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench/scaling.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "bench/scaling.sh: $*" >&2; exit 2; }
say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ -x "$PY" ] || die "$PY is needed for the measurements (apt-get install python3)"
command -v mpirun >/dev/null || die "mpirun not found (scripts/install-deps.sh)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export FMR_LOG_LEVEL=${FMR_LOG_LEVEL:-warn}
# Outputs must not depend on the clock; pin it so reruns of the bench compare like with like.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-946684800}

if [ -n "${FMR_BIN:-}" ]; then
  bin=$FMR_BIN
  [ -x "$bin" ] || die "FMR_BIN=$bin is not an executable"
else
  bin=$here/build/fastmri-regen
  if [ ! -x "$bin" ]; then
    say "no $bin: building it with scripts/build.sh"
    "$here/scripts/build.sh" >&2
  fi
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# ---- sizes ------------------------------------------------------------------------------------
if [ "$quick" -eq 1 ]; then
  mode=quick; kcoils=4; kcount=2; bcoils=4; bcount=2
else
  mode=full; kcoils=15; kcount=${FMR_BENCH_KNEE_COUNT:-10}; bcoils=16; bcount=2
fi
kslices=36; kslices_small=12; bslices=16
ksize=640x368; bsize=640x320; frame=320x320
# complex64 bytes of one volume, plus ~2% for the stored reconstruction and the header
kbytes=$(( kslices * kcoils * 640 * 368 * 8 * 102 / 100 ))
bbytes=$(( bslices * bcoils * 640 * 320 * 8 * 102 / 100 ))

tmproot=${FMR_BENCH_TMPDIR:-${TMPDIR:-/tmp}}
mkdir -p "$tmproot"
work=$(mktemp -d "$tmproot/fmr-bench.XXXXXX")
cleanup() {
  if [ "$keep" -eq 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free disk: every file of the dataset plus the 12-slice twin, outputs (~2% of the input) and 1 GiB.
avail=$(( $(df -Pk "$work" | awk 'NR == 2 {print $4}') * 1024 ))
fixed=$(( bcount * bbytes + kbytes * kslices_small / kslices + (1 << 30) ))
fit=$(( (avail - fixed) * 100 / 103 / kbytes ))
if [ "$fit" -lt "$kcount" ]; then
  [ "$fit" -ge 2 ] || die "only $((avail >> 20)) MiB free under $tmproot; need $(( (fixed + 2 * kbytes * 103 / 100) >> 20 )) MiB (set FMR_BENCH_TMPDIR)"
  say "only $((avail >> 20)) MiB free: $fit knee volumes instead of $kcount"
  kcount=$fit
fi

data=$work/data; cfg=$work/cfg; out=$work/out; m=$work/m; logs=$work/logs
mkdir -p "$data/knee" "$data/knee12" "$data/brain" "$data/tiny" "$cfg" "$out" "$m" "$logs"

# Names from the real fastMRI+ lists, so the real annotation rows (and masks) apply.
list_names() { tr -d '\r' <"$1" | awk -v n="$2" 'NF == 1 && $1 !~ / / && k < n { print $1; k++ }'; }
knee_names=$(list_names "$here/data/fastmri-plus/knee_file_list.csv" "$kcount")
brain_names=$(list_names "$here/data/fastmri-plus/brain_file_list.csv" "$bcount")
first_knee=$(echo "$knee_names" | head -n 1)
echo "$knee_names" >"$cfg/knee.list"
echo "$brain_names" >"$cfg/brain.list"
echo "$first_knee" >"$cfg/one.list"

# config NAME ANATOMY DIR LIST
config() {
  cat >"$cfg/$1.yaml" <<EOF
anatomy: $2
input:
  dirs: [$3]
  file_list: $4
  annotations: $here/data/fastmri-plus/$2.csv
output:
  dir: $out/$1
EOF
}
config knee-np1 knee "$data/knee" "$cfg/knee.list"
config knee-np2 knee "$data/knee" "$cfg/knee.list"
config knee-np3 knee "$data/knee" "$cfg/knee.list"
config brain-np1 brain "$data/brain" "$cfg/brain.list"
config brain-np2 brain "$data/brain" "$cfg/brain.list"
config brain-np3 brain "$data/brain" "$cfg/brain.list"
config vol36 knee "$data/knee" "$cfg/one.list"
config vol12 knee "$data/knee12" "$cfg/one.list"
config base-np1 knee "$data/tiny" "$cfg/one.list"
config base-np2 knee "$data/tiny" "$cfg/one.list"
config perf knee "$data/knee" "$cfg/one.list"

# measure ID CMD...: one rank, wall/CPU/peak RSS into $m/ID.0.json, stderr into $logs/ID.log
measure() {
  local id=$1; shift
  local rc=0
  "$PY" "$bench/rss.py" "$m/$id" -- "$@" >>"$logs/$id.log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || say "$id: exit status $rc (see $logs/$id.log)"
}
# run_np ID NP: fastmri-regen run under mpirun with NP ranks, each rank measured
run_np() {
  local id=$1 np=$2 rc=0
  local extra=()
  [ "$np" -le "$(nproc)" ] || extra+=(--oversubscribe)
  if [ "$np" -eq 1 ]; then
    measure "$id" "$bin" run "$cfg/$id.yaml"
    return
  fi
  mpirun "${extra[@]}" -np "$np" "$PY" "$bench/rss.py" "$m/$id" -- "$bin" run "$cfg/$id.yaml" \
    >>"$logs/$id.log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || say "$id: exit status $rc (see $logs/$id.log)"
}

load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  say "note: load average $load on $(nproc) cores: other work will inflate the wall-clock figures"
fi
say "$mode: $kcount knee x $kcoils coils x $kslices slices ($ksize), $bcount brain x $bcoils coils x $bslices slices ($bsize), in $work"
say "binary $bin"

# ---- 1. synthesise ----------------------------------------------------------------------------
say "synthesising"
measure synth-knee "$bin" synth --out "$data/knee" --anatomy knee --names "$(paste -sd, "$cfg/knee.list")" \
  --coils "$kcoils" --slices "$kslices" --size "$ksize" --frame "$frame"
measure synth-brain "$bin" synth --out "$data/brain" --anatomy brain \
  --names "$(paste -sd, "$cfg/brain.list")" --coils "$bcoils" --slices "$bslices" --size "$bsize" \
  --frame "$frame"
# The same volume with a third of the slices: only the output stack may grow with the slice count.
measure synth-knee12 "$bin" synth --out "$data/knee12" --anatomy knee --names "$first_knee" \
  --coils "$kcoils" --slices "$kslices_small" --size "$ksize" --frame "$frame"
# A tiny volume: the baseline RSS (libraries, MPI, annotation tables) of a run.
measure synth-tiny "$bin" synth --out "$data/tiny" --anatomy knee --names "$first_knee" \
  --coils 1 --slices 2 --size 64x64 --frame 32x32

# ---- 2. measure ---------------------------------------------------------------------------------
say "baseline runs (tiny volume)"
run_np base-np1 1
run_np base-np2 2
say "recon of one knee volume (estimate, then patient planning)"
measure recon "$bin" recon "$data/knee/$first_knee.h5" "$work/recon.h5"
measure recon-patient "$bin" recon --fft-effort patient "$data/knee/$first_knee.h5" "$work/recon-p.h5"
rm -f "$work/recon.h5" "$work/recon-p.h5"
say "one-volume runs: $kslices and $kslices_small slices"
run_np vol36 1
run_np vol12 1
for np in 1 2 3; do
  say "knee run, $np rank(s)"
  run_np "knee-np$np" "$np"
done
for np in 1 2 3; do
  say "brain run, $np rank(s)"
  run_np "brain-np$np" "$np"
done

# Profile of one 1-rank volume run: software counters only (VMs rarely expose hardware ones).
perf_state=skipped
if command -v perf >/dev/null && perf stat -e task-clock -o /dev/null true >/dev/null 2>&1; then
  say "perf stat + perf record of the one-volume run"
  rm -rf "$out/perf"
  if perf stat -x, -o "$m/perf-stat.csv" -e task-clock,context-switches,cpu-migrations,page-faults \
      -- "$bin" run "$cfg/perf.yaml" >>"$logs/perf.log" 2>&1; then
    perf_state=ok
    rm -rf "$out/perf"
    if perf record -q -e cpu-clock -F 499 -o "$work/perf.data" -- "$bin" run "$cfg/perf.yaml" \
        >>"$logs/perf.log" 2>&1; then
      perf report -i "$work/perf.data" --stdio --sort dso 2>/dev/null >"$m/perf-dso.txt" || true
      perf report -i "$work/perf.data" --stdio --sort dso,sym 2>/dev/null >"$m/perf-sym.txt" || true
    fi
    rm -f "$work/perf.data"
  fi
fi

commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git -C "$here" status --porcelain -- src include CMakeLists.txt 2>/dev/null)" ]; then
  commit="$commit+local changes"
fi
cat >"$m/meta.json" <<EOF
{"mode": "$mode", "knee_count": $kcount, "knee_coils": $kcoils, "knee_slices": $kslices,
 "knee_slices_small": $kslices_small, "brain_count": $bcount, "brain_coils": $bcoils,
 "brain_slices": $bslices, "nproc": $(nproc), "perf": "$perf_state", "bin": "$bin",
 "work": "$work", "first_knee": "$first_knee", "commit": "$commit",
 "date": "$(date -u +%Y-%m-%d)", "cpu": "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)",
 "mem_gb": $(awk '/^MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)}
EOF

# ---- 3./4. report and judge ---------------------------------------------------------------------
rc=0
"$PY" "$bench/analyze.py" "$work" || rc=$?
if [ "$rc" -ne 0 ] && [ "$keep" -eq 0 ]; then say "rerun with --keep to keep the logs in $logs"; fi
exit "$rc"
