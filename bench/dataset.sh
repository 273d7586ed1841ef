#!/usr/bin/env bash
# What dataset.h5 costs (issue 10): the same benchmark set run with output.dataset on and off, with 1
# and 2 ranks, in turn within one run.
#
#   bench/dataset.sh              8 realistic knee volumes (36 x 15 x 640 x 368), 1 round
#   bench/dataset.sh --quick      8 small volumes (6 x 4 x 640 x 368): checks the benchmark works
#   bench/dataset.sh --rounds N   medians over N rounds
#
# Per rank count: the whole run's wall seconds with and without output.dataset (the "with" run also
# writes the per-volume recon/<name>.h5 the dataset is assembled from), and the dataset phase alone:
# the collective parallel-HDF5 build of dataset.h5 (+ boxes.csv), from the run's own info line
# "dataset.h5 and boxes.csv of N volumes built in S s (R rank(s))", with MB/s of dataset.h5's size.
# The two rank counts must produce the same dataset.h5 (SHA-256 compared; exit 1 otherwise).
# Environment: FMR_BIN (default build/fastmri-regen), FMR_BENCH_TMPDIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=0 rounds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) shift; rounds=$1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench/dataset.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
say() { printf '[dataset-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SOURCE_DATE_EPOCH=946684800
bin=${FMR_BIN:-$here/build/fastmri-regen}
[ -x "$bin" ] || { echo "bench/dataset.sh: no binary $bin (scripts/build.sh, or set FMR_BIN)" >&2; exit 2; }
work=$(mktemp -d "${FMR_BENCH_TMPDIR:-${TMPDIR:-/tmp}}/fmr-dsbench.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "$quick" -eq 1 ]; then coils=4 slices=6; else coils=15 slices=36; fi
# The first 8 names of the real knee list, so the real annotation rows apply (masks, /boxes); one
# synthetic file hard-linked under each name: the same work 8 times, one file's disk.
names=$(tr -d '\r' <"$here/data/fastmri-plus/knee_file_list.csv" | awk 'NF == 1 && $1 !~ / / && k < 8 { print $1; k++ }')
first=$(echo "$names" | head -n 1)
say "synthesising $slices x $coils x 640x368 (8 names)"
"$bin" synth --out "$work/one" --anatomy knee --names "$first" --coils "$coils" --slices "$slices" \
  --size 640x368 --frame 320x320 >"$work/synth.log" 2>&1 || { cat "$work/synth.log" >&2; exit 2; }
mkdir -p "$work/in"
for n in $names; do ln "$work/one/$first.h5" "$work/in/$n.h5"; done
echo "$names" >"$work/list"

run() { # RANKS DATASET(true|false) ROUND -> "wall dataset_seconds dataset_bytes sha"
  local np=$1 ds=$2 r=$3 d=$work/r-$1-$2-$3
  mkdir -p "$d"
  printf 'anatomy: knee\ninput:\n  dirs: [%s]\n  file_list: %s\n  annotations: %s\noutput:\n  dir: out\n  dataset: %s\n' \
    "$work/in" "$work/list" "$here/data/fastmri-plus/knee.csv" "$ds" >"$d/c.yaml"
  cat "$work/in/$first.h5" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  FMR_LOG_LEVEL=info mpirun --oversubscribe -np "$np" "$bin" run "$d/c.yaml" >"$d/log" 2>&1 ||
    { say "run np $np dataset $ds failed:"; tail -5 "$d/log" >&2; exit 1; }
  t1=$(date +%s.%N)
  local s bytes=0 sha=-
  s=$(grep -o 'dataset.h5 and boxes.csv of [0-9]* volumes built in [0-9.]* s' "$d/log" | grep -o 'in [0-9.]*' | cut -c4- || true)
  if [ -f "$d/out/dataset.h5" ]; then
    bytes=$(stat -c %s "$d/out/dataset.h5")
    sha=$(sha256sum "$d/out/dataset.h5" | cut -c1-16)
  fi
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') ${s:--} $bytes $sha"
  rm -rf "$d/out"
}

: >"$work/results"
for r in $(seq 1 "$rounds"); do
  for np in 1 2; do
    for ds in true false; do
      say "round $r: $np rank(s), output.dataset $ds"
      echo "$np $ds $(run "$np" "$ds" "$r")" >>"$work/results"
    done
  done
done
python3 - "$work/results" "$rounds" "$slices" "$coils" <<'EOF'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
rounds, slices, coils = sys.argv[2:]
def med(np, ds, col):
    v = [float(r[col]) for r in rows if r[0] == np and r[1] == ds and r[col] != "-"]
    return st.median(v) if v else float("nan")
print(f"8 knee volumes, {slices} x {coils} x 640 x 368, 2 cores, medians of {rounds} round(s)\n")
print("| ranks | whole run, dataset off (s) | whole run, dataset on (s) | on / off | dataset.h5 build (s) | dataset.h5 MB | build MB/s |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
shas = set()
for np in ("1", "2"):
    off, on, b = med(np, "false", 2), med(np, "true", 2), med(np, "true", 3)
    mb = med(np, "true", 4) / 1e6
    shas |= {r[5] for r in rows if r[0] == np and r[1] == "true"}
    print(f"| {np} | {off:.2f} | {on:.2f} | {on / off:.2f}x | {b:.2f} | {mb:.1f} | {mb / b:.0f} |")
print()
if len(shas) != 1:
    print(f"dataset.h5 differs between runs: {sorted(shas)}")
    sys.exit(1)
print(f"dataset.h5 identical in every run (SHA-256 {shas.pop()}...)")
EOF
