#!/usr/bin/env bash
# Build the libFuzzer targets (clang-14, ASan + UBSan) and run each for a bounded time.
#
#   scripts/fuzz.sh [--seconds N] [--jobs N] [--build DIR] [--no-build] [TARGET...]
#
# TARGETs: config annotations filelist header kspace (default: all). Each target starts from its
# committed seeds (tests/fuzz/corpus/<t>) and regressions (tests/fuzz/regressions/<t>) and keeps
# what it learns in DIR/fuzz-corpus/<t>, so a later run (for hours: --seconds 14400) goes on from
# there. A crash, leak, UBSan report or timeout leaves its input in DIR/fuzz-artifacts/<t>/ and
# makes the script exit 1; commit that input under tests/fuzz/regressions/<t>/ with the fix.
# Prints the executions per target. Exit status: 0 clean, 1 a target failed, 2 usage/build.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
seconds=60
jobs=2
build=${FMR_FUZZ_BUILD:-/tmp/build-fmr-fuzz}
do_build=1
targets=()
all=(config annotations filelist header kspace)

while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  case " ${all[*]} " in *" $t "*) ;; *) echo "fuzz.sh: no target '$t' (${all[*]})" >&2; exit 2 ;; esac
done

if [ "$do_build" = 1 ]; then
  if ! command -v clang-14 >/dev/null; then
    echo "fuzz.sh: needs clang-14, libclang-rt-14-dev and libfuzzer-14-dev (scripts/install-deps.sh --test)" >&2
    exit 2
  fi
  CC=clang-14 CXX=clang++-14 cmake -S "$src" -B "$build" -DFMR_FUZZ=ON -DFMR_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
  fuzzers=()
  for t in "${targets[@]}"; do fuzzers+=(--target "fuzz_$t"); done
  cmake --build "$build" -j"$jobs" "${fuzzers[@]}" >/dev/null || { echo "fuzz.sh: build failed" >&2; exit 2; }
fi

# Leaks are findings; so is any UBSan report. HDF5 leaks on the error paths of corrupt files and
# Open MPI once per process: tests/fuzz/lsan.supp suppresses those, never our code.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# Where a finding happened: "ours" when the first frame outside the sanitizer and libFuzzer
# runtimes is in our sources, "hdf5" when it is inside libhdf5 (a library fault on a hostile file:
# what fmr_kspace_probe contains in a run), "unknown" otherwise.
classify() {
  local frame
  frame=$(grep -E '^ +#[0-9]+ ' "$1" | grep -E 'libhdf5|'"$src"'/(src|tests)/' | head -1)
  case "$frame" in
    *libhdf5*) echo hdf5 ;;
    "") echo unknown ;;
    *) echo ours ;;
  esac
}

# One target for `seconds` in all. A fault inside HDF5 is kept under fuzz-artifacts/<t>/hdf5/ and
# fuzzing resumes for the time left; any other finding ends the target as a failure.
run_one() {
  local t=$1 bin="$build/tests/fuzz/fuzz_$1"
  local work="$build/fuzz-corpus/$t" art="$build/fuzz-artifacts/$t/" logs="$build/fuzz-logs"
  mkdir -p "$work" "$art/hdf5" "$logs"
  [ -x "$bin" ] || { echo "fuzz.sh: $bin is missing (run without --no-build)" >&2; return 2; }
  # HDF5 hangs on some corrupt files (each costs the timeout); our own parsers take microseconds.
  local timeout=5
  [ "$t" != kspace ] || timeout=2
  local end=$(( $(date +%s) + seconds )) total=0 round=0 rc=0 library=0 verdict=ok
  while :; do
    local left=$(( end - $(date +%s) ))
    [ "$left" -gt 0 ] || break
    round=$((round + 1))
    local log="$logs/$t.$round.log"
    rc=0
    "$bin" -max_total_time="$left" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$art" "$work" "$src/tests/fuzz/corpus/$t" "$src/tests/fuzz/regressions/$t" \
      >"$log" 2>&1 || rc=$?
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    total=$((total + ${execs:-0}))
    [ "$rc" = 0 ] && break
    local found
    found=$(ls -t "$art" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | head -1)
    if [ -n "$found" ] && [ "$(classify "$log")" = hdf5 ]; then
      mv "$art/$found" "$art/hdf5/"
      library=$((library + 1))
      continue
    fi
    verdict=failed
    echo "fuzz $t: FAILED (status $rc) after $total executions; input: ${found:+$art$found}"
    grep -m3 -E "ERROR: |runtime error|SUMMARY" "$log" | sed 's/^/  /' || true
    echo "  log: $log"
    break
  done
  if [ "$verdict" = ok ]; then
    local lib=""
    [ "$library" = 0 ] || lib=", $library HDF5 library fault(s) kept in ${art}hdf5/"
    echo "fuzz $t: ok, $total executions in $seconds s, corpus $(ls "$work" | wc -l) inputs$lib"
    return 0
  fi
  return 1
}

status=0
pids=()
names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
